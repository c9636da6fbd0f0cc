"""Power and the minimum detectable effect of a matched-cohort comparison.

Analytic: the two-sample t test of the outcome (or, with pre-period outcomes, of each
person's change, as the matched difference-in-differences), with the standard deviation
taken from the user's cohort and ``ratio`` matched comparators for each treated person.
Power is the noncentral-t power of the pooled two-sample t test (as
``statsmodels.stats.power.TTestIndPower``); the MDE solves it for the target power.
A simulation check (normal outcomes, all replications at once) rides along.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from evalkit.data.inputs import takes_frame
from evalkit.errors import DataError, DesignError
from evalkit.power.result import PowerResult, mde_columns

__all__ = ["matched_mde", "t_test_power", "t_test_mde", "simulated_t_power"]

UNIT_MULTIPLES = (0.25, 0.5, 1.0, 2.0, 4.0)


def t_test_power(effect: float, sd: float, n1: float, n2: float, alpha: float = 0.05
                 ) -> float:
    """Power of the two-sided pooled two-sample t test against a difference ``effect``."""
    df = n1 + n2 - 2
    ncp = abs(effect) / (sd * np.sqrt(1 / n1 + 1 / n2))
    crit = stats.t.ppf(1 - alpha / 2, df)
    out = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
    return float(np.nan_to_num(out, nan=1.0))  # scipy gives NaN far out in the tail


def t_test_mde(sd: float, n1: float, n2: float, alpha: float = 0.05, power: float = 0.8
               ) -> float:
    """The difference the two-sided pooled t test detects with the given power."""
    se = sd * np.sqrt(1 / n1 + 1 / n2)
    return float(optimize.brentq(lambda d: t_test_power(d, sd, n1, n2, alpha) - power,
                                 1e-9 * se, 20 * se))


def simulated_t_power(effect: float, sd: float, n1: int, n2: int, *, alpha: float = 0.05,
                      reps: int = 4000, seed: int = 1) -> float:
    """Power of the pooled t test by simulation (normal outcomes; replications as rows)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(effect, sd, (reps, int(n1)))
    b = rng.normal(0.0, sd, (reps, int(n2)))
    df = n1 + n2 - 2
    pooled = ((n1 - 1) * a.var(axis=1, ddof=1) + (n2 - 1) * b.var(axis=1, ddof=1)) / df
    t = (a.mean(axis=1) - b.mean(axis=1)) / np.sqrt(pooled * (1 / n1 + 1 / n2))
    return float(np.mean(np.abs(t) > stats.t.ppf(1 - alpha / 2, df)))


@takes_frame
def matched_mde(data: pd.DataFrame, *, outcome: str, treated: str,
                pre: Sequence[str] | str | None = None, ratio: float = 1.0,
                n_treated: int | None = None, effect: float | None = None,
                alpha: float = 0.05, power: float = 0.8,
                unit_multiples: Sequence[float] = UNIT_MULTIPLES, n_sims: int = 4000,
                seed: int = 20260701) -> PowerResult:
    """MDE and power of a matched-cohort comparison, analytic with a simulation check.

    Parameters
    ----------
    data
        The cohort: one row a person (treated and potential comparators).
    outcome, treated
        The outcome and the 0/1 treated column.
    pre
        Pre-period outcome column(s): the analysis is then of the change from their mean
        (matched difference-in-differences).
    ratio
        Matched comparators for each treated person.
    n_treated
        Treated people planned (default: those in ``data``).
    effect
        A difference to give the power for.
    alpha, power, unit_multiples, n_sims, seed
        Level, target power, multiples of ``n_treated`` for the by-units frame,
        replications of the simulation check and its seed.

    Returns
    -------
    PowerResult
        ``diagnostics["power_at_mde_simulated"]`` is the simulated power at the MDE.
    """
    file = data.attrs.get("source")
    pre = [pre] if isinstance(pre, str) else list(pre or [])
    for col in [outcome, treated, *pre]:
        if col not in data.columns:
            raise DataError(f"no column {col!r}", file=file, column=col,
                            fix="name a column of the cohort")
    y = pd.to_numeric(data[outcome], errors="coerce")
    if pre:
        y = y - data[pre].apply(pd.to_numeric, errors="coerce").mean(axis=1)
    flag = pd.to_numeric(data[treated], errors="coerce")
    ok = y.notna() & flag.isin([0, 1])
    y, flag = y[ok].to_numpy(float), flag[ok].to_numpy(int)
    n1 = int(n_treated) if n_treated is not None else int(flag.sum())
    if n1 < 2 or (flag == 0).sum() < 2:
        raise DesignError("the power calculation needs at least 2 treated and 2 comparison "
                          "people", file=file, fix="check the treated column")
    n2 = max(2, int(round(ratio * n1)))
    # The within-arm standard deviation (pooled), so a real difference does not inflate it.
    v1, v0 = np.var(y[flag == 1], ddof=1), np.var(y[flag == 0], ddof=1)
    k1, k0 = (flag == 1).sum(), (flag == 0).sum()
    sd = float(np.sqrt(((k1 - 1) * v1 + (k0 - 1) * v0) / (k1 + k0 - 2)))
    level = float(np.mean(pd.to_numeric(data.loc[ok, outcome])[flag == 0]))
    kz = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)

    def row(n_t: float) -> dict:
        n_c = max(2.0, ratio * n_t)
        m = t_test_mde(sd, n_t, n_c, alpha, power)
        return {**mde_columns(np.array([m / kz]), scale="difference", baseline=level,
                              alpha=alpha, power=power), "n_treated": int(round(n_t)),
                "n_comparison": int(round(n_c))}

    planned = row(n1)
    curve = pd.DataFrame({k: np.atleast_1d(v) for k, v in planned.items()})
    curve.insert(0, "followup", np.nan)
    curve["n_draws"] = n_sims
    units = pd.DataFrame([{k: (float(np.atleast_1d(v)[0]) if not isinstance(v, int) else v)
                           for k, v in row(max(2.0, m * n1)).items()} | {"multiple": m}
                          for m in unit_multiples])
    units["n_units"] = units["n_treated"] + units["n_comparison"]
    mde_value = float(curve["mde"].iloc[0])
    check = simulated_t_power(mde_value, sd, n1, n2, alpha=alpha, reps=n_sims, seed=seed)
    return PowerResult(
        design="matched", outcome=outcome, scale="difference", curve=curve, followup=None,
        method=(f"two-sample t test, SD {sd:.4g} from the cohort"
                + (" (of the change from the pre-period)" if pre else "")
                + f", {n1} treated and {n2} matched comparators"),
        units=units, effect=effect,
        power=None if effect is None else t_test_power(effect, sd, n1, n2, alpha),
        alpha=alpha, target_power=power, baseline=level,
        diagnostics={"sd": sd, "n_units": n1 + n2, "n_treated": n1, "n_comparison": n2,
                     "power_at_mde_simulated": check})
