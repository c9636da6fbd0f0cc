"""Augmented synthetic control and synthetic DiD through ``synthetic_control``.

The estimators themselves are checked in ``test_augmented_synth.py`` (against pysyncon's
AugSynth and the augsynth formulas) and ``test_sdid.py`` (against Arkhangelsky et al.,
2021). These tests check that the design passes the right data to them, labels the
result, and that each extension does what it is for: SDID with several treated units
covers the truth, and the augmented fit repairs a treated unit outside the donors' hull.

Published number: Arkhangelsky, Athey, Hirshberg, Imbens and Wager (2021), Am Econ Rev
111:4088-4118, Table 1: SDID estimate for California's Proposition 99 of -15.6 packs per
head.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.designs.augmented_synth import ridge_augment
from evalkit.designs.sdid import sdid_fit
from evalkit.designs.synthetic_control import synthetic_control
from evalkit.errors import DesignError


@pytest.fixture(scope="module")
def smoking(validation_dir) -> pd.DataFrame:
    return pd.read_csv(validation_dir / "smoking.csv")


@pytest.fixture(scope="module")
def prop99_sdid(smoking):
    return synthetic_control(smoking, outcome="cigsale", unit="state", time="year",
                             treated_unit="California", start=1989, method="sdid")


def _panel(rng, n=30, T=24, T0=16, treated=("U00",), effect=-2.0, shift=0.0):
    """Two common factors; ``treated`` units get ``effect`` after ``T0`` and ``shift``
    in every period (a level outside the donors' range when large)."""
    load = rng.dirichlet(np.ones(3), size=n) @ rng.normal(0, 1, (3, 2))
    f = np.cumsum(rng.normal(0, 0.5, (T, 2)), axis=0)
    Y = 20 + f @ load.T + rng.normal(0, 0.5, (T, n))
    names = [f"U{i:02d}" for i in range(n)]
    for u in treated:
        i = names.index(u)
        Y[:, i] += shift
        Y[T0:, i] += effect
    return pd.DataFrame({"unit": np.repeat(names, T), "t": np.tile(np.arange(1, T + 1), n),
                         "y": Y.T.ravel()})


# --------------------------------------------------------------------------- SDID


def test_prop99_sdid_reproduces_the_published_estimate(prop99_sdid, smoking):
    """-15.6 (AAHIW 2021, Table 1), and exactly what the estimator gives on the matrix."""
    est = prop99_sdid.effects.set_index("estimand").loc["att_sdid"]
    assert est["estimate"] == pytest.approx(-15.6, abs=0.05)
    Y = smoking.pivot(index="state", columns="year", values="cigsale")
    Y = pd.concat([Y.drop(index="California"), Y.loc[["California"]]]).to_numpy()
    direct = sdid_fit(Y, 1, 19, se="none")
    assert est["estimate"] == pytest.approx(direct.estimate, abs=1e-10)
    w = prop99_sdid.weights
    assert w.sum() == pytest.approx(1, abs=1e-12) and (w >= 0).all()
    assert "California" not in w.index and w.index[0] == "Nevada"


def test_prop99_sdid_reports_its_interval_and_the_solver_cap(prop99_sdid):
    est = prop99_sdid.effects.set_index("estimand").loc["att_sdid"]
    assert est["ci_low"] < est["estimate"] < est["ci_high"]
    assert est["se"] > 0 and 0 < prop99_sdid.p_value < 1
    # synthdid's own Frank-Wolfe stops at its 10,000-iteration cap on this panel too
    assert prop99_sdid.diagnostics["solver_converged"] is False
    assert any("iteration cap" in w for w in prop99_sdid.warnings)
    path = prop99_sdid.frames["path"]
    assert len(path) == 31 and path["post"].sum() == 12


def test_sdid_with_several_treated_units_is_the_estimator_on_their_mean():
    df = _panel(np.random.default_rng(4), treated=("U00", "U01", "U02"))
    res = synthetic_control(df, outcome="y", unit="unit", time="t",
                            treated_unit=["U02", "U00", "U01"], start=17, method="sdid")
    Y = df.pivot(index="unit", columns="t", values="y")
    direct = sdid_fit(np.vstack([Y.iloc[3:].to_numpy(), Y.iloc[:3].to_numpy()]), 3, 16,
                      se="placebo", seed=0)
    r = res.effects.iloc[0]
    assert r["estimate"] == pytest.approx(direct.estimate, abs=1e-10)
    assert r["se"] == pytest.approx(direct.se, rel=1e-10)
    assert res.diagnostics["treated_units"] == ["U02", "U00", "U01"]
    assert set(res.weights.index) == {f"U{i:02d}" for i in range(3, 30)}


@pytest.mark.slow
def test_sdid_with_several_treated_units_covers_the_truth():
    """Three treated units, 120 replications: the placebo-SE 90% interval covers the
    known effect 90% +/- 3 SE of the time, and the estimate is unbiased. Slow (about
    8 minutes): each fit re-solves 200 placebo problems by Frank-Wolfe."""
    rng = np.random.default_rng(515)
    reps, cover, errors = 120, 0, []
    for _ in range(reps):
        df = _panel(rng, treated=("U00", "U01", "U02"))
        res = synthetic_control(df, outcome="y", unit="unit", time="t",
                                treated_unit=["U00", "U01", "U02"], start=17,
                                method="sdid", conf_level=0.9, seed=int(rng.integers(1e9)))
        r = res.effects.iloc[0]
        cover += bool(r["ci_low"] <= -2.0 <= r["ci_high"])
        errors.append(r["estimate"] + 2.0)
        assert r["n_units"] == 30
    se = np.sqrt(0.9 * 0.1 / reps)
    assert abs(cover / reps - 0.9) < 3 * se
    assert abs(np.mean(errors)) < 3 * np.std(errors) / np.sqrt(reps)


def test_several_treated_units_need_sdid():
    df = _panel(np.random.default_rng(1), treated=("U00", "U01"))
    with pytest.raises(DesignError, match="method='sdid'"):
        synthetic_control(df, outcome="y", unit="unit", time="t",
                          treated_unit=["U00", "U01"], start=17)


# --------------------------------------------------------------------------- augmented


def test_augmented_is_the_ridge_correction_of_the_classic_weights():
    df = _panel(np.random.default_rng(7))
    kw = dict(outcome="y", unit="unit", time="t", treated_unit="U00", start=17,
              placebos=False, leave_one_out=False)
    classic = synthetic_control(df, **kw)
    aug = synthetic_control(df, method="augmented", **kw)
    Y = df.pivot(index="unit", columns="t", values="y")
    donors = classic.weights.index
    w_scm = classic.weights.to_numpy()
    direct = ridge_augment(Y.loc["U00"].to_numpy(), Y.loc[donors].to_numpy(), 16, w_scm)
    got = aug.weights.reindex(donors).to_numpy()
    np.testing.assert_allclose(got, direct.weights, atol=1e-10)
    assert aug.diagnostics["ridge_lambda"] == pytest.approx(direct.lam)
    assert aug.diagnostics["method"] == "augmented"
    # a huge penalty gives back the classic fit
    back = synthetic_control(df, method="augmented", lam=1e12, **kw)
    np.testing.assert_allclose(back.weights.reindex(donors).to_numpy(), w_scm, atol=1e-6)


def test_augmented_repairs_a_treated_unit_outside_the_hull():
    """Treated unit 3 units above every donor: classic SCM cannot reach it (flagged, and
    its gaps are biased by the level difference); the ridge correction extrapolates with
    negative weights, fits the pre-period better and reduces the bias (Ben-Michael et al.,
    2021, section 4). With augsynth's conservative one-standard-error penalty the
    reduction here is about a third (bias 1.39 against 2.01 over these 20 panels)."""
    rng = np.random.default_rng(11)
    bias_classic, bias_aug = [], []
    for _ in range(20):
        df = _panel(rng, shift=3.0)
        kw = dict(outcome="y", unit="unit", time="t", treated_unit="U00", start=17,
                  placebos=False, leave_one_out=False)
        classic = synthetic_control(df, **kw)
        assert classic.diagnostics["outside_hull"]
        aug = synthetic_control(df, method="augmented", **kw)
        assert aug.diagnostics["n_negative_weights"] > 0
        assert aug.diagnostics["pre_rmspe"] < classic.diagnostics["pre_rmspe"]
        bias_classic.append(classic.effects.set_index("estimand").loc["gap_mean",
                                                                      "estimate"] + 2)
        bias_aug.append(aug.effects.set_index("estimand").loc["gap_mean", "estimate"] + 2)
    assert abs(np.mean(bias_aug)) < 0.8 * abs(np.mean(bias_classic))


def test_augmented_placebos_give_a_rank_p_value():
    df = _panel(np.random.default_rng(3), n=15, effect=-4.0)
    res = synthetic_control(df, outcome="y", unit="unit", time="t", treated_unit="U00",
                            start=17, method="augmented", leave_one_out=False)
    assert res.diagnostics["n_placebos"] == 14
    assert res.p_value == pytest.approx(res.diagnostics["rank"] / 15)
