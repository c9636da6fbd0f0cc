"""Reading Quarto documents: YAML front matter, Markdown, and ``{python}`` chunks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import EvalkitError

__all__ = ["Cell", "QmdDocument", "parse_qmd", "RenderError"]


class RenderError(EvalkitError):
    """A report could not be rendered (bad source, failing chunk, converter error)."""

    log: str = ""


_FENCE = re.compile(r"^```\{python([^}]*)\}\s*$")
_OPTION = re.compile(r"^#\|\s?(.*)$")


@dataclass
class Cell:
    """A Markdown block or a code chunk with its ``#|`` options."""

    kind: str  # "markdown" or "code"
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    line: int = 0

    @property
    def label(self) -> str | None:
        return self.options.get("label")

    @property
    def is_parameters(self) -> bool:
        tags = self.options.get("tags") or []
        return "parameters" in (tags if isinstance(tags, list) else [tags])


@dataclass
class QmdDocument:
    """A parsed ``.qmd`` file."""

    path: Path
    front_matter: dict[str, Any]
    cells: list[Cell]


def parse_qmd(path: str | Path) -> QmdDocument:
    """Parse a Quarto document.

    Parameters
    ----------
    path
        The ``.qmd`` file.

    Returns
    -------
    QmdDocument
        Front matter and cells; code chunks carry their ``#|`` options (YAML).

    Raises
    ------
    RenderError
        If the file is missing, the front matter or an option block is not YAML, or a
        chunk is not closed.
    """
    path = Path(path)
    if not path.is_file():
        raise RenderError("report source not found", file=str(path),
                          fix="give the path of a .qmd file")
    lines = path.read_text(encoding="utf-8").splitlines()
    front: dict[str, Any] = {}
    i = 0
    if lines and lines[0].strip() == "---":
        try:
            end = next(j for j in range(1, len(lines)) if lines[j].strip() == "---")
        except StopIteration:
            raise RenderError("the YAML front matter is not closed with ---", file=str(path),
                              fix="end the front matter with a line of ---") from None
        try:
            front = yaml.safe_load("\n".join(lines[1:end])) or {}
        except yaml.YAMLError as exc:
            raise RenderError(f"the front matter is not valid YAML: {exc}", file=str(path),
                              fix="check its indentation") from None
        i = end + 1
    cells: list[Cell] = []
    buffer: list[str] = []
    start_line = i + 1
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            buffer.append(lines[i])
            i += 1
            continue
        if "".join(buffer).strip():
            cells.append(Cell("markdown", "\n".join(buffer).strip("\n"), line=start_line))
        buffer = []
        chunk_line = i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        if i >= len(lines):
            raise RenderError(f"the code chunk starting at line {chunk_line} is not closed",
                              file=str(path), fix="end it with a line of ```")
        i += 1
        opts_text, code = [], []
        for j, line in enumerate(body):
            om = _OPTION.match(line)
            if om and not code:
                opts_text.append(om.group(1))
            else:
                code = body[j:]
                break
        try:
            options = yaml.safe_load("\n".join(opts_text)) or {} if opts_text else {}
        except yaml.YAMLError as exc:
            raise RenderError(f"chunk options at line {chunk_line} are not valid YAML: {exc}",
                              file=str(path), fix="write options as `#| key: value`") from None
        cells.append(Cell("code", "\n".join(code).strip("\n"), options, chunk_line))
        start_line = i + 1
    if "".join(buffer).strip():
        cells.append(Cell("markdown", "\n".join(buffer).strip("\n"), line=start_line))
    return QmdDocument(path.resolve(), front, cells)
