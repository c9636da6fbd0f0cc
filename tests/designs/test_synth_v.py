"""Synthetic control V that users can trust and explain (issue 22, point 4).

Published numbers:

* Abadie, Diamond and Hainmueller (2015), "Comparative politics and the synthetic control
  method", Am J Polit Sci 59:495-510, Table 1 (synthetic West Germany): Austria 0.42,
  USA 0.22, Japan 0.16, Switzerland 0.11, Netherlands 0.09, every other country 0. Their V
  is cross-validated: trained on predictors measured in 1971-80 (gdp, trade, infrate and
  industry averaged over 1971-80, schooling in 1970 and 1975, invest70 as recorded in
  1980), chosen to minimise the MSPE of gdp over 1981-90, then used with the same
  predictors measured in 1981-90 (schooling 1980 and 1985, invest80). This is the setup
  of their replication code (R Synth), repeated in pysyncon's example notebook.
* Abadie and Gardeazabal (2003), Am Econ Rev 93:113-132 (the Basque Country; the setup of
  R Synth's ``basque`` example: 16 Spanish regions as donors, predictors over 1960-69,
  outcome fitted over 1960-69): published weights Cataluna 0.85, Madrid 0.15. A search that
  reaches a lower pre-period loss finds very different weights, with most of V on
  population density in 1969; the data show that V, and so W, is not unique.

The data are in ``tests/data`` (see its README for their source).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.designs.synthetic_control import synthetic_control
from evalkit.errors import DataError, DesignError

DATA = Path(__file__).parents[1] / "fixtures"

#: ADH (2015) Table 1.
PUBLISHED_GERMANY = {"Austria": 0.42, "USA": 0.22, "Japan": 0.16, "Switzerland": 0.11,
                     "Netherlands": 0.09}


def _mean(variable, a, b):
    return {"variable": variable, "window": [a, b], "op": "mean"}


GERMANY_PREDICTORS = [_mean("gdp", 1981, 1990), _mean("trade", 1981, 1990),
                      _mean("infrate", 1981, 1990), _mean("industry", 1981, 1990),
                      _mean("schooling", 1980, 1985), _mean("invest80", 1980, 1980)]
GERMANY_TRAINING = [_mean("gdp", 1971, 1980), _mean("trade", 1971, 1980),
                    _mean("infrate", 1971, 1980), _mean("industry", 1971, 1980),
                    _mean("schooling", 1970, 1975), _mean("invest70", 1980, 1980)]
#: Reunification came in October 1990, and ADH's main predictors average 1981-90, so
#: 1991 is the first year "under the scheme" here (their outcome loss ends in 1989 and
#: their fixed V makes it irrelevant to the weights).
GERMANY = dict(outcome="gdp", unit="country", time="year", treated_unit="West Germany",
               start=1991, predictors=GERMANY_PREDICTORS, search="cross-validation",
               validation_window=[1981, 1990], training_predictors=GERMANY_TRAINING)

BASQUE_PREDICTORS = (
    [_mean(v, 1964, 1969) for v in ("school.illit", "school.prim", "school.med",
                                   "school.high", "school.post.high", "invest")]
    + [_mean("gdpcap", 1960, 1969)]
    # the sector shares are recorded in odd years only: 1961-69 averages 1961, 63, ... 69
    + [_mean(v, 1961, 1969) for v in ("sec.agriculture", "sec.energy", "sec.industry",
                                      "sec.construction", "sec.services.venta",
                                      "sec.services.nonventa")]
    + [_mean("popdens", 1969, 1969)])


@pytest.fixture(scope="module")
def germany() -> pd.DataFrame:
    return pd.read_csv(DATA / "germany.csv")


@pytest.fixture(scope="module")
def basque() -> pd.DataFrame:
    d = pd.read_csv(DATA / "basque.csv")
    # R Synth's basque example: the regions from 1960 on, without Spain as a whole
    return d[(d["year"] >= 1960) & (d["regionname"] != "Spain (Espana)")]


@pytest.fixture(scope="module")
def basque_default(basque):
    return synthetic_control(basque, outcome="gdpcap", unit="regionname", time="year",
                             treated_unit="Basque Country (Pais Vasco)", start=1970,
                             predictors=BASQUE_PREDICTORS, placebos=False,
                             leave_one_out=False)


# --------------------------------------------------------------------------- Germany


def test_germany_cross_validated_v_reproduces_the_published_weights(germany):
    """From the data alone, with ADH's training and validation windows: no V by hand."""
    res = synthetic_control(germany, **GERMANY, placebos=False, leave_one_out=False)
    w = res.weights
    for country, published in PUBLISHED_GERMANY.items():
        assert w[country] == pytest.approx(published, abs=0.03), country
    assert w.drop(list(PUBLISHED_GERMANY)).max() < 0.03
    d = res.diagnostics
    assert d["v_search"] == "cross-validation"
    assert d["validation_window"] == ["1981", "1990"]
    assert d["training_predictors"][-1] == "invest70 (mean, 1980)"
    pred = res.frames["predictors"]
    assert pred["training_predictor"].tolist()[0] == "gdp (mean, 1971 to 1980)"
    assert pred["v"].sum() == pytest.approx(1)


