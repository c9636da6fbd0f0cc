"""The design advisor (``evalkit advise``, ``ek.advise``): designs the data support, why,
the threats each leaves (selection at a peak checked on the data) and a recommendation."""

from __future__ import annotations

from pathlib import Path

import pytest

import evalkit as ek
from evalkit.cli import main

ROOT = Path(__file__).resolve().parents[2] / "data" / "synthetic"


def _option(advice, design_key):
    return next(o for o in advice.options if o.key == design_key)


def test_staggered_waves_recommend_staggered_did():
    advice = ek.advise(ROOT / "federation-mdt")
    assert advice.primary.design == "staggered_did"
    facts = " ".join(advice.primary.facts)
    assert "start dates differ across 3 waves (2019-04, 2020-10, 2022-01)" in facts
    # a single-start design is not offered for a staggered roll-out
    assert not _option(advice, "its_controlled").possible


def test_one_treated_locality_recommends_synthetic_control():
    advice = ek.advise(ROOT / "virtual-wards")
    assert advice.primary.design == "synthetic_control"
    assert "one treated locality ('L00 (scheme)') and 30 donors" in advice.primary.facts[0]
    secondary = {o.design for o in advice.secondary}
    assert {"its", "matched"} <= secondary


def test_single_start_with_comparison_recommends_controlled_its():
    advice = ek.advise(ROOT / "dementia-service")
    assert advice.primary.key == "its_controlled"
    assert advice.primary.facts[0].startswith(
        "25 scheme practices and 45 others with 54 months before the start: controlled ITS "
        "and DiD are possible")
    assert not _option(advice, "synthetic_control").possible
    assert not _option(advice, "staggered_did").possible


def test_selection_at_a_peak_is_checked_on_the_data():
    """frailty-inequalities started with the practices whose admissions had peaked."""
    advice = ek.advise(ROOT / "frailty-inequalities")
    its = _option(advice, "its_controlled")
    assert its.selection is not None and its.selection.fired
    assert any("chosen at a peak" in t for t in its.threats_checked)
    frame = advice.to_frame()
    row = frame.loc[frame["design"].eq("its") & frame["role"].eq("primary")].iloc[0]
    assert row["selection_at_peak"] is True or row["selection_at_peak"] == True  # noqa: E712
    assert "chosen at a peak" in row["leaves"]
    calm = _option(ek.advise(ROOT / "dementia-service"), "its_controlled")
    assert calm.selection is not None and not calm.selection.fired


def test_result_object_and_text():
    advice = ek.advise(ROOT / "virtual-wards")
    frame = advice.to_frame()
    assert list(frame.columns) == ["design", "label", "role", "possible", "maryland_level",
                                   "data", "facts", "addresses", "leaves",
                                   "selection_at_peak", "raise_level"]
    assert (frame["role"] == "primary").sum() == 1
    text = advice.summary()
    assert text.startswith("Recommended primary design: Synthetic control")
    assert "to raise the level:" in text and str(advice) == text
    assert frame.loc[frame["role"] == "primary", "maryland_level"].iloc[0] == 4


def test_advise_reads_a_spec_and_the_cli_prints_it(capsys):
    advice = ek.advise(ROOT / "virtual-wards" / "spec.yaml")
    assert advice.primary.design == "synthetic_control"
    assert main(["--quiet", "advise", str(ROOT / "federation-mdt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Recommended primary design: Staggered difference-in-differences")


def test_nothing_possible_says_so(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\nx,1\ny,2\n", encoding="utf-8")
    advice = ek.advise(tmp_path / "t.csv")
    assert advice.primary is None
    assert advice.summary().startswith("No design is possible with these data yet")


@pytest.mark.parametrize("flag", ["--unit", "--time", "--treated"])
def test_a_flag_naming_a_missing_column_is_one_line(flag, capsys):
    code = main(["advise", str(ROOT / "dementia-service" / "panel.csv"), flag, "nope"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "'nope'" in err and len(err.splitlines()) == 1
