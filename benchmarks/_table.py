"""Write a benchmark's table into its own section of docs/benchmarks.md."""

from __future__ import annotations

import platform
import re
from datetime import date
from pathlib import Path

import pandas as pd

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = ("# Benchmarks\n\nEach section is written by the script named in it, which times "
          "evalkit and its peers in the same run. Tests never assert wall-clock times.\n")


def write_section(title: str, table: pd.DataFrame, notes: str, doc: Path = DOC) -> str:
    """Replace (or add) the section ``## title`` of ``doc`` and return its text."""
    import os
    import sys

    script = Path(sys.argv[0]).name

    machine = f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    body = (f"## {title}\n\nWritten by `benchmarks/{script}`. {notes}\n\n"
            f"{table.to_markdown(index=False)}\n\n"
            f"_Run on {date.today().isoformat()}, {machine}._\n")
    text = doc.read_text(encoding="utf-8") if doc.exists() else HEADER
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: body + "\n", text) if pattern.search(text) \
        else text.rstrip("\n") + "\n\n" + body
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(text, encoding="utf-8")
    return body
