"""Reading Quarto documents: YAML front matter, Markdown, and ``{python}`` chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from nbformat import NotebookNode

from evalkit.report.render.errors import RenderError

__all__ = ["Cell", "QmdDocument", "ExecutedDocument", "parse_qmd"]

_CHUNK = re.compile(r"^(?P<fence>`{3,})\s*\{(?P<lang>[A-Za-z][\w-]*)(?P<rest>[^}]*)\}\s*$")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})")
_OPTION = re.compile(r"^#\|\s?(.*)$")


@dataclass
class Cell:
    """A Markdown block or a ``{python}`` chunk of a Quarto document.

    Attributes
    ----------
    kind
        ``"markdown"`` or ``"code"``.
    source
        The text; for a chunk, the code without its ``#|`` option lines.
    options
        The chunk's ``#|`` options, parsed as YAML (empty for Markdown).
    line
        The line of the document where the block or chunk starts (1-based).
    number
        For a chunk, its position among the document's chunks (1-based); else 0.
    """

    kind: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0
    number: int = 0

    @property
    def label(self) -> str | None:
        """The chunk's ``label`` option, if any."""
        label = self.options.get("label")
        return None if label is None else str(label)

    @property
    def tags(self) -> list[str]:
        """The chunk's ``tags`` option as a list."""
        tags = self.options.get("tags") or []
        return [str(t) for t in (tags if isinstance(tags, list) else [tags])]

    @property
    def is_parameters(self) -> bool:
        """True for the chunk tagged ``parameters``."""
        return "parameters" in self.tags

    def describe(self) -> str:
        """Name the chunk for a message, e.g. ``"chunk 3 'fig-effects' (line 40)"``."""
        label = f" '{self.label}'" if self.label else ""
        return f"chunk {self.number}{label} (line {self.line})"


@dataclass
class QmdDocument:
    """A parsed ``.qmd`` file.

    Attributes
    ----------
    path
        The absolute path of the file.
    front_matter
        The YAML front matter (empty if there is none).
    cells
        Markdown blocks and code chunks, in order.
    """

    path: Path
    front_matter: dict[str, Any]
    cells: list[Cell]

    @property
    def code_cells(self) -> list[Cell]:
        """The code chunks, in order."""
        return [c for c in self.cells if c.kind == "code"]

    def option(self, cell: Cell, key: str, default: Any = None) -> Any:
        """A chunk option: the chunk's own, else the front matter's ``execute:``, else default.

        Parameters
        ----------
        cell
            The chunk.
        key
            The option, e.g. ``echo``, ``eval``, ``output``, ``warning``, ``include``.
        default
            Quarto's default for the option.
        """
        if key in cell.options:
            return cell.options[key]
        execute = self.front_matter.get("execute")
        if isinstance(execute, dict) and key in execute:
            return execute[key]
        return default


def _front_matter(lines: list[str], path: Path) -> tuple[dict[str, Any], int]:
    if not lines or lines[0].strip() != "---":
        return {}, 0
    end = next((j for j in range(1, len(lines)) if lines[j].strip() in ("---", "...")), None)
    if end is None:
        raise RenderError("the YAML front matter is not closed", file=str(path),
                          fix="end the front matter with a line of ---")
    try:
        front = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise RenderError(f"the front matter is not valid YAML ({_one_line(exc)})",
                          file=str(path), fix="check its indentation and quoting") from None
    if not isinstance(front, dict):
        raise RenderError("the front matter is not a set of `key: value` pairs",
                          file=str(path), fix="write the front matter as YAML keys")
    return front, end + 1


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _options(body: list[str], line: int, path: Path) -> tuple[dict[str, Any], list[str]]:
    n = 0
    while n < len(body) and _OPTION.match(body[n]):
        n += 1
    text = "\n".join(_OPTION.match(x).group(1) for x in body[:n])
    try:
        options = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise RenderError(f"the options of the chunk at line {line} are not valid YAML "
                          f"({_one_line(exc)})", file=str(path),
                          fix="write options as `#| key: value`") from None
    if not isinstance(options, dict):
        raise RenderError(f"the options of the chunk at line {line} are not `key: value` "
                          "pairs", file=str(path), fix="write options as `#| key: value`")
    return options, body[n:]


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing a fence opened just before ``start``, or -1."""
    pattern = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    return next((j for j in range(start, len(lines)) if pattern.match(lines[j])), -1)


def parse_qmd(path: str | Path) -> QmdDocument:
    """Parse a Quarto document.

    Parameters
    ----------
    path
        The ``.qmd`` file.

    Returns
    -------
    QmdDocument
        Front matter and cells; code chunks carry their ``#|`` options (YAML) and their
        code without the option lines.

    Raises
    ------
    RenderError
        If the file is missing, the front matter or an option block is not YAML, a fence
        is not closed, or a chunk is in a language other than Python.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise RenderError("report source not found", file=str(path),
                          fix="give the path of a .qmd file")
    lines = path.read_text(encoding="utf-8").splitlines()
    front, i = _front_matter(lines, path)
    cells: list[Cell] = []
    buffer: list[str] = []
    buffer_line = i + 1

    def flush(next_line: int) -> None:
        nonlocal buffer, buffer_line
        if "".join(buffer).strip():
            cells.append(Cell("markdown", "\n".join(buffer).strip("\n"), line=buffer_line))
        buffer, buffer_line = [], next_line

    while i < len(lines):
        chunk = _CHUNK.match(lines[i])
        fence = chunk or _FENCE.match(lines[i])
        if not fence:
            buffer.append(lines[i])
            i += 1
            continue
        end = _closing(lines, i + 1, fence.group("fence"))
        if end < 0:
            raise RenderError(f"the fenced block at line {i + 1} is not closed",
                              file=str(path), fix=f"end it with a line of {fence.group('fence')}")
        if not chunk:  # plain or raw fenced block: part of the Markdown
            buffer.extend(lines[i:end + 1])
            i = end + 1
            continue
        if chunk.group("lang").lower() != "python":
            raise RenderError(f"the chunk at line {i + 1} is in '{chunk.group('lang')}'; only "
                              "{python} chunks can run", file=str(path),
                              fix="use Python chunks (jupyter: python3)")
        flush(end + 2)
        options, code = _options(lines[i + 1:end], i + 1, path)
        number = sum(c.kind == "code" for c in cells) + 1
        cells.append(Cell("code", "\n".join(code).strip("\n"), options, i + 1, number))
        i = end + 1
    flush(i + 1)
    return QmdDocument(path, front, cells)


@dataclass
class ExecutedDocument:
    """A document after its one execution, ready to convert to any format.

    Attributes
    ----------
    document
        The parsed source.
    markdown
        The Pandoc Markdown body (no front matter), cross-references resolved.
    files
        The image files the Markdown refers to, by file name.
    params
        The parameters it ran with.
    notebook
        The executed notebook (outputs included).
    """

    document: QmdDocument
    markdown: str
    files: dict[str, bytes] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    notebook: NotebookNode | None = None

    @property
    def front_matter(self) -> dict[str, Any]:
        """The source's front matter."""
        return self.document.front_matter
