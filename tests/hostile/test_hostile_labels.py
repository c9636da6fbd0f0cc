"""Labels from a spec are drawn as text in figures, never parsed as matplotlib mathtext.

A label such as ``$\\frac{a}{$`` used to make ``evalkit run`` fail while saving the figure
(mathtext parse error), and ``$x^2$`` was drawn as a formula instead of as typed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from evalkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCHEME = ROOT / "data" / "synthetic" / "rapid-response"
LABEL = r"A&E $\frac{a}{$ and $x^2$"


@pytest.fixture
def hostile_label_scheme(tmp_path: Path) -> Path:
    folder = tmp_path / "rapid-response"
    shutil.copytree(SCHEME, folder)
    spec = yaml.safe_load((folder / "spec.yaml").read_text(encoding="utf-8"))
    first = next(iter(spec["outcomes"]))
    spec["outcomes"][first]["label"] = LABEL
    # One analysis is enough to draw the labelled figures.
    spec["analyses"] = [a for a in spec["analyses"] if first in a.get("outcomes", [])][:2]
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return folder


def test_run_draws_a_malformed_math_label_as_text(hostile_label_scheme: Path, capsys):
    """Expect exit 0, figures written, and the label in the alt text exactly as typed."""
    out = hostile_label_scheme.parent / "out"
    code = main(["--quiet", "run", str(hostile_label_scheme / "spec.yaml"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    alts = json.loads((out / "figures" / "alt-text.json").read_text(encoding="utf-8"))
    assert alts and any(LABEL in alt for alt in alts.values())
    svgs = list((out / "figures").glob("*.svg"))
    assert svgs
    # Drawn as typed: the dollar signs are glyphs in the SVG's text, not a formula.
    assert any("$" in p.read_text(encoding="utf-8") or "dollar" in p.read_text(encoding="utf-8")
               for p in svgs)
