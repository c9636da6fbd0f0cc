"""Power and the minimum detectable effect of an interrupted time series (ITS), by
simulation from the user's own pre-period.

The pre-period of the observed series (one series, or the treated and comparison
series of a controlled ITS) is fitted with the model :func:`evalkit.its` uses by
default: GLS with AR(1) errors (quasi-Poisson with a log link for counts, Prais-Winsten
for gaussian outcomes), with the same trend, seasonal terms and offset. New series are
simulated from that fit, keeping its seasonality, its lag-1 autocorrelation and its
overdispersion, and run on past the start for each follow-up length. An effect (a step
in level from the start) is planted, and every replication is refitted with the default
ITS estimator, all replications at once (:func:`~evalkit.designs.its_model.fit_ar1_batch`
solves the batch of GLS fits with batched linear algebra).

The standard error under no effect is the standard deviation of the level-change
estimates over replications with no effect; the MDE is ``(z_{1-alpha/2} + z_power)``
times it when the ITS's intervals are right. In general it is the effect the ITS's own
test detects with the target power: its critical value times its (median) standard error
plus ``z_power`` times the simulated standard deviation; the curve's ``se`` is that MDE
divided by ``z_{1-alpha/2} + z_power``, and ``simulated_sd`` the plain spread.

Power against a named effect is the share of replications, with that effect planted, in
which the ITS's own test (t with Satterthwaite df) rejects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal, stats

from evalkit.data.inputs import takes_frame
from evalkit.data.periods import parse_period, parse_periods
from evalkit.designs.its import _aggregate, _select_series
from evalkit.designs.its_model import Interruption, design_matrix, fit_ar1_batch
from evalkit.errors import DesignError
from evalkit.power.mde import FOLLOWUPS, multiplier
from evalkit.power.result import PowerResult, mde_columns

__all__ = ["its_mde", "simulate_its", "ar1_noise"]

MIN_POINTS = 8  # the fewest points evalkit.its accepts on each side


def ar1_noise(rng: np.random.Generator, reps: int, n: int, rho: float,
              first: np.ndarray | None = None) -> np.ndarray:
    """``reps`` x ``n`` stationary AR(1) series with unit variance and lag-1 correlation
    ``rho``, restarting (independently) at each True of ``first``."""
    first = np.r_[True, np.zeros(n - 1, bool)] if first is None else np.asarray(first, bool)
    e = rng.standard_normal((reps, n))
    out = np.empty_like(e)
    s = np.sqrt(1 - rho**2)
    starts = list(np.flatnonzero(first)) + [n]
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        x = e[:, a:b] * s
        x[:, 0] = e[:, a]  # stationary start
        out[:, a:b] = signal.lfilter([1.0], [1.0, -rho], x, axis=1)
    return out


def simulate_its(mu: np.ndarray, X: np.ndarray, offset: np.ndarray, *, column: int,
                 family: str, rho: float, scale: float, effect: float, reps: int,
                 rng: np.random.Generator, segments: np.ndarray | None = None,
                 treated_post: np.ndarray) -> dict[str, np.ndarray]:
    """Simulate ``reps`` series around ``mu``, plant ``effect`` and refit them all.

    Parameters
    ----------
    mu
        The counterfactual mean of each point (counts: expected events; gaussian: mean).
    X, offset
        The ITS design matrix and log offsets the refit uses.
    column
        The column of ``X`` whose coefficient is the effect.
    family
        ``gaussian`` (``y = mu + sqrt(scale) e``) or ``quasipoisson`` (``y = mu' +
        sqrt(scale mu') e`` with ``mu' = mu exp(effect)`` after the start, cut at 0).
    rho, scale
        AR(1) correlation of ``e`` and the marginal variance (gaussian) or dispersion.
    effect
        Planted on the points where ``treated_post`` is true: a difference (gaussian) or a
        log rate ratio.
    segments
        Independent series fitted together (controlled ITS).

    Returns
    -------
    dict
        ``estimate``, ``se`` and ``df`` (Satterthwaite) of the coefficient, and
        ``reject`` at the given level is left to the caller.
    """
    n = len(mu)
    first = None if segments is None else np.r_[True, segments[1:] != segments[:-1]]
    e = ar1_noise(rng, reps, n, rho, first)
    if family == "gaussian":
        Y = mu + effect * treated_post + np.sqrt(scale) * e
    else:
        m = mu * np.exp(effect * treated_post)
        Y = np.maximum(m + np.sqrt(scale * m) * e, 0.0)
    fit = fit_ar1_batch(Y, X, offset, family=family, segments=segments)
    v = fit.cov[:, column, column]
    # Satterthwaite df of the coefficient, as ek.its computes them for one series
    # (evalkit.designs.its_model.satterthwaite_df), one per replication, bounded below by 1
    vm = fit.cov_model[:, column, column]
    d = fit.dcov[:, :, column, column]
    var = np.einsum("rm,rmn,rn->r", d, fit.W, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(var > 0, 2.0 * vm**2 / var, np.inf)
    df = np.maximum(df, 1.0)
    return {"estimate": fit.params[:, column], "se": np.sqrt(v), "df": df}


@takes_frame
def its_mde(data: pd.DataFrame, *, outcome: str, time: str, start: Any,
            family: str = "quasipoisson", denominator: str | None = None,
            seasonality: str | dict | None = None, slope_change: bool = True,
            treated: str | None = None, control: str | None = None, followup: int = 12,
            followups: Sequence[int] = FOLLOWUPS, effect: float | None = None,
            n_sims: int = 250, alpha: float = 0.05, power: float = 0.8,
            seed: int = 20260701) -> PowerResult:
    """MDE and power of a (controlled) ITS, simulated from the observed pre-period.

    Parameters
    ----------
    data, outcome, time, start, family, denominator, seasonality, slope_change, treated,
    control
        As for :func:`evalkit.its` (``family``: ``gaussian``, ``poisson`` or
        ``quasipoisson``; counts are simulated with the fitted overdispersion). Only rows
        before ``start`` are used.
    followup
        The planned follow-up, in periods.
    followups
        Follow-up lengths for the MDE curve (3 to 36 months, every 3, by default).
    effect
        A rate ratio (counts) or difference (gaussian) to give the power for.
    n_sims
        Replications for each follow-up length.
    alpha, power
        Two-sided level and target power.
    seed
        Random seed; results are reproducible.

    Returns
    -------
    PowerResult
        Curve columns also hold ``mean_se`` (the estimator's average standard error) and
        ``size`` (its rejection rate with no effect; near ``alpha`` when its intervals are
        right).
    """
    if family not in ("gaussian", "poisson", "quasipoisson"):
        raise DesignError(f"power by simulation is available for gaussian, poisson and "
                          f"quasipoisson ITS, not {family!r}",
                          fix="use family='quasipoisson' for counts")
    fam = "gaussian" if family == "gaussian" else "quasipoisson"
    file = data.attrs.get("source")
    if treated is not None or control is not None:
        data = _select_series(data, treated=treated, control=control, file=file)
        control = "_comparison" if control is not None else None
    codes, axis = parse_periods(data[time], file=file, column=time)
    s = parse_period(start, axis)
    series = _aggregate(data, outcome=outcome, codes=codes, denominator=denominator,
                        family=family, control=control)
    pre = series[series["t"] < s].reset_index(drop=True)
    controlled = control is not None
    n_pre = int((pre["control"] == 0).sum())
    if n_pre < MIN_POINTS:
        raise DesignError(f"only {n_pre} point(s) before the start; ITS needs at least "
                          f"{MIN_POINTS}", file=file, fix="extend the series back in time")
    first = int(pre["t"].min())
    monthly = axis.kind == "month"
    group = (1 - pre["control"].to_numpy()) if controlled else None
    seg_pre = pre["control"].to_numpy() if controlled else None
    Xpre = design_matrix(pre["t"].to_numpy(), [], first=first, seasonality=seasonality,
                         monthly=monthly, group=group)
    counts = fam != "gaussian"
    off_pre = np.log(pre["den"].to_numpy()) if counts and denominator else np.zeros(len(pre))
    base = fit_ar1_batch(pre["y"].to_numpy(float)[None], Xpre.to_numpy(float), off_pre,
                         family=fam, segments=seg_pre)
    beta, rho, scale = base.params[0], float(base.rho[0]), float(base.scale[0])
    impact = "step+slope" if slope_change else "step"
    it = Interruption(s, axis.label(s), impact)
    name = ("group_" if controlled else "") + "level_change"
    rng = np.random.default_rng(seed)
    kz = multiplier(alpha, power)
    followups = sorted({int(h) for h in followups} | {int(followup)})
    rows, power_sim, power_mde = [], None, None
    for h in followups:
        parts = []
        for c, part in pre.groupby("control", sort=True):
            post_t = np.arange(s, s + h)
            last_den = part["den"].iloc[-1]
            parts.append(pd.DataFrame({"t": np.r_[part["t"].to_numpy(), post_t],
                                       "den": np.r_[part["den"].to_numpy(),
                                                    np.full(h, last_den)],
                                       "control": c}))
        full = pd.concat(parts, ignore_index=True)
        t = full["t"].to_numpy()
        grp = (1 - full["control"].to_numpy()) if controlled else None
        seg = full["control"].to_numpy() if controlled else None
        Xcf = design_matrix(t, [], first=first, seasonality=seasonality, monthly=monthly,
                            group=grp).to_numpy(float)
        off = np.log(full["den"].to_numpy()) if counts and denominator else np.zeros(len(t))
        eta = Xcf @ beta + (off if counts else 0.0)
        mu = np.exp(eta) if counts else eta
        Xd = design_matrix(t, [it], first=first, seasonality=seasonality, monthly=monthly,
                           group=grp)
        col = list(Xd.columns).index(name)
        tp = ((t >= s) & (full["control"].to_numpy() == 0)).astype(float)
        sim = dict(family=fam, rho=rho, scale=scale, segments=seg, treated_post=tp,
                   rng=rng, reps=n_sims, column=col)
        null = simulate_its(mu, Xd.to_numpy(float), off, effect=0.0, **sim)
        sd = float(np.std(null["estimate"], ddof=1))
        crit = stats.t.ppf(1 - alpha / 2, null["df"])
        size = float(np.mean(np.abs(null["estimate"]) > crit * null["se"]))
        # The effect the ITS's own test (its critical value times its standard error)
        # detects with the target power, given the simulated spread of the estimate; equal
        # to (z_a + z_b) sd when the test's intervals are right.
        detect = float(np.median(crit * null["se"]) + stats.norm.ppf(power) * sd)
        rows.append({"followup": h, "sd": detect / kz, "simulated_sd": sd,
                     "mean_se": float(np.mean(null["se"])), "size": size,
                     "n_draws": n_sims, "below_minimum": h < MIN_POINTS})
        if h == followup:
            for target, key in ((detect, "mde"), (None, "effect")):
                if key == "effect":
                    if effect is None:
                        continue
                    target = float(np.log(effect)) if counts else float(effect)
                out = simulate_its(mu, Xd.to_numpy(float), off, effect=-abs(target)
                                   if key == "mde" else target, **sim)
                crit = stats.t.ppf(1 - alpha / 2, out["df"])
                share = float(np.mean(np.abs(out["estimate"]) > crit * out["se"]))
                if key == "mde":
                    power_mde = share
                else:
                    power_sim = share
    curve = pd.DataFrame(rows)
    baseline = float(pre.loc[pre["control"] == 0, "y"].tail(12).mean())
    cols = mde_columns(curve["sd"].to_numpy(), scale="ratio" if counts else "difference",
                       baseline=baseline, alpha=alpha, power=power)
    curve = pd.concat([curve[["followup"]], pd.DataFrame(cols),
                       curve.drop(columns=["followup", "sd"])], axis=1)
    warnings = []
    if followup < MIN_POINTS:
        warnings.append(f"A follow-up of {followup} periods is below the {MIN_POINTS} points "
                        "evalkit.its needs after the start.")
    if power_mde is not None and not 0.7 <= power_mde <= 0.9:
        warnings.append(f"Planted at the MDE, the ITS's own test rejected in "
                        f"{100 * power_mde:.0f}% of replications: its intervals are not "
                        f"close to the simulated spread.")
    method = (f"simulation from the pre-period fit ({'controlled ' if controlled else ''}ITS, "
              f"{fam} GLS with AR(1) errors, rho {rho:.2f}, "
              f"{'dispersion' if counts else 'variance'} {scale:.3g}; {n_sims} replications "
              "a follow-up length)")
    return PowerResult(
        design="controlled_its" if controlled else "its", outcome=outcome,
        scale="ratio" if counts else "difference", curve=curve, followup=int(followup),
        method=method, effect=effect, power=power_sim, alpha=alpha, target_power=power,
        baseline=baseline,
        diagnostics={"rho": rho, "scale": scale, "n_pre": n_pre, "n_units": 2 if controlled
                     else 1, "power_at_mde_simulated": power_mde,
                     "coefficients": dict(zip(Xpre.columns, map(float, beta), strict=True))},
        warnings=tuple(warnings))