def test_cross_validation_is_a_spec_option(germany, tmp_path):
    """The spec exposes the search and its windows (options map onto the arguments)."""
    import yaml

    from evalkit.evaluation.pipeline import run_spec

    germany.to_csv(tmp_path / "germany.csv", index=False)
    options = {k: v for k, v in GERMANY.items() if k != "outcome"}
    spec = {"scheme": "reunification", "title": "West Germany",
            "data": {"countries": {"path": "germany.csv", "kind": "panel"}},
            "outcomes": {"gdp": {"label": "GDP per head", "family": "gaussian"}},
            "analyses": [{"design": "synthetic_control", "data": "countries",
                          "outcomes": ["gdp"],
                          "options": {**options, "placebos": False,
                                      "leave_one_out": False}}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    ev = run_spec(tmp_path / "spec.yaml", out=tmp_path / "out")
    (_, res), = ev.results
    assert res.weights["Austria"] == pytest.approx(0.42, abs=0.03)
    assert res.options["validation_window"] == [1981, 1990]


def test_germany_ranks_first_of_17_with_cross_validated_placebos(germany):
    """ADH (2015), Figure 5: West Germany has the largest post/pre RMSPE ratio of the 17
    countries when every placebo is refitted with its own cross-validated V."""
    res = synthetic_control(germany, **GERMANY, leave_one_out=False, n_jobs=2)
    assert res.diagnostics["rank"] == 1
    assert res.p_value == pytest.approx(1 / 17)


# --------------------------------------------------------------------------- placebos


def _panel_with_covariates(seed=0, n=9, T=24, start=16):
    """Units with two covariates and an outcome driven by them plus noise."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    t = np.arange(T)
    y = (10 + np.outer(t, 0.1 * x1) + np.outer(np.sin(t / 3), x2)
         + rng.normal(0, 0.2, size=(T, n)))
    return pd.DataFrame({"unit": np.tile([f"U{i}" for i in range(n)], T),
                         "t": np.repeat(t, n), "y": y.ravel(),
                         "x1": np.tile(x1, T) + rng.normal(0, 0.05, n * T),
                         "x2": np.tile(x2, T) + rng.normal(0, 0.05, n * T)}), start


CV_PREDICTORS = [_mean("x1", 8, 15), _mean("x2", 8, 15), _mean("y", 8, 15)]


def test_each_placebo_reruns_the_cross_validation():
    """A placebo is the same analysis with the donor as the treated unit (and the real
    treated unit left out): the same V procedure, its own training data."""
    data, start = _panel_with_covariates()
    opts = dict(outcome="y", unit="unit", time="t", start=start, predictors=CV_PREDICTORS,
                search="cross-validation", validation_window=[8, 15], leave_one_out=False,
                check_v=False)
    res = synthetic_control(data, treated_unit="U0", **opts)
    assert res.diagnostics["placebo_v_search"] == "cross-validation"
    pv = res.frames["placebo_v"]
    assert set(pv["unit"]) == {f"U{i}" for i in range(1, 9)}
    v_treated = res.frames["predictors"]["v"].to_numpy()
    for donor in ("U3", "U7"):
        alone = synthetic_control(data[data["unit"] != "U0"], treated_unit=donor,
                                  **dict(opts, placebos=False))
        v_placebo = pv.loc[pv["unit"] == donor, "v"].to_numpy()
        np.testing.assert_allclose(v_placebo, alone.frames["predictors"]["v"], atol=1e-8)
        gap = res.frames["placebos"].query("unit == @donor")["gap"].to_numpy()
        np.testing.assert_allclose(gap, alone.frames["path"]["gap"], atol=1e-8)
        # its own V, not the treated unit's carried over
        assert np.abs(v_placebo - v_treated).max() > 0.01


def test_default_training_windows_move_back_to_before_the_validation_window():
    data, start = _panel_with_covariates()
    res = synthetic_control(data, outcome="y", unit="unit", time="t", treated_unit="U0",
                            start=start, predictors=CV_PREDICTORS,
                            search="cross-validation", placebos=False, leave_one_out=False)
    # default validation window: the later half of the 16 pre-periods (8 to 15), so the
    # predictors measured over 8-15 are measured over 0-7 for training
    assert res.diagnostics["validation_window"] == ["8", "15"]
    assert res.diagnostics["training_predictors"] == ["x1 (mean, 0 to 7)",
                                                      "x2 (mean, 0 to 7)",
                                                      "y (mean, 0 to 7)"]


def test_cross_validation_options_are_checked():
    data, start = _panel_with_covariates()
    base = dict(outcome="y", unit="unit", time="t", treated_unit="U0", start=start,
                placebos=False, leave_one_out=False)
    with pytest.raises(DesignError, match="needs predictors"):
        synthetic_control(data, **base, search="cross-validation")
    with pytest.raises(DesignError, match="validation_window 12 to 16"):
        synthetic_control(data, **base, predictors=CV_PREDICTORS,
                          search="cross-validation", validation_window=[12, 16])
    with pytest.raises(DesignError, match="training predictor 1 .* window ends at 9"):
        synthetic_control(data, **base, predictors=CV_PREDICTORS,
                          search="cross-validation", validation_window=[8, 15],
                          training_predictors=[_mean("x1", 2, 9)] * 3)
    with pytest.raises(DesignError, match="1 training predictor"):
        synthetic_control(data, **base, predictors=CV_PREDICTORS,
                          search="cross-validation", validation_window=[8, 15],
                          training_predictors=[_mean("x1", 0, 7)])
    with pytest.raises(DesignError, match="before the data"):
        synthetic_control(data, **base, predictors=CV_PREDICTORS,
                          search="cross-validation", validation_window=[4, 15])
    with pytest.raises(DesignError, match="only to search='cross-validation'"):
        synthetic_control(data, **base, predictors=CV_PREDICTORS, validation_window=[8, 15])
    with pytest.raises(DataError, match="training predictor invest80 .* has no values.*give "
                                        "training_predictors"):
        # invest80 is recorded in 1980 only; moved back ten years it has no values
        synthetic_control(pd.read_csv(DATA / "germany.csv"),
                          **{k: v for k, v in GERMANY.items() if k != "training_predictors"},
                          placebos=False, leave_one_out=False)


# --------------------------------------------------------------------------- V checks


def test_basque_default_v_is_dominated_by_one_predictor_and_warned(basque_default):
    d = basque_default.diagnostics
    v = basque_default.frames["predictors"].set_index("predictor")["v"]
    assert v.idxmax() == "popdens (mean, 1969)" and v.max() > 0.5
    assert d["v_dominant_predictor"] == "popdens (mean, 1969)"
    assert any("One predictor, popdens (mean, 1969), carries" in w
               for w in basque_default.warnings)


def test_basque_weights_depend_on_how_v_is_chosen(basque_default):
    """The default search and Synth's Nelder-Mead pick different donors: warned, and both
    sets of weights kept."""
    d = basque_default.diagnostics
    w = basque_default.frames["weights"]
    shift = 0.5 * (w["weight"] - w["weight_alternative"]).abs().sum()
    assert shift >= 0.2
    assert d["v_alternative"]["search"] == "nelder-mead"
    assert d["v_alternative"]["weight_shift"] == pytest.approx(shift)
    assert d["weights_depend_on_v"] is True
    assert any("not unique in V" in x for x in basque_default.warnings)


def test_one_predictor_with_most_of_a_given_v_is_warned_about():
    data, start = _panel_with_covariates()
    base = dict(outcome="y", unit="unit", time="t", treated_unit="U0", start=start,
                predictors=CV_PREDICTORS, placebos=False, leave_one_out=False)
    res = synthetic_control(data, **base, v=[0.1, 0.3, 0.6])
    assert res.diagnostics["v_dominant_predictor"] == "y (mean, 8 to 15)"
    assert any("carries 60% of the predictor weights" in w for w in res.warnings)
    even = synthetic_control(data, **base, v=[0.3, 0.3, 0.4], check_v=False)
    assert even.diagnostics["v_dominant_predictor"] is None
    assert not any("carries" in w for w in even.warnings)


def _two_routes_panel():
    """Donor A matches the treated unit's covariate x1, donor B its covariate x2 and its
    outcome path: a V on x1 picks A, a V chosen to track the outcome picks B."""
    rng = np.random.default_rng(7)
    T, start = 12, 8
    t = np.arange(T)
    base = 5 + 0.2 * t
    paths = {"T": base + 1.0, "A": base - 1.5, "B": base + 1.0 + rng.normal(0, 0.01, T)}
    x1 = {"T": 1.0, "A": 1.0, "B": 3.0}
    x2 = {"T": 1.0, "A": 5.0, "B": 1.0}
    for i in range(5):
        paths[f"N{i}"] = base + rng.normal(-3, 0.5) + rng.normal(0, 0.3, T)
        x1[f"N{i}"], x2[f"N{i}"] = rng.normal(4, 0.5), rng.normal(4, 0.5)
    rows = [(u, int(s), float(p[s]), x1[u], x2[u]) for u, p in paths.items() for s in t]
    return pd.DataFrame(rows, columns=["unit", "t", "y", "x1", "x2"]), start


def test_report_shows_v_beside_w_and_says_the_answer_is_not_unique(tmp_path):
    import yaml

    from evalkit.evaluation.pipeline import run_spec
    from evalkit.report.context import ReportContext

    data, start = _two_routes_panel()
    data.to_csv(tmp_path / "areas.csv", index=False)
    spec = {"scheme": "two-routes", "title": "Two routes", "synthetic": True,
            "data": {"areas": {"path": "areas.csv", "kind": "panel"}},
            "outcomes": {"y": {"label": "Admissions per 1,000", "family": "gaussian"}},
            "analyses": [{"design": "synthetic_control", "data": "areas", "outcomes": ["y"],
                          "options": {"unit": "unit", "time": "t", "treated_unit": "T",
                                      "start": start, "v": [0.9, 0.1], "placebos": False,
                                      "leave_one_out": False,
                                      "predictors": [_mean("x1", 0, 7), _mean("x2", 0, 7)]}}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    ev = run_spec(tmp_path / "spec.yaml", out=tmp_path / "out")
    (_, res), = ev.results
    assert res.weights["A"] > 0.5                                 # V on x1 picks A
    assert res.diagnostics["v_alternative"]["top_weights"][0][0] == "B"
    text = ReportContext(ev, {}).synth_markdown()
    header = next(line for line in text.splitlines() if line.startswith("| Comparison"))
    assert "Weight (W)" in header and "Predictor" in header and "Weight in V" in header
    assert "V with" in header and "W with" in header              # the alternative beside
    assert "X1 (mean, 0 to 7)" in header or "X1 (mean, 0 to 7)" in text
    assert "0.900" in text                                        # V as given
    assert "One predictor, X1 (mean, 0 to 7), carries 90% of V" in text
    assert "The answer is not unique in V" in text
    assert "were given in the analysis's options" in text
    assert "beside the predictors and their weights in V" in text


def test_report_says_when_the_weights_do_not_depend_on_v(tmp_path):
    from evalkit.report.synth import v_sentences, weights_table

    data, start = _two_routes_panel()
    res = synthetic_control(data, outcome="y", unit="unit", time="t", treated_unit="T",
                            start=start, predictors=[_mean("x1", 0, 7), _mean("x2", 0, 7)],
                            placebos=False, leave_one_out=False)
    d = res.diagnostics
    assert res.weights["B"] > 0.9 and d["weights_depend_on_v"] is False
    text = " ".join(v_sentences(d, "admissions"))
    assert "does not hinge on how V is chosen" in text and "not unique" not in text
    table = weights_table(res.frames, d)
    assert list(table.columns) == ["Comparison unit", "Weight (W)", "Predictor",
                                   "Weight in V"]


def test_v_sentences_keep_names_as_text():
    """Unit and predictor names come from the data: text, never markup."""
    from evalkit.report.synth import v_sentences

    bad = "<b>x</b> [a](http://e) @fig-x"
    diag = {"method": "classic", "v": {bad: 0.9, "y": 0.1}, "v_search": "cross-validation",
            "training_predictors": [bad], "validation_window": ["<i>1</i>", "2"],
            "v_max_share": 0.9, "v_dominant_predictor": bad, "pre_rmspe": 1.0,
            "weights_depend_on_v": True,
            "v_alternative": {"search": "multistart", "weight_shift": 0.5, "pre_rmspe": 1.1,
                              "top_weights": [[bad, 1.0]], "v": {}}}
    text = " ".join(v_sentences(diag, "admissions"))
    assert "<b>" not in text and "<i>" not in text and "[a](http" not in text
    assert " @fig-x" not in text and text.count(r"\<b\>x\</b\>") == 3
