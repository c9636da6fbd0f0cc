"""Coverage study for interrupted time series (issue 3; the default, issue 22).

Simulates series with a known level or slope change and AR(1) errors, fits them with
each autocorrelation remedy, and records bias and the share of 95% intervals that
cover the truth, with Monte Carlo standard errors. Writes ``docs/its-coverage.md``.

The grid: 24/12, 48/36 and 72/48 monthly points before/after the interruption; AR(1)
rho of 0, 0.3 and 0.6; gaussian outcomes and quasi-Poisson counts with a population
offset (latent AR(1) noise on the log scale); a level change or a slope change; with
and without a comparison series (controlled ITS). Every fit has a trend, a level and a
slope change and one Fourier harmonic of seasonality, as evalkit's schemes do.

- Gaussian: mean 50, trend 0.05 a month, seasonal amplitude 2, error SD 2 (marginal);
  level change -3 or slope change -0.1 a month.
- Counts: about 200 events a month (population 100,000, rising 0.05% a month), latent
  AR(1) noise SD 0.08 on the log scale; rate ratio 0.85 at the interruption, or a slope
  change of log(0.995) a month; fitted as quasi-Poisson with a log offset.
- Comparison series: the same shape at a different level, no effect, its own AR(1)
  noise with the same rho, independent of the treated series'.

Remedies: ``default`` is what ``ek.its`` does with ``autocorrelation="auto"``; the
others are the alternatives studied (see ``REMEDIES``). The fits are vectorised over
replications (:func:`evalkit.designs.its_model.fit_ar1_batch`, the function ``ek.its``
itself calls); for each cell the script checks that ``ek.its`` with the default gives
the same interval as the batch fit on the cell's first replication.

Run: ``OMP_NUM_THREADS=1 nice python benchmarks/its_coverage.py [--reps 1000]``.
"""

from __future__ import annotations

import os
import platform

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

import evalkit as ek  # noqa: E402
from evalkit.designs.its_model import (  # noqa: E402
    Interruption,
    design_matrix,
    fit_ar1_batch,
    newey_west_lags,
)

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((24, 12), (48, 36), (72, 48))
RHOS = (0.0, 0.3, 0.6)
FAMILIES = ("gaussian", "quasipoisson")
CHANGES = ("level", "slope")
CONTROLS = (False, True)
TRUTH = {("gaussian", "level"): -3.0, ("gaussian", "slope"): -0.1,
         ("quasipoisson", "level"): float(np.log(0.85)),
         ("quasipoisson", "slope"): float(np.log(0.995))}
REMEDIES = {
    "default": "the default: AR(1) errors, rho by REML, Kenward-Roger covariance, "
               "Satterthwaite df (counts: latent AR(1) process, Zeger 1988, rho and tau2 by "
               "REML, Kenward-Roger covariance, Satterthwaite df)",
    "reml_sat": "AR(1) errors, rho by REML, model-based covariance, Satterthwaite df (counts: "
                "the latent AR(1) process without the Kenward-Roger covariance)",
    "reml_kr": "counts: AR(1) Pearson residuals, rho by REML, Kenward-Roger covariance, "
               "Satterthwaite df (gaussian: the default)",
    "moment": "previous default: AR(1) errors (counts: AR(1) Pearson residuals), "
              "bias-corrected moment rho, Satterthwaite df",
    "none": "none (OLS / quasi-Poisson GLM)",
    "hac": "Newey-West, lag floor(4 (n/100)^(2/9)) per series, t(n - p)",
    "pretest": "older default: Breusch-Godfrey pre-test at 5%, then AR(1) (HAC if controlled)",
}


def simulate(rng: np.random.Generator, reps: int, *, n_pre: int, n_post: int, rho: float,
             family: str, change: str, controlled: bool):
    """Replications x points outcomes, the design, the offset and the segments."""
    n = n_pre + n_post
    t = np.arange(n, dtype=float)
    series = (0, 1) if controlled else (0,)
    Y, codes, groups, offsets = [], [], [], []
    for s in series:
        sd = 0.08 if family == "quasipoisson" else 2.0
        e = np.empty((reps, n))
        e[:, 0] = rng.normal(0, sd, reps)
        for i in range(1, n):
            e[:, i] = rho * e[:, i - 1] + rng.normal(0, sd * np.sqrt(1 - rho**2), reps)
        season = np.cos(2 * np.pi * (t % 12 + 1) / 12)
        after = t >= n_pre
        treated = s == 0
        effect = np.zeros(n)
        if treated:
            effect = after * (TRUTH[family, change] if change == "level"
                              else TRUTH[family, change] * (t - n_pre))
        if family == "quasipoisson":
            pop = (100_000.0 if treated else 80_000.0) * (1 + 0.0005 * t)
            mu = pop * (0.002 if treated else 0.0025) * np.exp(
                0.002 * t + 0.1 * season + effect + e)
            Y.append(rng.poisson(mu).astype(float))
            offsets.append(np.log(pop))
        else:
            Y.append((50.0 if treated else 45.0) + 0.05 * t + 2 * season + effect + e)
            offsets.append(np.zeros(n))
        codes.append(t.astype(int))
        groups.append(np.full(n, s))
    codes, groups = np.concatenate(codes), np.concatenate(groups)
    X = design_matrix(codes, [Interruption(n_pre, str(n_pre))], first=0,
                      seasonality={"fourier": 1, "period": 12}, monthly=True,
                      group=(1 - groups) if controlled else None)
    return np.concatenate(Y, axis=1), X, np.concatenate(offsets), groups


