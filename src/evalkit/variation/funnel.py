"""Funnel plots: each unit's rate or proportion against control limits around a target.

A funnel plot shows each unit's indicator (a practice's emergency admission rate, a PCN's
share of patients reviewed) against its denominator, with control limits that narrow as
the denominator grows (Spiegelhalter, 2005a). A unit outside the limits differs from the
target by more than chance would usually produce; the 95% and 99.8% limits correspond
roughly to two and three standard errors.

Exact limits
    For a proportion with target ``theta`` and ``n`` people at risk, the count is
    binomial ``R ~ Bin(n, theta)``; for a rate with person-time or population ``n`` it is
    Poisson ``R ~ Pois(E)`` with expected count ``E = theta * n``. The limit at tail
    probability ``p`` (``p = (1 - level) / 2`` for the lower limit, ``1 - (1 - level) / 2``
    for the upper) interpolates between the discrete quantiles, as in Spiegelhalter
    (2005a, Appendix A.1.1)::

        r_p   = the smallest r with F(r) >= p             (F the binomial/Poisson CDF)
        alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1))
        limit = (r_p - alpha) / n                          (times the multiplier)

    so that the limits are smooth in ``n``. With ``r_p = 0`` the formula can give a lower
    limit just below zero; it is set to zero. A rate funnel with ``denominator`` the
    expected count and ``target=1`` is the funnel of standardised ratios (O/E).

Standardised scores
    ``z`` is each unit's score on the variance-stabilising scale that the overdispersion
    estimate uses (Spiegelhalter, 2005b; Spiegelhalter et al., 2012), without adjustment:
    for proportions ``z = (asin(sqrt(y)) - asin(sqrt(theta))) / s`` and for rates
    ``z = (sqrt(y) - sqrt(theta)) / s`` (which is ``2 (sqrt(O) - sqrt(E))``), both with
    ``s = 1 / (2 sqrt(n))`` and ``y`` the unit's ratio (before the multiplier).

Overdispersion (``overdispersion=True``)
    Following Spiegelhalter (2005b) and the "CQC" method of FunnelPlotR (Mainey), the
    z-scores are Winsorised at their 10th and 90th percentiles (linear interpolation, as
    R's default ``quantile``): scores beyond them are set to them. The overdispersion
    ratio is the mean of the squared Winsorised scores, ``phi = sum(z_w^2) / I`` for
    ``I`` units. If ``I * phi > I - 1`` the between-unit variance on the transformed scale
    is the DerSimonian-Laird-type moment estimate::

        tau2 = (I * phi - (I - 1)) / (sum(w) - sum(w^2) / sum(w)),   w = 1 / s^2

    and the limits become ``g^-1(g(theta) +/- z_level * sqrt(s^2 + tau2))`` (``g`` the
    transformation; a lower limit below zero on the transformed scale is set to zero),
    with adjusted scores ``z_adjusted = (g(y) - g(theta)) / sqrt(s^2 + tau2)``. Otherwise
    there is no inflation and the exact limits stand. ``phi`` is estimated (and reported)
    whether or not the adjustment is asked for.

Targets and scales
    ``value`` is the unit's ratio times ``multiplier`` (e.g. 1000 for a rate per 1,000).
    A ``target`` given by the user is on the same scale as ``value``; the default is the
    pooled ratio ``sum(numerator) / sum(denominator)``. Rows of the same unit are summed.

References
----------
Spiegelhalter DJ (2005a). Funnel plots for comparing institutional performance.
*Statistics in Medicine* 24:1185-1202. doi:10.1002/sim.1970
Spiegelhalter DJ (2005b). Handling over-dispersion of performance indicators. *Quality
and Safety in Health Care* 14:347-351. doi:10.1136/qshc.2005.013755
Spiegelhalter DJ, Sherlaw-Johnson C, Bardsley M, et al. (2012). Statistical methods for
healthcare regulation: rating, screening and surveillance. *JRSS A* 175:1-47.
Mainey C, et al. FunnelPlotR: funnel plots for comparing institutional performance
(R package; NHS-R Community), functions ``transformed_zscore``, ``winsorisation``,
``phi_func`` and ``tau_func``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_choice
from evalkit.data.contract import nearest
from evalkit.data.inputs import takes_frame
from evalkit.errors import DataError, DesignError
from evalkit.results import ReadOnlyOptions

__all__ = ["FunnelResult", "funnel", "exact_limits", "KINDS", "DEFAULT_LIMITS"]

KINDS = ("proportion", "rate")
DEFAULT_LIMITS = (0.95, 0.998)
_WINSOR = 0.1
_GRID_POINTS = 200


# --------------------------------------------------------------------------- input checks
def _rows(mask: np.ndarray, limit: int = 20) -> list[int]:
    """Spreadsheet row numbers (header is row 1) of the True entries of ``mask``."""
    return [int(i) + 2 for i in np.flatnonzero(mask)[:limit]]


def _require_columns(data: pd.DataFrame, names: Sequence[str], *, file: str | None,
                     what: str = "data") -> None:
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"the {what} must be a pandas DataFrame, not {type(data).__name__}",
                          fix="read the file with ek.read(...) or pandas first")
    for name in names:
        if name not in data.columns:
            guess = nearest(str(name), map(str, data.columns))
            raise DataError(f"the column '{name}' is missing from the {what}", file=file,
                            column=str(name), fix=f"did you mean '{guess}'?" if guess
                            else f"name one of: {', '.join(map(str, data.columns))}")


def _labels(data: pd.DataFrame, column: str, *, file: str | None, what: str) -> pd.Series:
    """A label column (unit, group, stratum) with no missing values."""
    values = data[column]
    missing = values.isna().to_numpy()
    if missing.any():
        raise DataError(f"{what} is missing", file=file, column=column, rows=_rows(missing),
                        fix=f"fill in the {what} on every row, or drop those rows")
    return values


def _counts(data: pd.DataFrame, column: str, *, file: str | None, what: str,
            whole: bool = False, positive: bool = False) -> np.ndarray:
    """A numeric column with no missing, non-numeric, negative (or zero) values."""
    raw = data[column]
    missing = raw.isna().to_numpy()
    if missing.any():
        raise DataError(f"{what} is missing", file=file, column=column, rows=_rows(missing),
                        fix="fill in every value (0 where there were none), or drop the rows")
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num)
    if bad.any():
        raise DataError(f"{what} is not a number", file=file, column=column, rows=_rows(bad),
                        fix="give plain numbers (no text, commas or symbols)")
    if (num < 0).any():
        raise DataError(f"{what} is negative", file=file, column=column, rows=_rows(num < 0),
                        fix="counts and denominators cannot be negative: correct those rows")
    if positive and (num == 0).any():
        raise DataError(f"{what} is zero", file=file, column=column, rows=_rows(num == 0),
                        fix="a zero denominator has no rate: drop those rows or correct them")
    if whole:
        frac = num != np.round(num)
        if frac.any():
            raise DataError(f"{what} is not a whole number", file=file, column=column,
                            rows=_rows(frac), fix="give counts of events or people as whole "
                                                  "numbers")
    return num


# --------------------------------------------------------------------------- the limits
def _level_tag(level: float) -> str:
    """Column suffix of a limit level: 0.95 -> '95', 0.998 -> '998'."""
    return f"{level * 100:g}".replace(".", "")


def _level_text(level: float) -> str:
    """A limit level as people write it: 0.95 -> '95%', 0.998 -> '99.8%'."""
    return f"{level * 100:g}%"


def exact_limits(denominator, target: float, p: float, *, kind: str = "proportion"
                 ) -> np.ndarray:
    """Spiegelhalter's interpolated exact limit at tail probability ``p`` (ratio scale).

    Parameters
    ----------
    denominator
        People at risk (proportions; whole numbers) or person-time / population (rates).
    target
        The target ratio ``theta`` (a proportion in (0, 1), or a rate per person > 0).
    p
        The tail probability, e.g. 0.025 for the lower 95% limit, 0.999 for the upper
        99.8% limit.
    kind
        ``"proportion"`` (binomial counts) or ``"rate"`` (Poisson counts).

    Returns
    -------
    numpy.ndarray
        ``max(0, (r_p - alpha) / n)`` for each denominator ``n``.

    Examples
    --------
    >>> exact_limits([100, 1000], 0.1, 0.975).round(4)
    array([0.1577, 0.1185])
    """
    n = np.asarray(denominator, dtype=float)
    dist = stats.binom(n, target) if kind == "proportion" else stats.poisson(target * n)
    r = dist.ppf(p)
    f_r, f_below = dist.cdf(r), dist.cdf(r - 1)
    step = f_r - f_below
    alpha = np.divide(f_r - p, step, out=np.zeros_like(n), where=step > 0)
    return np.maximum((r - alpha) / n, 0.0)


def _transform(y, kind: str) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    return np.arcsin(np.sqrt(y)) if kind == "proportion" else np.sqrt(y)


def _untransform(x, kind: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if kind == "proportion":
        return np.sin(np.clip(x, 0.0, np.pi / 2)) ** 2
    return np.clip(x, 0.0, None) ** 2


def _overdispersion(z: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Winsorised overdispersion ratio phi and additive tau2 (Spiegelhalter, 2005b)."""
    lo, hi = np.quantile(z, [_WINSOR, 1 - _WINSOR])
    phi = float(np.mean(np.clip(z, lo, hi) ** 2))
    n = z.size
    if n * phi <= n - 1:
        return phi, 0.0
    w = 1.0 / s**2
    tau2 = (n * phi - (n - 1)) / (w.sum() - (w**2).sum() / w.sum())
    return phi, float(max(tau2, 0.0))


