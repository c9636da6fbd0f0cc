"""Every design's ``plot_data()`` holds its frames (issue 23, point 9; issue 27).

The README promises plot data from every design. The designs are found systematically:
each function ``evalkit`` exports that lives in ``evalkit.designs``, is a spec design
(``evalkit.evaluation.designs.DESIGNS``) or returns a ``DesignResult``. Each must have a call
below (a new design without one fails :func:`test_every_design_is_exercised`) and its
``plot_data()`` must return non-empty DataFrames with the columns that ``docs/results.md``
documents under "Plot data" (parsed from that table, so the documentation is what is
checked). ``did``'s group means and counterfactual are checked against pandas by hand.
"""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.evaluation.designs import DESIGNS

from conftest import ROOT, make_panel

#: Exported design functions that return their table (or dict) itself, not a result.
RETURN_TABLES = {"its_placebo": "pd.DataFrame", "its_sensitivity": "pd.DataFrame",
                 "its_power": "dict"}


def exported_designs() -> list[str]:
    """Names in ``ek.__all__`` that are designs (see the module docstring)."""
    registered = set(DESIGNS.values())
    names = []
    for name in ek.__all__:
        func = getattr(ek, name)
        if not inspect.isfunction(func):
            continue
        returns = str(inspect.signature(func).return_annotation)
        if (func.__module__.startswith("evalkit.designs") or func in registered
                or returns == "DesignResult"):
            names.append(name)
    return names