def _residuals(fit, Y, Xv, offset, gaussian):
    if gaussian:
        return Y - fit.params @ Xv.T
    mu = np.exp(fit.params @ Xv.T + offset)
    return (Y - mu) / np.sqrt(mu)


def hac_cov(fit, Y, Xv, offset, groups, *, gaussian, lags):
    """Newey-West (Bartlett) sandwich of a fit without remedy, lags within each series,
    with the small-sample factor n / (n - p)."""
    R, n = Y.shape
    p = Xv.shape[1]
    r = _residuals(fit, Y, Xv, offset, gaussian)
    D = np.broadcast_to(Xv, (R, n, p)) if gaussian else Xv[None] * np.sqrt(fit.mu)[:, :, None]
    S = D * r[:, :, None]
    meat = np.einsum("rni,rnj->rij", S, S)
    for lag in range(1, lags + 1):
        same = groups[lag:] == groups[:-lag]
        G = np.einsum("rni,rnj->rij", S[:, lag:][:, same], S[:, :-lag][:, same])
        meat += (1 - lag / (lags + 1)) * (G + np.swapaxes(G, 1, 2))
    bread = np.linalg.inv(np.einsum("rni,rnj->rij", D, D))
    return bread @ meat @ bread * n / (n - p)


def breusch_godfrey_p(resid, Xe, nlags):
    """Breusch-Godfrey p-values for each row of ``resid`` (as its_model.breusch_godfrey)."""
    R, n = resid.shape
    lagged = [np.concatenate([np.zeros((R, j)), resid[:, :-j]], axis=1)
              for j in range(1, nlags + 1)]
    Z = np.concatenate([np.broadcast_to(Xe, (R,) + Xe.shape), np.stack(lagged, axis=2)],
                       axis=2)
    coef = np.linalg.pinv(Z) @ resid[:, :, None]
    fitted = (Z @ coef)[:, :, 0]
    r2 = 1 - np.sum((resid - fitted) ** 2, 1) / np.sum(
        (resid - resid.mean(1, keepdims=True)) ** 2, 1)
    return stats.chi2.sf(n * r2, nlags)