def _limit_frame(den: np.ndarray, theta: float, levels: Sequence[float], kind: str,
                 tau2: float, multiplier: float) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    s = 1.0 / (2.0 * np.sqrt(den))
    for level in levels:
        tag, tail = _level_tag(level), (1 - level) / 2
        if tau2 > 0:
            half = stats.norm.ppf(1 - tail) * np.sqrt(s**2 + tau2)
            g = _transform(theta, kind)
            lower, upper = _untransform(g - half, kind), _untransform(g + half, kind)
        else:
            lower = exact_limits(den, theta, tail, kind=kind)
            upper = exact_limits(den, theta, 1 - tail, kind=kind)
        out[f"lower_{tag}"] = lower * multiplier
        out[f"upper_{tag}"] = upper * multiplier
    return out


def _grid(den: np.ndarray, kind: str) -> np.ndarray:
    lo, hi = float(den.min()) * 0.8, float(den.max()) * 1.1
    grid = np.geomspace(max(lo, 1e-9), hi, _GRID_POINTS)
    if kind == "proportion":
        grid = np.unique(np.maximum(np.ceil(grid), 1.0))
    return grid


# --------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class FunnelResult(ReadOnlyOptions):
    """Units against funnel limits.

    Attributes
    ----------
    units
        One row per unit: ``unit``, ``numerator``, ``denominator``, ``expected``
        (target ratio times denominator), ``value`` (ratio times multiplier), ``z``,
        ``z_adjusted`` (with the overdispersion adjustment; equal to ``z`` without it),
        ``lower_<level>`` / ``upper_<level>`` for each limit level (e.g. ``lower_95``,
        ``upper_998``) and ``flag`` (e.g. ``"above 99.8%"``, ``"within"``).
    curve
        The limits over a grid of denominators, for drawing: ``denominator``, the limit
        columns and ``target``.
    target
        The target on the scale of ``value``.
    kind
        ``"proportion"`` or ``"rate"``.
    multiplier
        What the ratios are multiplied by (1, 100, 1000, ...).
    limits
        The limit levels, ascending.
    phi
        The Winsorised overdispersion ratio (always estimated; 1 means as expected).
    tau2
        The additive between-unit variance on the transformed scale when
        ``overdispersion=True`` (0 when ``I * phi <= I - 1``, so no inflation); ``None``
        otherwise.
    target_source
        ``"pooled"`` or ``"given"``.
    """

    units: pd.DataFrame
    curve: pd.DataFrame
    target: float
    kind: str
    multiplier: float
    limits: tuple[float, ...]
    phi: float
    tau2: float | None
    target_source: str = "pooled"
    warnings: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def adjusted(self) -> bool:
        """Whether the limits were inflated for overdispersion."""
        return bool(self.tau2)

    @property
    def n_units(self) -> int:
        """The number of units."""
        return int(len(self.units))

    def flag_labels(self) -> list[str]:
        """Every flag a unit can carry, from the highest band to the lowest."""
        ups = [f"above {_level_text(lv)}" for lv in reversed(self.limits)]
        downs = [f"below {_level_text(lv)}" for lv in self.limits]
        return ups + ["within"] + downs

    def outliers(self, level: float | None = None) -> pd.DataFrame:
        """Units outside the limits at ``level`` (default: the narrowest), a copy."""
        level = self.limits[0] if level is None else level
        if level not in self.limits:
            raise DesignError(f"no limits at level {level}",
                              fix=f"use one of {', '.join(map(str, self.limits))}")
        tag = _level_tag(level)
        u = self.units
        out = (u["value"] > u[f"upper_{tag}"]) | (u["value"] < u[f"lower_{tag}"])
        return u[out.to_numpy()].copy()

    def counts(self) -> dict[str, int]:
        """How many units carry each flag."""
        vc = self.units["flag"].value_counts()
        return {lab: int(vc.get(lab, 0)) for lab in self.flag_labels()}

    def to_frame(self) -> pd.DataFrame:
        """The units table (a copy)."""
        return self.units.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The frames the funnel plot draws: ``units`` and ``curve`` (copies)."""
        return {"units": self.units.copy(), "curve": self.curve.copy()}

    def summary(self) -> str:
        """Plain text: the target, the limits, the flagged units and overdispersion."""
        per = "" if self.multiplier == 1 else f" per {self.multiplier:,g}"
        what = "proportion" if self.kind == "proportion" else "rate"
        lines = [f"Funnel plot of {self.n_units} units ({what}{per}): target "
                 f"{self.target:.4g} ({self.target_source})."]
        if self.adjusted:
            lines.append(f"Limits ({', '.join(map(_level_text, self.limits))}) inflated for "
                         f"overdispersion: phi = {self.phi:.3g}, tau2 = {self.tau2:.3g} "
                         "(additive random effects on the "
                         + ("arcsine-square-root" if self.kind == "proportion"
                            else "square-root") + " scale).")
        else:
            dist = "binomial" if self.kind == "proportion" else "Poisson"
            text = (f"Exact {dist} limits ({', '.join(map(_level_text, self.limits))}). "
                    f"Overdispersion ratio phi = {self.phi:.3g}")
            if self.tau2 is not None:
                text += " (limits not inflated: I*phi <= I-1)."
            elif self.n_units >= 3 and np.isfinite(self.phi):
                # Spiegelhalter (2005a): I*phi against chi-square on I-1 degrees of freedom
                p = stats.chi2.sf(self.n_units * self.phi, self.n_units - 1)
                text += (f"; I*phi against chi-square on {self.n_units - 1} df gives p = "
                         f"{p:.2g}" + (", so consider overdispersion=True." if p < 0.05
                                       else "."))
            else:
                text += "."
            lines.append(text)
        counts = self.counts()
        for lab in self.flag_labels():
            if lab == "within" or not counts[lab]:
                continue
            names = self.units.loc[self.units["flag"] == lab, "unit"].astype(str).tolist()
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more"
                                             if len(names) > 10 else "")
            lines.append(f"  {lab}: {counts[lab]} ({shown})")
        lines.append(f"  within all limits: {counts['within']}")
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<FunnelResult {self.kind}: {self.n_units} units, target "
                f"{self.target:.4g}>")


# --------------------------------------------------------------------------- the design
def _check_limits(limits) -> tuple[float, ...]:
    try:
        levels = tuple(float(v) for v in limits)
    except (TypeError, ValueError):
        raise DesignError(f"limits must be a list of levels such as (0.95, 0.998), not "
                          f"{limits!r}", fix="use e.g. limits=(0.95, 0.998)") from None
    if not levels or any(not 0.5 < v < 1 for v in levels) or len(set(levels)) != len(levels):
        raise DesignError(f"limits must be distinct levels between 0.5 and 1, not {limits!r}",
                          fix="use e.g. limits=(0.95, 0.998)")
    if len({_level_tag(v) for v in levels}) != len(levels):
        raise DesignError(f"the limit levels {limits!r} are too close to tell apart",
                          fix="use e.g. limits=(0.95, 0.998)")
    return tuple(sorted(levels))


@takes_frame
def funnel(data: pd.DataFrame, *, numerator: str, denominator: str, unit: str,
           kind: str = "proportion", multiplier: float = 1, target: float | None = None,
           limits: Sequence[float] = DEFAULT_LIMITS, overdispersion: bool = False,
           file: str | None = None) -> FunnelResult:
    """Compare units' proportions or rates with a target using funnel-plot limits.

    Parameters
    ----------
    data
        One row per unit (rows of the same unit are summed).
    numerator, denominator, unit
        Column names: events (or people with the outcome), people at risk (proportions)
        or population / person-time / expected count (rates), and the unit label.
    kind
        ``"proportion"`` (binomial limits) or ``"rate"`` (Poisson limits).
    multiplier
        Scale for values, limits and target, e.g. 100 for percentages, 1000 for a rate
        per 1,000.
    target
        The centre line on the scale of ``value`` (i.e. already multiplied); default the
        pooled ratio ``sum(numerator) / sum(denominator)``.
    limits
        Limit levels (default 95% and 99.8%).
    overdispersion
        Inflate the limits with an additive between-unit variance when the Winsorised
        z-scores show more spread than chance (Spiegelhalter, 2005b).
    file
        The data's file name, for error messages.

    Returns
    -------
    FunnelResult

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"practice": list("ABCD"), "seen": [30, 45, 80, 12],
    ...                    "eligible": [100, 120, 160, 90]})
    >>> res = funnel(df, numerator="seen", denominator="eligible", unit="practice",
    ...              multiplier=100)
    >>> round(res.target, 2)
    35.53
    >>> res.units["flag"].tolist()
    ['within', 'within', 'above 99.8%', 'below 99.8%']
    """
    check_choice("kind", kind, KINDS)
    levels = _check_limits(limits)
    if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float, np.number)) \
            or not np.isfinite(multiplier) or multiplier <= 0:
        raise DesignError(f"multiplier must be a positive number, not {multiplier!r}",
                          fix="use e.g. 1, 100 or 1000")
    if not isinstance(overdispersion, (bool, np.bool_)):
        raise DesignError(f"overdispersion must be True or False, not {overdispersion!r}",
                          fix="use overdispersion=True to inflate the limits")
    _require_columns(data, [unit, numerator, denominator], file=file)
    if len(data) == 0:
        raise DataError("the data have no rows", file=file, fix="give one row per unit")
    units = _labels(data, unit, file=file, what="the unit")
    num = _counts(data, numerator, file=file, what="the numerator", whole=True)
    den = _counts(data, denominator, file=file, what="the denominator",
                  whole=kind == "proportion", positive=True)
    if kind == "proportion":
        over = num > den
        if over.any():
            raise DataError("the numerator is larger than the denominator", file=file,
                            column=numerator, rows=_rows(over),
                            fix=f"a proportion needs {numerator} <= {denominator}; check the "
                                "columns are not swapped, or use kind='rate' for events that "
                                "can recur")

    agg = (pd.DataFrame({"unit": units.to_numpy(), "numerator": num, "denominator": den})
           .groupby("unit", sort=False, observed=True, dropna=False).sum().reset_index())
    n_i, d_i = agg["numerator"].to_numpy(float), agg["denominator"].to_numpy(float)
    warnings: list[str] = []
    if len(agg) < len(data):
        warnings.append(f"{len(data) - len(agg)} row(s) shared a unit with another row and "
                        "were summed into it")

    if target is None:
        theta, source = float(n_i.sum() / d_i.sum()), "pooled"
        if theta == 0:
            raise DataError("no unit has any events, so there is nothing to compare",
                            file=file, column=numerator, fix="check the numerator column")
        if kind == "proportion" and theta == 1:
            raise DataError("every unit's proportion is 1, so there is nothing to compare",
                            file=file, column=numerator, fix="check the numerator column")
    else:
        if isinstance(target, bool) or not isinstance(target, (int, float, np.number)) \
                or not np.isfinite(target):
            raise DesignError(f"target must be a number, not {target!r}",
                              fix="give the target on the scale of the values, or leave it "
                                  "out for the pooled rate")
        theta, source = float(target) / multiplier, "given"
        if theta <= 0 or (kind == "proportion" and theta >= 1):
            rng = f"between 0 and {multiplier:g}" if kind == "proportion" else "above 0"
            raise DesignError(f"the target {target!r} is outside the possible range",
                              fix=f"give a target {rng} (on the scale of the values, "
                                  f"multiplier {multiplier:g})")

    y = n_i / d_i
    s = 1.0 / (2.0 * np.sqrt(d_i))
    z = (_transform(y, kind) - _transform(theta, kind)) / s
    if overdispersion and len(agg) < 3:
        raise DesignError("overdispersion needs at least three units to estimate",
                          fix="use overdispersion=False")
    phi, tau2 = _overdispersion(z, s) if len(agg) >= 2 else (float("nan"), 0.0)
    if overdispersion and len(agg) < 10:
        warnings.append(f"the overdispersion ratio is estimated from only {len(agg)} units "
                        "and is imprecise")
    used_tau2 = tau2 if overdispersion else 0.0
    z_adj = (_transform(y, kind) - _transform(theta, kind)) / np.sqrt(s**2 + used_tau2)

    table = agg.assign(expected=theta * d_i, value=y * multiplier, z=z, z_adjusted=z_adj)
    lims = _limit_frame(d_i, theta, levels, kind, used_tau2, multiplier)
    for name, values in lims.items():
        table[name] = values
    value = table["value"].to_numpy()
    flag = np.full(len(table), "within", dtype=object)
    for level in levels:  # narrowest first, so the widest band crossed wins
        tag, text = _level_tag(level), _level_text(level)
        flag[value > lims[f"upper_{tag}"]] = f"above {text}"
        flag[value < lims[f"lower_{tag}"]] = f"below {text}"
    table["flag"] = flag

    grid = _grid(d_i, kind)
    curve = pd.DataFrame({"denominator": grid,
                          **_limit_frame(grid, theta, levels, kind, used_tau2, multiplier),
                          "target": theta * multiplier})
    options = {"numerator": numerator, "denominator": denominator, "unit": unit, "kind": kind,
               "multiplier": multiplier, "target": target, "limits": levels,
               "overdispersion": bool(overdispersion), "file": file}
    return FunnelResult(units=table, curve=curve, target=theta * multiplier, kind=kind,
                        multiplier=float(multiplier), limits=levels, phi=phi,
                        tau2=tau2 if overdispersion else None, target_source=source,
                        warnings=tuple(warnings), options=options)