def documented() -> dict[str, dict[str, list[str]]]:
    """design -> frame -> columns, from the "Plot data" table of docs/results.md."""
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    section = text.split("## Plot data", 1)[1].split("\n## ", 1)[0]
    table: dict[str, dict[str, list[str]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            design, frame = cells[0].strip("`"), cells[1].strip("`")
            table.setdefault(design, {})[frame] = re.findall(r"`([^`]+)`", cells[2])
    return table


def staggered_panel(seed: int = 0) -> pd.DataFrame:
    """40 units over 12 periods: 10 adopt at period 6, 10 at 8, 20 never."""
    rng = np.random.default_rng(seed)
    units, periods = 40, 12
    unit = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(1, periods + 1), units)
    cohort = np.where(np.arange(units) < 10, 6, np.where(np.arange(units) < 20, 8, 0))[unit]
    D = (cohort > 0) & (t >= cohort)
    y = rng.normal(size=units)[unit] + 0.1 * t + 0.5 * D + rng.normal(size=unit.size)
    return pd.DataFrame({"unit": unit, "t": t, "cohort": cohort, "D": D.astype(int), "y": y})


def cohort_frame(seed: int = 0, n: int = 300) -> pd.DataFrame:
    """One row per person: treatment more likely with higher x; a pre and a post outcome."""
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    treated = (rng.random(n) < 1 / (1 + np.exp(-(x - 0.5)))).astype(int)
    return pd.DataFrame({"id": np.arange(n), "treated": treated, "x": x, "z": z,
                         "y_pre": x + rng.normal(size=n),
                         "y": x + 0.5 * treated + rng.normal(size=n)})


def patient_years(seed: int = 0, n: int = 180) -> pd.DataFrame:
    """Two years per patient, a third enrolled; costs and QALYs."""
    rng = np.random.default_rng(seed)
    enrolled = (np.arange(n) < n // 3).astype(int)
    frail = rng.normal(0, 0.6, n)
    c1 = rng.gamma(2.0, np.exp(7 + frail) / 2)
    c2 = np.maximum(rng.gamma(2.0, np.exp(7 + frail) / 2) - 200 * enrolled, 0.0)
    q1 = 0.75 - 0.05 * frail + rng.normal(0, 0.08, n)
    q2 = q1 + 0.03 * enrolled + rng.normal(0, 0.05, n)
    return pd.DataFrame({"patient_id": np.repeat([f"P{i:04d}" for i in range(n)], 2),
                         "year": np.tile([1, 2], n), "enrolled": np.repeat(enrolled, 2),
                         "cost": np.c_[c1, c2].ravel(), "qaly": np.c_[q1, q2].ravel()})


STAFF = pd.DataFrame({"role": ["nurse", "set-up"], "band": ["6", ""], "wte": [2.0, 0.0],
                      "annual_salary": [40000.0, 20000.0], "oncost_rate": [0.25, 0.0],
                      "overhead_rate": [0.2, 0.0], "cost_type": ["recurrent", "setup"]})


def survey() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 120
    wave = np.repeat(["before", "after"], n // 2)
    response = np.clip(np.round(3 + (wave == "after") * 0.5 + rng.normal(0, 1, n)), 1, 5)
    return pd.DataFrame({"respondent": np.arange(n), "wave": wave, "item": "aims",
                         "response": response.astype(int)})


PANEL = make_panel()
COUNTS = dict(outcome="admissions", unit="practice", time="month", start="2019-01",
              treated="treated")
STAGGERED = dict(outcome="y", unit="unit", time="t", cohort="cohort")

CALLS = {
    "prepost": lambda: ek.prepost(PANEL, family="quasipoisson", denominator="list_size",
                                  **COUNTS),
    "its": lambda: ek.its(PANEL[PANEL["treated"] == 1], outcome="admissions", time="month",
                          start="2019-01", family="quasipoisson", denominator="list_size"),
    "did": lambda: ek.did(PANEL, seed=1, **COUNTS),
    "event_study": lambda: ek.event_study(staggered_panel(), n_boot=99, seed=1, **STAGGERED),
    "staggered_did": lambda: ek.staggered_did(staggered_panel(), n_boot=0, **STAGGERED),
    "honest_did": lambda: ek.honest_did(np.array([0.05, -0.02, 0.3, 0.4]),
                                        np.diag([0.01, 0.01, 0.02, 0.02]), 2, 2, n_sims=1000),
    "match": lambda: ek.match(cohort_frame(), treated="treated", covariates=["x", "z"]),
    "matched": lambda: ek.matched(cohort_frame(), outcome="y", treated="treated",
                                  covariates=["x", "z"], pre="y_pre"),
    "synthetic_control": lambda: ek.synthetic_control(
        PANEL.assign(rate=PANEL["admissions"] / PANEL["list_size"] * 1000), outcome="rate",
        unit="practice", time="month", treated_unit="P000", start="2019-01", placebos=False),
    "economic": lambda: ek.economic(
        patient_years(), patient="patient_id", time="year", treated="enrolled", before=1,
        after=2, scheme_costs_table=STAFF, patients_served=60, price_year="2022/23",
        effect="qaly", comparison="did", n_resamples=100, seed=1),
    "cost_compare": lambda: ek.cost_compare(
        pd.DataFrame({"cost": np.random.default_rng(0).gamma(2, 100, 60),
                      "arm": np.repeat(["usual care", "scheme"], 30)}),
        cost="cost", group="arm", n_resamples=200, seed=1),
    "likert_change": lambda: ek.likert_change(survey(), item="aims"),
}


def test_every_design_is_exercised():
    """A design evalkit exports has a call here (or returns its table itself), and every
    design documented in docs/results.md is one of them."""
    found = set(exported_designs())
    assert {"prepost", "its", "did", "event_study", "staggered_did", "matched",
            "synthetic_control", "economic"} <= found
    for name, returns in RETURN_TABLES.items():
        assert str(inspect.signature(getattr(ek, name)).return_annotation) == returns
    assert found - set(RETURN_TABLES) == set(CALLS), "add a call for the new design"
    assert set(documented()) == set(CALLS), "document every design's frames"


@pytest.mark.parametrize("name", list(CALLS))
def test_plot_data_returns_the_documented_frames(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CALLS[name]()
    data = result.plot_data()
    assert isinstance(data, dict) and data, f"{name}: plot_data() is empty"
    for frame_name, frame in data.items():
        assert isinstance(frame, pd.DataFrame), f"{name}: {frame_name} is not a DataFrame"
        assert len(frame) > 0, f"{name}: {frame_name} has no rows"
    for frame_name, columns in documented()[name].items():
        assert frame_name in data, f"{name}: no frame {frame_name!r}"
        missing = set(columns) - set(data[frame_name].columns)
        assert not missing, f"{name}: {frame_name} lacks {sorted(missing)}"
    first = next(iter(data))  # copies: changing one leaves the result as it was
    data[first]["changed_by_the_test"] = 1
    assert "changed_by_the_test" not in result.plot_data()[first].columns


def _by_hand(d: pd.DataFrame, value: str, *, ratio: bool) -> pd.DataFrame:
    """Groups' mean by period and the counterfactual, with pandas."""
    ever = d.groupby("practice")["treated"].transform("max") == 1
    post = d["month"] >= "2019-01"
    if ratio:
        sums = d.groupby([ever.rename("ever"), "month"])[["admissions", "list_size"]].sum()
        means = (sums["admissions"] / sums["list_size"] * 1000).unstack("ever")
    else:
        means = d.groupby([ever.rename("ever"), "month"])[value].mean().unstack("ever")
    pre = means.index < "2019-01"
    treated_pre, comparison_pre = means[True][pre].mean(), means[False][pre].mean()
    counterfactual = (treated_pre * means[False] / comparison_pre if ratio
                      else treated_pre + means[False] - comparison_pre)
    assert post.any()
    return pd.DataFrame({"treated": means[True], "comparison": means[False],
                         "counterfactual": counterfactual})


@pytest.mark.parametrize("family", ["gaussian", "quasipoisson"])
def test_did_means_and_counterfactual_by_hand(family):
    """Rates per 1,000: the mean of practices' rates (linear), the pooled rate (counts)."""
    d = make_panel(n_units=12, n_periods=24, effect=0.8, seed=3)
    res = ek.did(d, denominator="list_size", family=family, seed=1, inference="cluster",
                 **COUNTS)
    got = res.plot_data()["means"].set_index("period")
    ratio = family == "quasipoisson"
    want = _by_hand(d.assign(rate=d["admissions"] / d["list_size"] * 1000), "rate",
                    ratio=ratio)
    for col in ("treated", "comparison", "counterfactual"):
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), rtol=1e-12)
    assert (got["treated_units"] == 6).all() and (got["comparison_units"] == 6).all()
    assert got["post"].to_numpy().tolist() == (got.index >= "2019-01").tolist()
