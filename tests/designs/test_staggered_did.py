"""Callaway-Sant'Anna staggered DiD against published results and a peer implementation.

Published: Callaway & Sant'Anna (2021), J Econometrics 225:200-230, on the ``mpdta`` data
of the R package ``did`` (numbers as listed in ../shared/validation/README.md).
Peer: ``moderndid`` (a Python implementation of R ``did``/``DRDID``), installed with the
test extras.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import DataError

OPTS = dict(outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
PUBLISHED_ATT_GT = {
    (2004, 2004): -0.0105, (2004, 2005): -0.0704, (2004, 2006): -0.1373, (2004, 2007): -0.1008,
    (2006, 2004): 0.0065, (2006, 2005): -0.0028, (2006, 2006): -0.0046, (2006, 2007): -0.0412,
    (2007, 2004): 0.0305, (2007, 2005): -0.0027, (2007, 2006): -0.0311, (2007, 2007): -0.0261,
}
PUBLISHED_AGG = {"att_simple": -0.0400, "att_group": -0.0310, "att_dynamic": -0.0772,
                 "att_calendar": -0.0417, "att_event:-3": 0.0305, "att_event:-2": -0.0006,
                 "att_event:-1": -0.0245, "att_event:0": -0.0199, "att_event:1": -0.0510,
                 "att_event:2": -0.1373, "att_event:3": -0.1008}


@pytest.fixture(scope="module")
def mpdta(validation_dir):
    return pd.read_csv(validation_dir / "mpdta.csv")


@pytest.fixture(scope="module")
def analytic(mpdta):
    return ek.staggered_did(mpdta, n_boot=0, **OPTS)


def test_att_gt_reproduces_published(analytic):
    gt = analytic.plot_data()["att_gt"]
    ours = {(int(c), int(t)): a for c, t, a in zip(gt["cohort"], gt["time"], gt["att"],
                                                    strict=True)}
    assert set(ours) == set(PUBLISHED_ATT_GT)
    for key, value in PUBLISHED_ATT_GT.items():
        assert ours[key] == pytest.approx(value, abs=1e-4), key


def test_aggregations_reproduce_published(analytic):
    e = analytic.effects.set_index("estimand")
    for name, value in PUBLISHED_AGG.items():
        assert e.loc[name, "estimate"] == pytest.approx(value, abs=1e-4), name
    assert e.loc["att_simple", "se"] == pytest.approx(0.012, abs=1e-3)


def test_bootstrap_standard_errors_and_uniform_band(mpdta, analytic):
    boot = ek.staggered_did(mpdta, n_boot=999, seed=1, **OPTS)
    a, b = analytic.effects.set_index("estimand"), boot.effects.set_index("estimand")
    assert b.loc["att_simple", "se"] == pytest.approx(0.012, rel=0.15)
    assert np.allclose(a["estimate"], b["estimate"])
    assert np.allclose(b["se"], a["se"], rtol=0.15)
    gt = boot.plot_data()["att_gt"]
    assert (gt["band_high"] - gt["band_low"] > gt["ci_high"] - gt["ci_low"]).all()
    again = ek.staggered_did(mpdta, n_boot=999, seed=1, **OPTS)
    assert again.effects["se"].equals(boot.effects["se"]), "seeded bootstrap is reproducible"


@pytest.mark.parametrize("estimator", ["dr", "ipw", "reg"])
@pytest.mark.parametrize("control_group,anticipation", [("never", 0), ("notyet", 0),
                                                        ("never", 1)])
def test_matches_moderndid(mpdta, estimator, control_group, anticipation):
    md = pytest.importorskip("moderndid", reason="peer implementation moderndid not installed")
    theirs = md.att_gt(data=mpdta, yname="lemp", tname="year", idname="countyreal",
                       gname="first.treat", xformla="~lpop", est_method=estimator,
                       control_group={"never": "nevertreated", "notyet": "notyettreated"}[
                           control_group], anticipation=anticipation, boot=False)
    ours = ek.staggered_did(mpdta, estimator=estimator, control_group=control_group,
                            anticipation=anticipation, covariates=["lpop"], n_boot=0,
                            **OPTS).plot_data()["att_gt"]
    ref = pd.DataFrame({"cohort": np.asarray(theirs.groups).astype(int),
                        "time": np.asarray(theirs.times).astype(int),
                        "att": np.asarray(theirs.att_gt), "se": np.asarray(theirs.se_gt)})
    mine = ours.assign(cohort=ours["cohort"].astype(int), time=ours["time"].astype(int))
    merged = ref.merge(mine, on=["cohort", "time"], suffixes=("_peer", ""))
    assert len(merged) == len(ref) == len(mine)
    np.testing.assert_allclose(merged["att"], merged["att_peer"], atol=1e-6)
    np.testing.assert_allclose(merged["se"], merged["se_peer"], atol=1e-6)


def test_small_cohort_is_reported_not_a_crash(mpdta):
    d = mpdta.copy()
    one = d.loc[d["first.treat"] == 2004, "countyreal"].iloc[0]
    d.loc[(d["countyreal"] == one), "first.treat"] = 2005
    res = ek.staggered_did(d, n_boot=0, **OPTS)
    assert "2005" in set(res.plot_data()["att_gt"]["cohort"])


@pytest.mark.parametrize("change,match", [
    (lambda d: d.assign(**{"first.treat": d["first.treat"].replace(0, 2007)}),
     "no never-treated units"),
    (lambda d: d.assign(**{"first.treat": np.where((d["countyreal"] == 8001) &
                                                   (d["year"] == 2007), 0,
                                                   d["first.treat"])}),
     "cohort changes within"),
    (lambda d: d.assign(**{"first.treat": d["first.treat"].replace(2004, 2003)}),
     "treated in the first period"),
    (lambda d: pd.concat([d, d.iloc[[0]]]), "share a countyreal and year"),
])
def test_bad_input_is_refused(mpdta, change, match):
    with pytest.raises(DataError, match=match):
        ek.staggered_did(change(mpdta.copy()), n_boot=0, **OPTS)


def test_time_varying_covariate_is_refused(mpdta):
    d = mpdta.assign(lpop=mpdta["lpop"] + mpdta["year"] * 0.01)
    with pytest.raises(DataError, match="vary within units"):
        ek.staggered_did(d, covariates=["lpop"], n_boot=0, **OPTS)


def test_aggregations_and_their_standard_errors_match_moderndid(mpdta, analytic):
    """Aggregated SEs include the estimation of the weights (R did's 'wif')."""
    md = pytest.importorskip("moderndid", reason="peer implementation moderndid not installed")
    gt = md.att_gt(data=mpdta, yname="lemp", tname="year", idname="countyreal",
                   gname="first.treat", boot=False)
    ours = analytic.effects.set_index("estimand")
    for kind in ("simple", "group", "dynamic", "calendar"):
        agg = md.aggte(gt, type=kind, boot=False)
        assert ours.loc[f"att_{kind}", "estimate"] == pytest.approx(float(agg.overall_att),
                                                                    abs=1e-10)
        assert ours.loc[f"att_{kind}", "se"] == pytest.approx(float(agg.overall_se), abs=1e-10)


@pytest.mark.parametrize("control_group,anticipation,base_period,cluster", [
    ("never", 0, "varying", None), ("notyet", 0, "varying", None),
    ("notyet", 1, "universal", None), ("never", 0, "varying", "state"),
    ("notyet", 0, "varying", "state")])
def test_balanced_bootstrap_shortcut_equals_the_influence_function_product(
        mpdta, control_group, anticipation, base_period, cluster):
    """The cohort-sum shortcut gives the same draws as multipliers times the influence
    functions (the definition of the multiplier bootstrap), up to rounding."""
    import importlib

    sd = importlib.import_module("evalkit.designs.staggered_did")

    d = mpdta.assign(state=mpdta["countyreal"] // 1000)
    codes = np.sort(d["year"].unique())
    units, uidx = np.unique(d["countyreal"], return_inverse=True)
    Y = np.full((units.size, codes.size), np.nan)
    Y[uidx, np.searchsorted(codes, d["year"])] = d["lemp"]
    g = d.groupby("countyreal")["first.treat"].first().to_numpy()
    Gpos = np.where(g > 0, np.searchsorted(codes, g), -1)
    is_never = Gpos < 0
    cohorts = sorted(set(Gpos[Gpos >= 0].tolist()))
    grid = sd._grid(cohorts, codes.size, anticipation, base_period)
    cells = sd._unconditional(Y, Gpos, is_never, grid, control_group, anticipation)
    assert cells.balanced
    K = len(cohorts) + 1
    cidx = np.where(is_never, K - 1, np.searchsorted(cohorts, np.maximum(Gpos, 0)))
    clusters = None
    if cluster:
        clusters = pd.factorize(d.groupby("countyreal")["state"].first())[0]
    boot = sd._MultiplierBootstrap(units.size, clusters, 199, np.random.default_rng(5), 0.95,
                                   cidx)
    fast = boot.cell_draws_balanced(Y, cidx, K, grid[cells.ok], cells, cohorts, is_never,
                                    control_group, anticipation)
    np.testing.assert_allclose(fast, boot.draws(cells.IF), atol=1e-12)
    totals = boot.cohort_totals(cidx, K)
    np.testing.assert_allclose(totals, boot.draws(np.eye(K)[cidx]) * units.size, atol=1e-12)


def test_event_time_frames(mpdta):
    res = ek.staggered_did(mpdta, n_boot=999, seed=2, **OPTS)
    ev = res.frames["event"].set_index("event_time")
    eff = res.effects.set_index("estimand")
    assert list(ev.index) == [-3, -2, -1, 0, 1, 2, 3]
    for e, row in ev.iterrows():
        assert row["att"] == eff.loc[f"att_event:{e}", "estimate"]
        assert row["se"] == eff.loc[f"att_event:{e}", "se"]
    # the uniform band is wider than the pointwise interval
    assert ((ev["band_high"] - ev["band_low"]) > (ev["ci_high"] - ev["ci_low"])).all()
    # the covariance's diagonal is the analytic variance of each event-time estimate
    analytic = ek.staggered_did(mpdta, n_boot=0, **OPTS)
    V = res.frames["event_vcov"]
    a = analytic.effects.set_index("estimand")
    for e in ev.index:
        assert np.sqrt(V.loc[e, e]) == pytest.approx(a.loc[f"att_event:{e}", "se"], rel=1e-12)


def test_att_gt_attribute(analytic):
    gt = analytic.att_gt
    assert {"cohort", "time", "att", "se"} <= set(gt.columns)
    assert gt.equals(analytic.plot_data()["att_gt"])
    with pytest.raises(AttributeError, match="its frames are"):
        analytic.no_such_frame  # noqa: B018
