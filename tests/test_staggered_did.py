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
