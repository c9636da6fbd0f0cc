"""Reading small YAML files (specs, records specs) safely: UTF-8 only, bounded in size and
in alias expansion, duplicate keys refused, nothing executed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import SpecError

__all__ = ["MAX_SPEC_BYTES", "MAX_SPEC_NODES", "read_yaml"]


#: The largest spec file read, in bytes (a spec is a page or two of YAML).
MAX_SPEC_BYTES = 1_000_000
#: The most YAML nodes a spec may expand to once aliases are followed (the largest
#: synthetic spec has a few hundred); a "billion laughs" document expands to 10**9.
MAX_SPEC_NODES = 100_000


class _BoundedLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses, before anything is built, documents whose aliases
    expand beyond :data:`MAX_SPEC_NODES` nodes or refer to themselves, and mappings with a
    key twice (plain PyYAML keeps the last silently)."""

    def compose_document(self):  # noqa: D102 - PyYAML's hook
        node = super().compose_document()
        sizes: dict[int, int] = {}
        _expanded_size(node, sizes, set())
        return node


def _expanded_size(node, sizes: dict[int, int], open_: set[int]) -> int:
    """The number of nodes ``node`` stands for with every alias followed (memoised, so the
    walk is linear in the document's size however deep the aliases nest)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise _TooBig("an alias refers to the node that contains it")
    open_.add(key)
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
        seen: set[str] = set()
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    raise _TooBig(f"the key '{k.value}' appears twice in one mapping (again "
                                  f"at line {k.start_mark.line + 1}), and only one would be "
                                  "used", fix="write each key once")
                seen.add(k.value)
    else:
        children = []
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, open_)
        if total > MAX_SPEC_NODES:
            raise _TooBig(f"its aliases expand to more than {MAX_SPEC_NODES:,} values")
    open_.discard(key)
    sizes[key] = total
    return total


class _TooBig(Exception):
    """A YAML document refused before it is built: too large once expanded, recursive, or
    with a key twice in one mapping (internal; becomes a SpecError with ``fix``)."""

    def __init__(self, message: str, fix: str = "write the values out instead of nesting "
                 "aliases ('*name')"):
        super().__init__(message)
        self.fix = fix


def read_yaml(path: Path, *, what: str = "spec") -> Any:
    """Read a small YAML file safely: UTF-8 only, at most :data:`MAX_SPEC_BYTES` bytes and
    :data:`MAX_SPEC_NODES` nodes once aliases are expanded; nothing in it is executed.

    Raises
    ------
    SpecError
        Naming the file, for a file too large, not UTF-8, not valid YAML, or whose aliases
        expand too far (a "billion laughs" document is refused in milliseconds).
    """
    file = str(path)
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError(f"the {what} is {size:,} bytes, more than the {MAX_SPEC_BYTES:,} a "
                        f"{what} may be", file=file, fix="a spec names data files; put tables "
                        "in those files, not in the spec")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SpecError(f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})",
                        file=file, fix="save the file as UTF-8 (most editors offer it under "
                        "'Save as' or 'Encoding')") from None
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise SpecError("is refused: it nests lists or mappings too deeply", file=file,
                        fix="a spec nests a few levels at most; check the brackets") from None
    except _TooBig as exc:
        raise SpecError(f"is refused: {exc}", file=file, fix=exc.fix) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(f"is not valid YAML{where}: {getattr(exc, 'problem', exc)}", file=file,
                        fix="check indentation (spaces, not tabs) and quoting") from None
