"""``did`` takes the count families the other count designs take (issue 23, point 9), and
warns on staggered adoption.

References: pyfixest's ``fepois`` (Poisson PML with absorbed fixed effects, CRV1 errors)
for the quasi-Poisson rate ratio and its cluster-robust SE; statsmodels' GLM with unit and
period dummies and Pearson scale (``scale="X2"``) for the reported dispersion.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.designs.did import StaggeredAdoptionWarning
from evalkit.errors import DesignError

pf = pytest.importorskip("pyfixest", reason="pyfixest is the reference for these tests "
                         "(pip install pyfixest, in the 'test' extras)")


def counts(units: int = 60, periods: int = 12, seed: int = 0, overdispersion: float = 0.5,
           starts: tuple[int, ...] = (6,)) -> pd.DataFrame:
    """Overdispersed counts (gamma-Poisson) with list size as exposure; a third of the units
    treated, adopting at ``starts`` in turn; a rate ratio of 0.85; 6 units a region."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(periods), units)
    size = np.repeat(rng.integers(3000, 15000, units), periods).astype(float)
    treated = np.arange(units) % 3 == 0
    start = np.full(units, periods + 1)
    start[treated] = np.resize(np.array(starts), treated.sum())
    D = (t >= start[unit]).astype(float)
    mu = size / 1000 * np.exp(0.3 * rng.normal(size=units)[unit] + 0.02 * t
                              + np.log(0.85) * D)
    y = rng.poisson(mu * rng.gamma(1 / overdispersion, overdispersion, unit.size))
    return pd.DataFrame({"unit": unit, "t": t, "D": D, "list": size, "y": y.astype(float),
                         "region": unit // 6, "log_list": np.log(size)})


@pytest.mark.parametrize("cluster", ["unit", "region"])
def test_quasipoisson_matches_pyfixest_fepois(cluster):
    """The rate ratio's log and its cluster-robust SE equal fepois with CRV1 to 1e-6."""
    d = counts()
    res = ek.did(d, outcome="y", unit="unit", time="t", treated="D", denominator="list",
                 family="quasipoisson", cluster=cluster)
    rec = res.effects.iloc[0]
    ref = pf.fepois("y ~ D | unit + t", data=d, vcov={"CRV1": cluster}, offset="log_list",
                    fixef_rm="none", iwls_tol=1e-12, fixef_tol=1e-12)
    assert (rec["estimand"], rec["scale"]) == ("rate_ratio", "ratio")
    assert np.log(rec["estimate"]) == pytest.approx(ref.coef()["D"], rel=1e-6)
    assert rec["se"] == pytest.approx(ref.se()["D"], rel=1e-6)
    assert res.diagnostics["family"] == "quasipoisson"


def test_quasipoisson_is_the_poisson_fit_with_its_dispersion():
    """Cluster-robust errors allow for overdispersion, so the two families give the same
    estimate and interval; the Pearson dispersion equals statsmodels' quasi-Poisson scale
    on the model with unit and period dummies."""
    import statsmodels.api as sm

    d = counts(units=30, periods=10, seed=2)
    kw = dict(outcome="y", unit="unit", time="t", treated="D", denominator="list")
    quasi = ek.did(d, family="quasipoisson", **kw).effects.iloc[0]
    plain = ek.did(d, family="poisson", **kw)
    cols = ["estimate", "se", "ci_low", "ci_high", "p_value"]
    assert quasi[cols].tolist() == plain.effects.iloc[0][cols].tolist()
    X = pd.get_dummies(d[["unit", "t"]].astype(str), drop_first=True).astype(float)
    X.insert(0, "D", d["D"])
    glm = sm.GLM(d["y"], sm.add_constant(X), family=sm.families.Poisson(),
                 offset=d["log_list"]).fit(scale="X2", tol=1e-12)
    assert quasi["diagnostics"]["dispersion"] == pytest.approx(glm.scale, rel=1e-6)
    assert glm.scale > 1.5  # the data are overdispersed: the case quasi-Poisson is for


@pytest.mark.parametrize("family, fix", [("negbin", "family='quasipoisson'"),
                                         ("binomial", "family='gaussian'")])
def test_other_count_families_are_refused_saying_why_and_what_to_use(family, fix):
    d = counts(units=12, periods=6)
    with pytest.raises(DesignError) as err:
        ek.did(d, outcome="y", unit="unit", time="t", treated="D", denominator="list",
               family=family)
    assert f"did does not fit family='{family}'" in err.value.message
    assert fix in err.value.fix


@pytest.mark.parametrize("family", ["gaussian", "quasipoisson"])
def test_staggered_adoption_warns_and_points_to_staggered_did(family):
    """Treated units starting at three different times: a Python warning, a result warning
    and a diagnostics note, each naming staggered_did."""

    d = counts(starts=(4, 6, 8))
    with pytest.warns(StaggeredAdoptionWarning, match="staggered_did"):
        res = ek.did(d, outcome="y", unit="unit", time="t", treated="D", denominator="list",
                     family=family, inference="cluster")
    note = res.diagnostics["staggered_note"]
    assert "3 different times" in note and "biased" in note and "staggered_did" in note
    assert res.diagnostics["adoption_cohorts"] == 3
    assert any(w.startswith(note) for w in res.warnings)
    assert res.effects.iloc[0]["diagnostics"]["staggered_note"] == note


def test_single_start_does_not_warn():

    d = counts()
    with warnings.catch_warnings():
        warnings.simplefilter("error", StaggeredAdoptionWarning)
        res = ek.did(d, outcome="y", unit="unit", time="t", treated="D", denominator="list",
                     family="quasipoisson")
    assert "staggered_note" not in res.diagnostics


def test_the_report_limitations_say_so():
    """The evidence summary's confounding limitations read the note from the diagnostics."""
    from types import SimpleNamespace

    from evalkit.evaluation.spec import Analysis
    from evalkit.report.limitations import confounding

    d = counts(starts=(4, 6, 8))
    with pytest.warns(StaggeredAdoptionWarning):
        res = ek.did(d, outcome="y", unit="unit", time="t", treated="D", denominator="list",
                     family="quasipoisson")
    analysis = Analysis("did", "panel", "y", {"unit": "unit"}, None)
    evaluation = SimpleNamespace(spec=SimpleNamespace(engagement=None), engagement=None,
                                 results=[(analysis, res)])
    (text,) = confounding(evaluation)
    assert "joined at 3 different times" in text and "biased" in text