def run_cell(reps: int, seed: int, others: int | None = None, **cell
             ) -> tuple[list[dict], dict]:
    """One cell: the default on ``reps`` replications, the other remedies on the first
    ``others`` of them (all when None)."""
    rng = np.random.default_rng(seed)
    Y, X, offset, groups = simulate(rng, reps, **cell)
    m = reps if others is None else min(others, reps)
    family, controlled = cell["family"], cell["controlled"]
    gaussian = family == "gaussian"
    Xv = X.to_numpy(dtype=float)
    name = ("group_" if controlled else "") + f"{cell['change']}_change"
    j = list(X.columns).index(name)
    truth = TRUTH[family, cell["change"]]
    segs = groups if controlled else None
    fits = {"default": fit_ar1_batch(Y, Xv, offset, family=family, segments=segs),
            # reml_sat of counts and reml_kr of gaussian outcomes are the default
            ("reml_kr" if gaussian else "reml_sat"): None,
            ("reml_sat" if gaussian else "reml_kr"): fit_ar1_batch(
                Y[:m], Xv, offset, family=family, segments=segs, adjust=not gaussian),
            "moment": fit_ar1_batch(Y[:m], Xv, offset, family=family, segments=segs,
                                    method="moment"),
            "none": fit_ar1_batch(Y[:m], Xv, offset, family=family, segments=segs, rho=0.0)}
    n, p = Xv.shape
    est, se, df = {}, {}, {}
    for key, fit in fits.items():
        if fit is None:
            continue
        est[key], se[key] = fit.params[:, j], np.sqrt(fit.cov[:, j, j])
        if key == "default" and not gaussian:  # reml_sat: the latent model's plug-in cov
            est["reml_sat"] = fit.params[:m, j]
            se["reml_sat"] = np.sqrt(fit.cov_model[:m, j, j])
        # satterthwaite_df for the coefficient, for all replications at once
        d = fit.dcov[:, :, j, j]
        var = np.einsum("rm,rmn,rn->r", d, fit.W, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            df[key] = np.where(var > 0, 2 * fit.cov_model[:, j, j] ** 2 / var, np.inf)
        df[key] = np.maximum(df[key], 1.0)  # bounded below by 1, as ek.its does
    if gaussian:
        est["reml_kr"], se["reml_kr"], df["reml_kr"] = (est["default"][:m], se["default"][:m],
                                                        df["default"][:m])
    else:
        df["reml_sat"] = df["default"][:m]
    lags = newey_west_lags(n // len(np.unique(groups)))
    hac = hac_cov(fits["none"], Y[:m], Xv, offset, groups, gaussian=gaussian, lags=lags)
    est["hac"], se["hac"], df["hac"] = est["none"], np.sqrt(hac[:, j, j]), n - p
    # The old default: Breusch-Godfrey (lags 1 and 12) on the treated series' residuals.
    treated = groups == 0
    resid = _residuals(fits["none"], Y[:m], Xv, offset, gaussian)[:, treated]
    pval = breusch_godfrey_p(resid, Xv[treated], 1)
    if treated.sum() >= 36:
        pval = np.minimum(pval, breusch_godfrey_p(resid, Xv[treated], 12))
    remedy = "hac" if controlled else "moment"
    reject = pval < 0.05
    covered = {}
    for key in ("default", "reml_sat", "reml_kr", "moment", "none", "hac"):
        q = stats.t.ppf(0.975, df[key])
        covered[key] = np.abs(est[key] - truth) <= q * se[key]
    covered["pretest"] = np.where(reject, covered[remedy], covered["none"])
    est["pretest"] = np.where(reject, est[remedy], est["none"])
    se["pretest"] = np.where(reject, se[remedy], se["none"])
    rows = [{**cell, "remedy": key, "replications": len(covered[key]),
             "coverage": covered[key].mean(),
             "bias": float(np.mean(est[key] - truth)), "empirical_se": float(np.std(est[key])),
             "mean_se": float(np.mean(se[key]))} for key in REMEDIES]
    rows[-1]["pretest_rejects"] = float(reject.mean())
    check = _check_default(Y[0], X, offset, groups, cell, est["default"][0], se["default"][0],
                           df["default"][0])
    return rows, check


def _check_default(y, X, offset, groups, cell, est, se, df) -> dict:
    """``ek.its`` with its defaults on one replication gives the batch fit's interval."""
    n_pre, family, controlled = cell["n_pre"], cell["family"], cell["controlled"]
    frame = pd.DataFrame({"t": np.tile(np.arange(cell["n_pre"] + cell["n_post"]),
                                       2 if controlled else 1),
                          "y": y, "pop": np.exp(offset), "comparison": groups})
    res = ek.its(frame, outcome="y", time="t", start=n_pre, family=family,
                 denominator="pop" if family == "quasipoisson" else None,
                 seasonality={"fourier": 1, "period": 12},
                 control="comparison" if controlled else None, horizons=())
    rec = res.effects.set_index("estimand").loc[f"{cell['change']}_change"]
    low, high = rec["ci_low"], rec["ci_high"]
    if family == "quasipoisson":
        low, high = np.log(low), np.log(high)
    q = stats.t.ppf(0.975, df)
    return {"max_abs_difference": float(max(abs(low - (est - q * se)),
                                            abs(high - (est + q * se))))}


def main(reps: int, part: int = 0, parts: int = 1, others: int | None = None,
         families: tuple[str, ...] = FAMILIES, cells: set[int] | None = None,
         log: Path | None = None) -> tuple[pd.DataFrame, float]:
    warnings.filterwarnings("ignore")
    rows, worst = [], 0.0
    grid = itertools.product(SIZES, RHOS, FAMILIES, CHANGES, CONTROLS)
    for k, ((n_pre, n_post), rho, family, change, controlled) in enumerate(grid):
        if k % parts != part or family not in families or (cells and k not in cells):
            continue
        cell = dict(n_pre=n_pre, n_post=n_post, rho=rho, family=family, change=change,
                    controlled=controlled)
        out, check = run_cell(reps, 22_000 + k, others, **cell)
        rows += out
        worst = max(worst, check["max_abs_difference"])
        out[0]["check"] = check["max_abs_difference"]
        if log is not None:  # each cell as it is done, so an interrupted run keeps its cells
            pd.DataFrame(out).to_csv(log, mode="a", header=not log.exists(), index=False)
        print(k, cell, {r["remedy"]: round(r["coverage"], 3) for r in out}, flush=True)
    return pd.DataFrame(rows), worst


def flat_rho_note() -> list[str]:
    """The frailty-inequalities robust variant (issue 22): the controlled count ITS of
    emergency admissions without the 12 months before the start, where the rho likelihood
    is nearly flat. Compares the earlier df (Var(rho) from the curvature in rho alone, tau2
    held, as the latent model's first version took it) with the current ones, and the fit's
    rho with the maximum of the restricted likelihood."""
    import importlib

    from scipy import optimize

    from evalkit.designs import its_model

    its_module = importlib.import_module("evalkit.designs.its")
    seen = {}
    original = its_module.fit_ar1

    def spy(y, X, offset, **kw):
        fit = original(y, X, offset, **kw)
        seen.update(y=np.asarray(y, float), X=X, kw=kw, fit=fit)
        return fit

    data = ek.read(ROOT / "data" / "synthetic" / "frailty-inequalities" / "panel.csv")
    kept = data[(data["month"] < "2018-10") | (data["month"] > "2019-09")]
    rows = []
    its_module.fit_ar1 = spy
    try:
        for label, frame in (("main analysis", data), ("robust variant", kept)):
            res = ek.its(frame, outcome="emergency_admissions", time="month",
                         start="2019-10", treated="treated", control="comparison",
                         denominator="list_size", family="quasipoisson",
                         seasonality={"fourier": 2, "period": 12}, horizons=())
            fit, X = seen["fit"], seen["X"]
            j = list(X.columns).index("group_level_change")
            Xv = X.to_numpy(float)
            seg = np.asarray(seen["kw"]["segments"])
            first = np.r_[True, seg[1:] != seg[:-1]]
            mu = fit.mu[None]
            w = (seen["y"][None] - mu) / mu

            def reml(r, lt, mu=mu, w=w, Xv=Xv, first=first):
                return its_model.latent_reml_objective(np.array([r]), np.array([np.exp(lt)]),
                                                       mu, w, Xv, first)[0]

            h = 0.005
            lt = np.log(fit.tau2)
            curv = -(reml(fit.rho + h, lt) - 2 * reml(fit.rho, lt) + reml(fit.rho - h, lt)) / h**2
            slope = (reml(fit.rho + h, lt) - reml(fit.rho - h, lt)) / (2 * h)
            rec = res.effects.set_index("estimand").loc["level_change"]
            best = optimize.minimize(lambda x: -reml(x[0], x[1]), [fit.rho, lt],
                                     method="L-BFGS-B",
                                     bounds=[(-0.9, 0.98), its_model.LOG_TAU2_BOUNDS])
            q = (np.log(rec["ci_high"]) - np.log(rec["ci_low"])) / (2 * rec["se"])
            df_now = optimize.brentq(lambda v, q=q: stats.t.ppf(0.975, v) - q, 0.5, 1e7)
            # the earlier df and interval: plug-in SE, W = diag(2 s2^2 / (n - p), 1 / curv),
            # dcov = (Phi / s2, dPhi / drho at tau2 held)
            n, p = Xv.shape
            Z = np.concatenate([np.broadcast_to(Xv, (1, n, p)), w[:, :, None]], axis=2)

            def plug_in(r, Z=Z, mu=mu, first=first, n=n, p=p, tau2=fit.tau2):
                gram = its_model.latent_gram(np.array([r]), tau2 * np.ones(1), mu, Z,
                                             first)[0][0]
                Ginv = np.linalg.inv(gram[:p, :p])
                s2 = (gram[p, p] - gram[:p, p] @ Ginv @ gram[:p, p]) / (n - p)
                return Ginv * s2, s2

            cov0, s2 = plug_in(fit.rho)
            d_rho = (plug_in(fit.rho + h)[0][j, j] - plug_in(fit.rho - h)[0][j, j]) / (2 * h)
            var = (cov0[j, j] / s2) ** 2 * 2 * s2**2 / (n - p) + d_rho**2 / curv
            df_then = 2 * cov0[j, j] ** 2 / var
            est = np.log(rec["estimate"])
            half = stats.t.ppf(0.975, max(df_then, 1.0)) * np.sqrt(cov0[j, j])
            ci_then = (np.exp(est - half), np.exp(est + half))
            sc = res.effects.set_index("estimand").loc["slope_change"]
            q_s = (np.log(sc["ci_high"]) - np.log(sc["ci_low"])) / (2 * sc["se"])
            df_slope = optimize.brentq(lambda v, q=q_s: stats.t.ppf(0.975, v) - q, 0.5, 1e7)
            rows.append(dict(label=label, rho=fit.rho, curv=curv, slope=slope,
                             df_slope=df_slope, ci_slope=(sc["ci_low"], sc["ci_high"]),
                             best_rho=best.x[0], gain=-best.fun - reml(fit.rho, lt),
                             df_now=df_now, ci=(rec["ci_low"], rec["ci_high"]),
                             df_then=df_then, ci_then=ci_then))
    finally:
        its_module.fit_ar1 = original
    lines = ["## A near-flat rho likelihood: frailty-inequalities' robust variant", "",
             "The robust variant of frailty-inequalities' controlled ITS of emergency "
             "admissions leaves out the 12 months before the start (selection at a peak). "
             "With the latent model's first df (Var(rho-hat) from the curvature of the "
             "restricted likelihood in rho alone, tau2 held) and its plug-in SE, its df "
             "were below 1, bounded at 1, and its interval was very wide. What the fit "
             "shows:", ""]
    for r in rows:
        lines.append(
            f"- {r['label']}: earlier df {r['df_then']:.2f} (95% CI for the rate ratio "
            f"{r['ci_then'][0]:.2f} to {r['ci_then'][1]:.2f}, df bounded below by 1). The "
            f"fit's rho is {r['rho']:.2f}; there the restricted "
            f"log-likelihood in rho alone (tau2 held) rises with slope {r['slope']:.1f} "
            f"and has curvature {r['curv']:.2f}, so it is not at its maximum; maximised "
            f"jointly over rho and tau2 it is {r['gain']:.2f} higher at rho "
            f"{r['best_rho']:.2f}. The df now (W from the joint information) are "
            f"{r['df_now']:.1f}, and the 95% CI for the rate ratio {r['ci'][0]:.2f} to "
            f"{r['ci'][1]:.2f}; for the slope change (a monthly rate ratio) the df are "
            f"{r['df_slope']:.1f} and the CI {r['ci_slope'][0]:.3f} to "
            f"{r['ci_slope'][1]:.3f}.")
    lines += ["",
              "So the earlier df misbehaved, but not at a boundary of the formula: they took "
              "Var(rho-hat) as one over the curvature of the restricted likelihood in rho "
              "alone, at a point where that likelihood is still rising (a flat ridge in rho "
              "and tau2 that the fixed number of REML rounds had not climbed), so the "
              "curvature was close to zero and Var(rho-hat) huge. The joint information of "
              "the three covariance parameters is positive definite there and gives the df "
              "above. The likelihood is genuinely flat along that ridge (the gains above, a "
              "few tenths to under two log-likelihood units over a wide range of rho), and "
              "for the robust variant its maximum lies at or next to rho's upper bound "
              "(0.98). Near rho = 1 the latent process is close to a random walk, which a "
              "slope change resembles, so the variance of slope-related contrasts (the slope "
              "change, the effect at 12 months) moves steeply with rho: their df are at or "
              "near the bound of 1 and their intervals very wide. That is the flat "
              "likelihood speaking rather than a fault of the df formula, but it rests on a "
              "fit that has not reached the REML maximum. The REML fit itself is therefore "
              "not converged on such series: a search over the whole range of rho (profiled "
              "over tau2) would move rho towards 0.98, with effects on the estimate and its "
              "interval that this study has not measured. Not done here; an open point.", ""]
    return lines


def other_seeds_note(reps: int = 1000, seeds: tuple[int, ...] = (5001, 5002, 5003, 5004)
                     ) -> list[str]:
    """The short count cells with rho 0.6, the default only, at seeds other than the
    grid's: whether their coverage holds beyond the grid's draws."""
    lines = []
    for controlled in CONTROLS:
        for change in CHANGES:
            cov = []
            for seed in seeds:
                rows, _ = run_cell(reps, seed, others=10, n_pre=24, n_post=12, rho=0.6,
                                   family="quasipoisson", change=change,
                                   controlled=controlled)
                cov.append(next(r["coverage"] for r in rows if r["remedy"] == "default"))
            mean = float(np.mean(cov))
            se = np.sqrt(mean * (1 - mean) / (reps * len(cov)))
            lines.append(f"{change} change, {'with' if controlled else 'without'} a "
                         f"comparison series: {', '.join(f'{c:.1%}' for c in cov)} (mean "
                         f"{mean:.1%}, Monte Carlo SE {se:.1%})")
    return ["## Beyond the grid's draws: short count series", "",
            "The grid's 24/12 count cells with rho 0.6 sit close to 93%. Re-run at "
            f"{len(seeds)} other seeds, {reps} replications each (the default only): "
            + "; ".join(lines) + ". Without a comparison series the grid's seeds were "
            "favourable draws: the default's coverage there is below the 93-97% target. "
            "With 36 points, three covariance parameters (the latent variance, the Poisson "
            "share and rho) are estimated from one short series, and many fits sit on a "
            "boundary of that space; the first-order (Kenward-Roger-type) adjustment does "
            "not recover all of the variance this adds. A comparison series, with its own "
            "36 points and a common rho, carries more information about them. Open: a "
            "bootstrap or a higher-order adjustment for short count series.", ""]


def _pct(v: float, reps: int) -> str:
    return f"{v:.1%} ({np.sqrt(v * (1 - v) / reps):.1%})"


def write(table: pd.DataFrame, reps: int, seconds: float, worst: float) -> str:
    """docs/its-coverage.md from the grid's results."""
    keys = ["n_pre", "n_post", "rho", "family", "change", "controlled"]
    wide = table.pivot_table(index=keys, columns="remedy", values="coverage", sort=False)
    wide = wide[list(REMEDIES)]
    rejects = table.dropna(subset=["pretest_rejects"]).set_index(keys)["pretest_rejects"]
    reps_by = table.groupby("remedy")["replications"].min()
    n_by = table.pivot_table(index=keys, columns="remedy", values="replications",
                             sort=False)[list(REMEDIES)]
    shown = wide.copy()
    for col in wide.columns:
        shown[col] = [_pct(v, r) for v, r in zip(wide[col], n_by[col], strict=True)]
    shown = shown.reset_index()
    shown["before/after"] = shown["n_pre"].astype(str) + "/" + shown["n_post"].astype(str)
    shown["comparison"] = shown.pop("controlled").map({True: "yes", False: "no"})
    shown["pre-test rejects"] = rejects.to_numpy()
    shown["pre-test rejects"] = shown["pre-test rejects"].map(lambda v: f"{v:.0%}")
    shown = shown[["before/after", "rho", "family", "change", "comparison", *REMEDIES,
                   "pre-test rejects"]]
    in_band = ((wide >= 0.93) & (wide <= 0.97))
    summary = pd.DataFrame({
        "remedy": [REMEDIES[k] for k in REMEDIES],
        "cells in 93-97%": [f"{int(in_band[k].sum())} of {len(wide)}" for k in REMEDIES],
        "lowest": [f"{wide[k].min():.1%}" for k in REMEDIES],
        "mean": [f"{wide[k].mean():.1%}" for k in REMEDIES],
        "highest": [f"{wide[k].max():.1%}" for k in REMEDIES]})
    default = table[table["remedy"] == "default"].copy()
    default["before/after"] = default["n_pre"].astype(str) + "/" + default["n_post"].astype(str)
    default["comparison"] = default["controlled"].map({True: "yes", False: "no"})
    default["ratio of mean SE to empirical SE"] = (default["mean_se"]
                                                  / default["empirical_se"]).map("{:.2f}".format)
    for col in ("bias", "empirical_se", "mean_se"):
        default[col] = default[col].map("{:+.4f}".format if col == "bias" else "{:.4f}".format)
    default = default[["before/after", "rho", "family", "change", "comparison", "bias",
                       "empirical_se", "mean_se", "ratio of mean SE to empirical SE"]]
    low = wide["default"].idxmin()
    by_size = wide["default"].groupby(level=["n_pre", "n_post"], sort=False).agg(["min", "mean"])
    size_text = "; ".join(f"{a}/{b}: lowest {v['min']:.1%}, mean {v['mean']:.1%}"
                          for (a, b), v in by_size.iterrows())
    mcse = np.sqrt(0.95 * 0.05 / reps)
    others = int(reps_by.drop("default").min())
    best = (wide.sub(0.95).abs().idxmin(axis=1) == "default").sum()
    idx = wide.index.to_frame(index=False)
    ctl = wide[idx["controlled"].to_numpy()]
    rej3 = rejects[(idx["rho"] == 0.3).to_numpy()]
    rej0 = rejects[(idx["rho"] == 0).to_numpy()]
    rho0 = wide[(idx["rho"] == 0).to_numpy()]
    counts6 = (idx["family"] == "quasipoisson") & (idx["rho"] == 0.6)
    short = (idx["n_pre"] == 24) & (idx["rho"] > 0) & (idx["family"] == "gaussian")
    long_ = idx["n_pre"] > 24
    counts_short = (idx["n_pre"] == 24) & (idx["rho"] > 0) & (idx["family"] == "quasipoisson")
    long_counts = (long_ & (idx["family"] == "quasipoisson")).to_numpy()
    plug = table[(table["remedy"] == "reml_sat") & (table["family"] == "quasipoisson")
                 & (table["n_pre"] == 24) & (table["rho"] > 0) & (table["change"] == "level")]
    plug_ratio = plug["mean_se"] / plug["empirical_se"]
    outside = wide["default"][~in_band["default"]]
    if len(outside):
        miss = "; ".join(f"{a}/{b}, rho {r:g}, {f}, {c} change, "
                         f"{'with' if x else 'without'} a comparison series: {v:.1%}"
                         for (a, b, r, f, c, x), v in outside.items())
        chance = 2 * stats.norm.sf(0.02 / mcse)
        out_idx = outside.index.to_frame(index=False)
        short_counts = bool(((out_idx["n_pre"] == 24) & (out_idx["rho"] > 0)
                             & (out_idx["family"] == "quasipoisson")).all())
        outside_text = (f"Cells outside 93-97% ({len(outside)}): {miss}. With {reps} "
                        "replications a cell, a cell whose true coverage is 95% falls outside "
                        f"93-97% with probability {chance:.1%}, so chance alone would put "
                        f"about {len(wide) * chance:.1f} of {len(wide)} cells outside"
                        + ("; these are all short count series (24/12) with "
                           "autocorrelation." if short_counts else "."))
    else:
        outside_text = "Every cell is within 93-97%."
    choice = [
        "## The default and why", "",
        "`ek.its` fits, whatever the pre-tests say, with or without a comparison series "
        "(each series its own AR(1) process, with a common rho):", "",
        "- gaussian outcomes: regression with AR(1) errors by GLS (Prais-Winsten, the first "
        "point kept), rho by restricted maximum likelihood (REML, the restricted likelihood "
        "profiled over the scale, maximised on a grid and then by golden-section search: "
        "`evalkit.designs.its_model.reml_rho`), Kenward and Roger's (1997) small-sample "
        "adjusted covariance of the coefficients (`kenward_roger`), and t quantiles with "
        "Satterthwaite degrees of freedom for each estimand, 2 v^2 / (g' W g), where v is "
        "the model-based variance and W the inverse of the expected REML information for "
        "the scale and rho (`satterthwaite_df`);",
        "- counts (Poisson and quasi-Poisson): Zeger's (1988) parameter-driven model, a "
        "latent AR(1) process on the log scale under Poisson noise, Var y = s2 (mu + tau2 "
        "mu^2) and Cov(y_t, y_u) = s2 tau2 mu_t mu_u rho^|t-u|. The coefficients solve the "
        "quasi-likelihood equations with that covariance; rho and tau2 maximise the "
        "restricted likelihood of the link-scale residuals (y - mu) / mu (with s2 profiled "
        "out) (`fit_latent_ar1_batch`). The covariance of the coefficients has a "
        "Kenward-Roger-type small-sample adjustment (`latent_kenward_roger`): the link-scale "
        "residuals have covariance Sigma = a diag(1/mu) + b R(rho), with theta = (a, b, "
        "rho) = (s2, s2 tau2, rho), and the adjusted covariance is Phi + 2 Phi [sum W_ij "
        "(Q_ij - P_i Phi P_j)] Phi, Kackar and Harville's (1984) variance from estimating "
        "theta counted twice as in Kenward and Roger (1997), with W the inverse of the "
        "observed REML information for theta (a pseudo-inverse on its positive directions). "
        "Kenward and Roger's second-derivative term (R_ij, zero for a and b, which enter "
        "Sigma linearly) is left out for rho: with it the adjusted covariance was indefinite "
        "(a negative variance) in about one short series in ten, where W is poorly "
        "determined. The df are Satterthwaite's, 2 v^2 / (g' W g), over the three "
        "parameters. The covariance is applied through Woodbury's identity and a "
        "tridiagonal solve, so a fit costs O(n) per series;", "",
        "Negative binomial and binomial outcomes keep Newey-West (no AR fit there; not "
        "studied here). The same default is fitted to every unit of a batch ITS (`ek.its` "
        "with a unit column).", "",
        f"It covers 93-97% in {int(in_band['default'].sum())} of {len(wide)} cells (mean "
        f"{wide['default'].mean():.1%}, lowest {wide['default'].min():.1%}, highest "
        f"{wide['default'].max():.1%}), and comes closest to 95% of the remedies studied in "
        f"{best}. {outside_text} At rho = 0 it costs little: mean coverage "
        f"{rho0['default'].mean():.1%}, against {rho0['none'].mean():.1%} without a remedy.",
        "",
        "What changed from the previous default (`moment`: the lag-1 autocorrelation of the "
        "residuals, bias-corrected by (1 + 3 rho) / n + p / n, Satterthwaite df with "
        "Var(rho) taken as (1 - rho^2) / n, and for counts an AR(1) working correlation of "
        "the Pearson residuals), and why:", "",
        "- Short gaussian series (24/12, rho 0.3 or 0.6): the previous default covered "
        f"{wide['moment'][short.to_numpy()].min():.1%} to "
        f"{wide['moment'][short.to_numpy()].max():.1%}, the new one "
        f"{wide['default'][short.to_numpy()].min():.1%} to "
        f"{wide['default'][short.to_numpy()].max():.1%}. REML removes most of the downward "
        "bias of rho that comes from estimating the regression (Cheang and Reinsel, 2000), "
        "and the REML information gives a realistic, larger variance of rho-hat than "
        "(1 - rho^2) / n, so the df are small when rho is high and the series short. REML "
        "with model-based standard errors (`reml_sat`) still covered only "
        f"{wide['reml_sat'][short.to_numpy()].min():.1%} to "
        f"{wide['reml_sat'][short.to_numpy()].max():.1%} there: the plug-in variance at an "
        "estimated rho is biased down and ignores the extra variance of the coefficients "
        "that comes from estimating rho, which is what Kenward and Roger's adjustment adds.",
        "- Counts with rho = 0.6: the previous default covered "
        f"{wide['moment'][counts6.to_numpy()].min():.1%} to "
        f"{wide['moment'][counts6.to_numpy()].max():.1%}, the new one "
        f"{wide['default'][counts6.to_numpy()].min():.1%} to "
        f"{wide['default'][counts6.to_numpy()].max():.1%}. Poisson noise on top of a latent "
        "AR(1) process makes the Pearson residuals ARMA(1, 1): their lag-1 autocorrelation "
        "is only about 0.56 rho here, and their correlation decays more slowly than that of "
        "an AR(1) with that lag-1 value, so an AR(1) working model of the residuals "
        "understated the variance of level and slope changes at every series length. "
        "Modelling the latent process and the Poisson noise separately removes that. The "
        "AR(1) Pearson-residual model with REML and Kenward-Roger (`reml_kr` for counts) "
        f"covers {wide['reml_kr'][counts6.to_numpy() & long_.to_numpy()].min():.1%} to "
        f"{wide['reml_kr'][counts6.to_numpy() & long_.to_numpy()].max():.1%} at rho 0.6 in "
        "48/36 and 72/48 series (its misfit remains), and "
        f"{wide['reml_kr'][counts_short.to_numpy()].min():.1%} to "
        f"{wide['reml_kr'][counts_short.to_numpy()].max():.1%} in 24/12 series with rho 0.3 "
        f"or 0.6, against {wide['default'][counts_short.to_numpy()].min():.1%} to "
        f"{wide['default'][counts_short.to_numpy()].max():.1%} for the latent model.",
        "- Short count series (24/12, rho 0.3 or 0.6): the latent model with its plug-in "
        f"covariance (`reml_sat` for counts) covers "
        f"{wide['reml_sat'][counts_short.to_numpy()].min():.1%} to "
        f"{wide['reml_sat'][counts_short.to_numpy()].max():.1%} (on the first "
        f"{int(n_by['reml_sat'][counts_short.to_numpy()].min())} replications; on all 1000, "
        "before the adjustment, four of these cells covered 92.3% to 92.9%), with its mean "
        f"SE {plug_ratio.min():.2f} to {plug_ratio.max():.2f} times the empirical SE in the "
        "level-change cells: three covariance parameters are estimated from 36 points. The "
        "small-sample adjustment brings them "
        f"to {wide['default'][counts_short.to_numpy()].min():.1%} to "
        f"{wide['default'][counts_short.to_numpy()].max():.1%}, and leaves longer count "
        f"series at {wide['default'][long_counts].min():.1%} to "
        f"{wide['default'][long_counts].max():.1%}. "
        "In 24/12 count series the REML estimates often sit on a boundary (no latent "
        "variance, or no Poisson share), where the information for rho is near zero; W's "
        "pseudo-inverse then treats those directions as known.", "",
        "The older alternatives do worse. Newey-West with the Newey-West (1994) lag rule "
        f"and t quantiles covers {wide['hac'].min():.1%} to {wide['hac'].max():.1%} (mean "
        f"{wide['hac'].mean():.1%}): with 36 to 120 points per series the kernel estimate of "
        "the long-run variance is biased down, even at rho = 0. The older default's pre-test "
        f"covers {wide['pretest'].mean():.1%} on average, and {ctl['pretest'].mean():.1%} in "
        "controlled ITS, where it fell back to Newey-West. Its Breusch-Godfrey tests "
        "(column 'pre-test rejects') reject too rarely at moderate autocorrelation to protect "
        f"the intervals (in as few as {rej3.min():.0%} of series at rho = 0.3), and too "
        f"often where there is none ({rej0.min():.0%} to {rej0.max():.0%} at rho = 0, for a "
        "nominal 5% test, taken twice); no pre-test gates the default. Not studied: "
        "Kiefer-Vogelsang fixed-b HAC intervals, a parametric bootstrap of rho, and ARMA "
        "errors of higher order.", "",
        "Not in this grid: noise shared by the treated and comparison series (common shocks). "
        "The model treats the two series' noise as independent; shared noise cancels in the "
        "difference of their changes but still enters the estimated variance, so intervals "
        "are expected to be conservative then (not checked here). Counts whose extra-Poisson "
        "variance is not autocorrelated (white overdispersion) are fitted as a latent "
        "process with a smaller rho; not studied here.", "",
    ]
    return "\n".join([
        "# ITS coverage study", "",
        f"Generated by `OMP_NUM_THREADS=1 nice python benchmarks/its_coverage.py --reps {reps} "
        "--others N` (run as several processes, each on part of the grid with "
        f"`--part`, `--family` or `--cells`, merged with `--from-csv`; about "
        f"{seconds / 60:.0f} minutes of wall-clock time on a shared two-core "
        f"{platform.platform()}): the default on {reps} replications a cell, "
        f"so a coverage of 95% has a Monte Carlo SE of {mcse:.1%}; the other remedies, which "
        f"are only there for comparison, on the first {others} to "
        f"{int(table.loc[table['remedy'] != 'default', 'replications'].max())} of them "
        "(see the table: each coverage is followed by its own Monte Carlo SE), to keep the "
        "run within the time a shared machine allows.", "",
        "## The grid", "",
        "Monthly series with 24/12, 48/36 or 72/48 points before/after the interruption; "
        "AR(1) errors with rho 0, 0.3 or 0.6; a level change or a slope change; with or "
        "without a comparison series (controlled ITS). Every fit has a trend, a level and a "
        "slope change and one Fourier harmonic, as the schemes' analyses do. Gaussian: mean "
        "50, error SD 2, level change -3 or slope change -0.1 a month. Counts: about 200 "
        "events a month with a population offset, latent AR(1) noise (SD 0.08) on the log "
        "scale, a rate ratio of 0.85 or a slope change of log(0.995) a month, fitted as "
        "quasi-Poisson; rho is the latent noise's, so the Pearson residuals' own lag-1 "
        "autocorrelation is about 0.56 rho. The comparison series has the same shape at "
        "another level, no effect and its own AR(1) noise, independent of the treated "
        "series'. Coverage is of the estimand that changes (the level change, or the slope "
        "change), on the log scale for counts. Target: 93-97%.", "",
        "Remedies:", "",
        *[f"- `{k}`: {v}" for k, v in REMEDIES.items()], "",
        "`default` is what `ek.its(autocorrelation=\"auto\")` now fits: for every cell the "
        "script checks that `ek.its` gives the batch fit's interval on the cell's first "
        f"replication (largest difference in a bound: {worst:.1g}). `pretest` re-creates "
        "the older default from the same fits (the Breusch-Godfrey tests at lags 1 and 12 on "
        "the treated series' residuals, as `its.py` computes them), with this study's "
        "Newey-West intervals where the old code used statsmodels' (normal quantiles for "
        "counts, so the old default covered no better than shown).", "",
        *choice,
        *flat_rho_note(),
        *other_seeds_note(),
        "## Summary", "",
        summary.to_markdown(index=False), "",
        f"By series length, the default: {size_text}. Its lowest cell: {low[0]}/{low[1]}, "
        f"rho {low[2]:g}, {low[3]}, {low[4]} change, {'with' if low[5] else 'without'} a "
        f"comparison series, at {wide.loc[low, 'default']:.1%}.",
        "",
        "## Coverage of 95% intervals (Monte Carlo SE)", "",
        shown.to_markdown(index=False), "",
        "## Default: bias and standard errors", "",
        "Bias and empirical SE of the estimate over replications, and the mean of the "
        "reported SEs (log scale for counts).", "",
        default.to_markdown(index=False), "",
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "its-coverage.md")
    parser.add_argument("--csv", type=Path, help="also write the results table here")
    parser.add_argument("--cells", type=int, nargs="+",
                        help="run only these cells (their numbers in the grid's order); each "
                             "is appended to --csv as it is done")
    parser.add_argument("--family", nargs="+", default=list(FAMILIES),
                        help="run only the cells of these families")
    parser.add_argument("--others", type=int,
                        help="replications a cell for the remedies other than the default "
                             "(default: --reps)")
    parser.add_argument("--part", default="0/1",
                        help="run only cells k with k %% N == K, given as K/N (the table is "
                             "then written to --csv only; merge the parts with --from-csv)")
    parser.add_argument("--from-csv", type=Path, nargs="+",
                        help="write the doc from these results tables instead of running")
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="with --from-csv: the run's total time, for the doc")
    args = parser.parse_args()
    if args.from_csv:
        table = pd.concat([pd.read_csv(f) for f in args.from_csv], ignore_index=True)
        keys = ["n_pre", "n_post", "rho", "family", "change", "controlled"]
        order = {c: i for i, c in enumerate(itertools.product(
            SIZES, RHOS, FAMILIES, CHANGES, CONTROLS))}
        table["_k"] = [order[((a, b), r, f, c, bool(x))] for a, b, r, f, c, x in
                       table[keys].itertuples(index=False)]
        table = table.sort_values(["_k"], kind="stable").drop(columns="_k")
        reps = int(table.loc[table["remedy"] == "default", "replications"].min())
        worst = float(table["check"].max())
        text = write(table.reset_index(drop=True), reps, args.seconds, worst)
        args.out.write_text(text, encoding="utf-8")
        print(text)
        raise SystemExit(0)
    part, parts = (int(v) for v in args.part.split("/"))
    t0 = time.perf_counter()
    table, worst = main(args.reps, part, parts, args.others, tuple(args.family),
                        set(args.cells or ()), args.csv if args.cells else None)
    seconds = time.perf_counter() - t0
    if args.csv and not args.cells:
        table.to_csv(args.csv, index=False)
    if parts > 1 or args.cells:
        print(f"part {part}/{parts}: {seconds:.0f} s")
        raise SystemExit(0)
    text = write(table, args.reps, seconds, worst)
    args.out.write_text(text, encoding="utf-8")
    print(text)
