"""Synthetic control for one area that changed: classic, augmented, or synthetic DiD.

When a single place adopts a scheme (a locality's virtual wards, one area's resource
team) and every other place is a potential comparator, the synthetic control builds the
comparator as a weighted average of the others (the *donors*) that tracks the treated
unit before the start (Abadie, Diamond and Hainmueller, 2010). The effect is the gap
between the treated unit and its synthetic control after the start.

Methods
-------
``"classic"``
    Donor weights non-negative and summing to one, chosen to match the treated unit's
    *predictors* (period means of the outcome and covariates), with the predictor
    weights ``V`` chosen to track the pre-period outcome (:mod:`.synth_solver`). With
    ``predictors=None`` every pre-period outcome is a predictor, with equal weights.
    With ``search="cross-validation"``, ``V`` is chosen as Abadie, Diamond and
    Hainmueller (2015) do: trained on predictors measured in a training window to
    forecast the outcome in a validation window, then used with the predictors of the
    main window.
``"augmented"``
    The classic fit plus a ridge-regression bias correction for the part of the
    pre-period outcomes it fails to match (Ben-Michael, Feller and Rothstein, 2021);
    weights may be negative.
``"sdid"``
    Synthetic difference-in-differences (Arkhangelsky et al., 2021): unit and time
    weights, a weighted double difference, a placebo standard error. Several treated
    units (all starting together) are allowed.

Inference (classic and augmented)
---------------------------------
* **Placebo in space.** Every donor in turn is treated as if it had adopted the scheme,
  with the other donors (never the treated unit) as its pool, refitted the same way: the
  same search over ``V`` (cross-validated from its own training predictors and
  validation outcomes under ``search="cross-validation"``), or the same fixed ``v``.
  The statistic is the ratio of post- to pre-period root mean squared prediction error
  (RMSPE); the p-value is the treated unit's rank among all units, divided by their
  number (Abadie et al., 2010). Placebos whose pre-period RMSPE exceeds
  ``pre_rmspe_threshold`` times the treated unit's fit too poorly to be informative:
  they are left out of the gap plot and of the restricted p-value
  (``p_value_fit_restricted``).
* **Confidence interval** for the average post-period gap: the set of constant effects
  not rejected by the same permutation test (Firpo and Possebom, 2018, with equal
  weights on the units). It needs at least ``1 / (1 - conf_level) - 1`` placebos (19
  for 95%); with fewer the interval is not reported.
* **Placebo in time.** The whole analysis backdated to ``placebo_time``, using only
  data before the real start (predictor windows are cut at the placebo start); its
  gaps before the real start should be near zero.
* **Leave one out.** Refits without each donor that has a non-zero weight; the range
  of average post-period gaps shows whether one donor drives the result.

Checks on ``V``: the donor weights are often not unique in ``V`` (many ``V`` give about
the same pre-period fit with different donors). A warning is raised when one predictor
carries more than half of ``V``, and when a second, different way of choosing ``V``
(Nelder-Mead for the default search, the default search otherwise) moves at least
``WEIGHT_SHIFT`` of the donor weight to other donors; both ``V`` and both sets of
weights are kept (``predictors`` and ``weights`` frames) so a report can show them.

Checks: a treated unit outside the donors' range on a predictor or on most pre-period
outcomes (the convex hull) is warned about; the fit counts as good (``fit_ok``) when the
pre-period RMSPE is at most 5% of the treated unit's mean pre-period outcome and the
treated unit lies within the donors' range in at least 80% of pre-periods; with placebos,
the first condition becomes "no worse than the median placebo's pre-period RMSPE", since
noisy small-area rates rarely fit within 5% however good the donors. A good fit
puts the design at Maryland level 4, otherwise 3 (:func:`evalkit.evidence.maryland.maryland_level`).

References
----------
Abadie A, Diamond A, Hainmueller J (2010). Synthetic control methods for comparative case
studies. J Am Stat Assoc 105:493-505.
Abadie A, Diamond A, Hainmueller J (2015). Comparative politics and the synthetic control
method. Am J Polit Sci 59:495-510.
Abadie A (2021). Using synthetic controls: feasibility, data requirements, and
methodological aspects. J Econ Lit 59:391-425.
Firpo S, Possebom V (2018). Synthetic control method: inference, sensitivity analysis and
confidence sets. J Causal Inference 6(2).
Ben-Michael E, Feller A, Rothstein J (2021). The augmented synthetic control method.
J Am Stat Assoc 116:1789-1803.
Arkhangelsky D, Athey S, Hirshberg DA, Imbens GW, Wager S (2021). Synthetic difference-in-
differences. Am Econ Rev 111:4088-4118.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.arguments import check_choice, check_conf_level
from evalkit.data.contract import nearest
from evalkit.data.inputs import takes_frame
from evalkit.data.periods import PeriodAxis, parse_period, parse_periods
from evalkit.designs.synth_solver import (
    SEARCHES,
    SynthFit,
    fit_synth,
    fit_synth_cv,
    simplex_least_squares,
)
from evalkit.errors import DataError, DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.results import DesignResult, EffectRecord, effects_frame

__all__ = ["synthetic_control", "SyntheticControlResult"]

DESIGN = "synthetic_control"
METHODS = ("classic", "augmented", "sdid")
OPS = ("mean", "median", "sum")
SEARCH_CHOICES = (*SEARCHES, "cross-validation")
_ZERO = 1e-3  # weights at or below this count as zero (leave-one-out, the weights table)
#: One predictor carrying more than this share of V is warned about.
V_DOMINANCE = 0.5
#: Half the L1 distance between two sets of donor weights (the share of the synthetic
#: control that moves to other donors) at or above which they differ materially.
WEIGHT_SHIFT = 0.2


class SyntheticControlResult(DesignResult):
    """A :class:`~evalkit.results.DesignResult` with the donor weights and the p-value.

    Frames: ``path`` (time, treated, synthetic, gap, post), ``weights`` (unit, weight,
    and ``weight_alternative`` when ``V`` was checked), ``predictors`` (predictor,
    treated, synthetic, donor_mean, v, and ``v_alternative``; ``training_predictor`` under
    cross-validation), and when asked ``placebos`` (unit, time, gap, included), ``rmspe``
    (unit, pre_rmspe, post_rmspe, ratio, rank, treated, included), ``placebo_v`` (unit,
    predictor, v: each placebo's own ``V``), ``loo`` (dropped_unit, time, synthetic, gap)
    and ``placebo_time`` (time, treated, synthetic, gap, post).
    """

    @property
    def weights(self) -> pd.Series:
        """Donor weights, a Series indexed by unit (largest first)."""
        w = self.frames["weights"]
        return pd.Series(w["weight"].to_numpy(), index=pd.Index(w["unit"], name="unit"),
                         name="weight")

    @property
    def p_value(self) -> float:
        """The placebo-in-space (rank) p-value, or NaN without placebos.

        For ``method="sdid"`` it is the two-sided normal p-value of the estimate over
        its placebo standard error.
        """
        p = self.diagnostics.get("p_value")
        return float("nan") if p is None else float(p)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class _Panel:
    Y: pd.DataFrame            # periods x units, outcome
    codes: np.ndarray          # period codes of Y's rows
    axis: PeriodAxis
    data: pd.DataFrame         # the input with a '_code' column
    unit: str
    time: str
    file: str | None


def _panel(data: pd.DataFrame, outcome: str, unit: str, time: str, file: str | None
           ) -> _Panel:
    for role, col in (("outcome", outcome), ("unit", unit), ("time", time)):
        if col not in data.columns:
            guess = nearest(str(col), map(str, data.columns))
            raise DataError(f"the {role} column '{col}' is missing", file=file, column=col,
                            fix=f"did you mean '{guess}'?" if guess else "name an existing "
                            "column")
    codes, axis = parse_periods(data[time], file=file, column=time)
    frame = data.assign(_code=codes)
    dup = frame.duplicated([unit, "_code"], keep=False).to_numpy()
    if dup.any():
        raise DataError("some units have more than one row for the same period", file=file,
                        column=unit, rows=[int(i) + 2 for i in np.flatnonzero(dup)[:20]],
                        fix="aggregate to one row per unit and period")
    y = pd.to_numeric(frame[outcome], errors="coerce")
    if y.isna().any():
        bad = frame.loc[y.isna(), [unit, time]].head(5)
        raise DataError(f"the outcome '{outcome}' is missing or not a number in "
                        f"{int(y.isna().sum())} row(s), e.g. "
                        + "; ".join(f"{u} {t}" for u, t in bad.itertuples(index=False)),
                        file=file, column=outcome,
                        fix="a synthetic control needs every unit's outcome in every "
                            "period: fill the gaps or drop those units")
    Y = frame.assign(_y=y).pivot(index="_code", columns=unit, values="_y").sort_index()
    if Y.isna().any().any():
        gaps = Y.columns[Y.isna().any()].tolist()
        raise DataError(f"{len(gaps)} unit(s) lack some periods: "
                        + ", ".join(map(str, gaps[:8])), file=file, column=unit,
                        fix="a synthetic control needs a balanced panel: give every unit "
                            "every period, or drop those units from the data")
    return _Panel(Y, Y.index.to_numpy(), axis, frame, unit, time, file)


def _selection(panel: _Panel, units: list, start_code: int) -> dict[str, Any]:
    """The selection-at-a-peak check (:mod:`evalkit.evidence.selection`): the treated unit's
    rise into the start against the donors' (unweighted: the units as they were chosen)."""
    from evalkit.evidence.selection import selection_at_peak

    Y = panel.Y[units]
    chk = selection_at_peak(Y.to_numpy(float).ravel(), unit=np.tile(np.arange(len(units)),
                                                                    len(Y)),
                            period=np.repeat(panel.codes, len(units)),
                            treated=np.tile(np.arange(len(units)) == 0, len(Y)),
                            start=start_code, window=12 if panel.axis.kind == "month" else 1,
                            scale="difference", label=panel.axis.label)
    return {} if chk is None else chk.as_dict()


def _units(panel: _Panel, treated_unit, donors, method: str) -> tuple[list, list]:
    units = list(panel.Y.columns)
    treated = list(treated_unit) if isinstance(treated_unit, (list, tuple)) else [treated_unit]
    lookup = {str(u): u for u in units}
    for t in treated:
        if t not in units and str(t) not in lookup:
            guess = nearest(str(t), map(str, units))
            raise DataError(f"treated unit '{t}' is not in the data", file=panel.file,
                            column=panel.unit, fix=f"did you mean '{guess}'?" if guess
                            else f"name one of the values of '{panel.unit}'")
    treated = [t if t in units else lookup[str(t)] for t in treated]
    if len(treated) > 1 and method != "sdid":
        raise DesignError(f"{len(treated)} treated units given; the {method} synthetic "
                          "control fits one", fix="use method='sdid' for several treated "
                          "units, or aggregate them into one unit")
    if donors is None:
        pool = [u for u in units if u not in treated]
    else:
        pool = []
        for d in donors:
            if d in treated or str(d) in map(str, treated):
                raise DesignError(f"the treated unit '{d}' is also in the donor pool",
                                  fix="remove it from donors: a unit cannot be its own "
                                      "comparator")
            if d not in units and str(d) not in lookup:
                raise DataError(f"donor '{d}' is not in the data", file=panel.file,
                                column=panel.unit, fix="check the donors list")
            pool.append(d if d in units else lookup[str(d)])
        pool = list(dict.fromkeys(pool))
    if len(pool) < 2:
        raise DesignError(f"only {len(pool)} donor unit(s)", fix="a synthetic control needs "
                          "at least two comparison units")
    return treated, pool


def _windows(panel: _Panel, predictors, start_code: int, outcome: str, *,
             what: str = "predictor", before: str = "the start"
             ) -> list[tuple[str, str, int, int, str]]:
    """Check the predictor entries: (name, variable, from, to, op) with period codes.

    Windows must end before ``start_code`` (``before`` names it in messages); ``what``
    names the entries (``"predictor"`` or ``"training predictor"``).
    """
    out = []
    lo, hi = int(panel.codes.min()), int(panel.codes.max())
    for i, p in enumerate(predictors, start=1):
        if not isinstance(p, Mapping) or "variable" not in p:
            raise DesignError(f"{what} {i} must be a mapping with 'variable', 'window' "
                              f"and 'op'; got {p!r}",
                              fix='e.g. {"variable": "cigsale", "window": [1975, 1975], '
                                  '"op": "mean"}')
        unknown = set(p) - {"variable", "window", "op"}
        if unknown:
            raise DesignError(f"{what} {i} has unknown key(s) {', '.join(sorted(unknown))}",
                              fix="use 'variable', 'window' and 'op'")
        var = p["variable"]
        if var not in panel.data.columns:
            guess = nearest(str(var), map(str, panel.data.columns))
            raise DataError(f"{what} variable '{var}' is not a column", file=panel.file,
                            column=var, fix=f"did you mean '{guess}'?" if guess
                            else "name an existing column")
        op = p.get("op", "mean")
        check_choice(f"{what} {i} op", op, OPS)
        window = p.get("window")
        if window is None:
            a, b = lo, start_code - 1
        else:
            if isinstance(window, (str, int)) or len(window) != 2:
                window = [window, window] if isinstance(window, (str, int)) else window
            if len(window) != 2:
                raise DesignError(f"{what} {i} window must be [from, to]",
                                  fix="e.g. window: [1980, 1988]")
            a = parse_period(window[0], panel.axis, what=f"{what} {i} window start")
            b = parse_period(window[1], panel.axis, what=f"{what} {i} window end")
        if a > b:
            raise DesignError(f"{what} {i} ({var}) window runs backwards: "
                              f"{panel.axis.label(a)} to {panel.axis.label(b)}",
                              fix="give [from, to] with from before to")
        if a < lo or b > hi:
            raise DataError(f"{what} {i} ({var}) window {panel.axis.label(a)} to "
                            f"{panel.axis.label(b)} is outside the data "
                            f"({panel.axis.label(lo)} to {panel.axis.label(hi)})",
                            file=panel.file, column=panel.time,
                            fix="choose a window inside the data's periods")
        if b >= start_code:
            raise DesignError(f"{what} {i} ({var}) window ends at {panel.axis.label(b)}, "
                              f"on or after {before} {panel.axis.label(start_code)}",
                              fix=f"{what}s must be measured before the scheme started"
                              if before == "the start" else f"{what}s must be measured "
                              f"before {before}")
        out.append((_label(panel, var, a, b, op), var, a, b, op))
    return out


def _label(panel: _Panel, var: str, a: int, b: int, op: str) -> str:
    return (f"{var} ({op}, {panel.axis.label(a)})" if a == b
            else f"{var} ({op}, {panel.axis.label(a)} to {panel.axis.label(b)})")


@dataclass(frozen=True)
class _CV:
    """The cross-validation setup: training predictors and validation periods (rows)."""

    X: np.ndarray              # training predictors x units
    rows: np.ndarray           # row indices of the validation window in Y
    windows: list              # the training windows, as _windows gives them
    validation: tuple[str, str]


def _cross_validation(panel: _Panel, windows, units: list, start_code: int, T0: int,
                      validation_window, training_predictors, outcome: str) -> _CV:
    """Check the validation window and build the training predictors (ADH, 2015).

    Without ``training_predictors``, each predictor's window is moved back by the
    distance from the validation window's start to the scheme's start, so predictors
    averaged over the periods just before the start are averaged over the periods just
    before the validation window.
    """
    lo = int(panel.codes.min())
    if validation_window is None:
        a, b = int(panel.codes[T0 - T0 // 2]), start_code - 1
    else:
        w = validation_window
        if isinstance(w, (str, int)) or len(w) != 2:
            raise DesignError(f"validation_window must be [from, to], got {w!r}",
                              fix="e.g. validation_window: [1981, 1990]")
        a = parse_period(w[0], panel.axis, what="validation_window start")
        b = parse_period(w[1], panel.axis, what="validation_window end")
    if not (lo < a <= b < start_code):
        raise DesignError(f"validation_window {panel.axis.label(a)} to {panel.axis.label(b)} "
                          f"must run forwards, after the first period "
                          f"{panel.axis.label(lo)} and before the start "
                          f"{panel.axis.label(start_code)}",
                          fix="choose the later part of the pre-period, leaving earlier "
                              "periods for the training predictors")
    if training_predictors is None:
        shift = start_code - a
        train = []
        for i, (_, var, pa, pb, op) in enumerate(windows, start=1):
            if pa - shift < lo:
                raise DesignError(
                    f"predictor {i} ({var}) moved back by {shift} periods for the training "
                    f"window would start at {panel.axis.label(pa - shift)}, before the data "
                    f"({panel.axis.label(lo)})",
                    fix="give training_predictors (one per predictor, measured before the "
                        "validation window) or a later validation_window")
            train.append((_label(panel, var, pa - shift, pb - shift, op), var, pa - shift,
                          pb - shift, op))
    else:
        train = _windows(panel, list(training_predictors), a, outcome,
                         what="training predictor",
                         before="the validation window's start")
        if len(train) != len(windows):
            raise DesignError(f"{len(train)} training predictor(s) for {len(windows)} "
                              "predictor(s)", fix="give one training predictor per "
                              "predictor, in the same order")
    rows = np.flatnonzero((panel.codes >= a) & (panel.codes <= b))
    fix = ("give training_predictors, one per predictor, with data in their windows (a "
           "variable measured once may need another variable or window for training)"
           if training_predictors is None else
           "choose a window with data for every unit, or drop those units from the donors")
    return _CV(_predictor_matrix(panel, train, units, what="training predictor", fix=fix),
               rows, train,
               (panel.axis.label(a), panel.axis.label(b)))


def _predictor_matrix(panel: _Panel, windows, units: list, *, what: str = "predictor",
                      fix: str = "choose a window with data for every unit, or drop those "
                                 "units from the donors") -> np.ndarray:
    """Predictors (rows) by units (columns); NaNs ignored within a window, as Synth."""
    rows = []
    for label, var, a, b, op in windows:
        sub = panel.data[(panel.data["_code"] >= a) & (panel.data["_code"] <= b)]
        vals = pd.to_numeric(sub[var], errors="coerce")
        agg = vals.groupby(sub[panel.unit]).agg(op if op != "sum" else "sum")
        if op == "sum":
            agg = agg.where(vals.notna().groupby(sub[panel.unit]).any())
        agg = agg.reindex(units)
        if agg.isna().any():
            missing = [str(u) for u in agg.index[agg.isna()]]
            raise DataError(f"{what} {label} has no values for {len(missing)} unit(s): "
                            + ", ".join(missing[:8]), file=panel.file, column=var, fix=fix)
        rows.append(agg.to_numpy(float))
    return np.vstack(rows)


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class _Fit:
    weights: np.ndarray
    synthetic: np.ndarray      # all periods
    v: np.ndarray | None
    fit: SynthFit | None
    lam: float | None = None   # ridge penalty of the augmented fit
    training: SynthFit | None = None  # the training fit under cross-validation


def _fit_one(Y: np.ndarray, X: np.ndarray | None, t: int, pool: np.ndarray, T0: int, *,
             v, search: str, random_starts: int, seed: int, method: str,
             lam: float | None, cv: _CV | None = None) -> _Fit:
    """Fit unit column ``t`` of ``Y`` (periods x units) from the columns ``pool``.

    Every fit (the treated unit, each placebo, each leave-one-out refit) goes through
    here, so all choose ``V`` by the same procedure: fixed ``v``, a search, or
    cross-validation from unit ``t``'s own training predictors and validation outcomes.
    """
    Z1, Z0 = Y[:T0, t], Y[:T0][:, pool]
    training = None
    if X is None:  # every pre-period outcome a predictor, equal weights: min pre-MSPE
        w, ok = simplex_least_squares(Z0, Z1)
        fit = None
    elif search == "cross-validation" and v is None:
        assert cv is not None
        fit, training = fit_synth_cv(cv.X[:, t], cv.X[:, pool], Y[cv.rows, t],
                                     Y[cv.rows][:, pool], X[:, t], X[:, pool], Z1, Z0,
                                     random_starts=random_starts, seed=seed)
        w, ok = fit.weights, fit.converged
    else:
        fit = fit_synth(X[:, t], X[:, pool], Z1, Z0, v=v, search=search,
                        random_starts=random_starts, seed=seed)
        w, ok = fit.weights, fit.converged
    if not ok:
        raise DesignError("the synthetic-control weights could not be found: the optimiser "
                          "did not reach an optimum", fix="check the predictors for "
                          "duplicates or constant columns, or fix V with the 'v' option")
    synthetic = Y[:, pool] @ w
    if method == "augmented":
        from evalkit.designs.augmented_synth import ridge_augment

        aug = ridge_augment(Y[:, t], Y[:, pool].T, T0, w, lam=lam)
        return _Fit(aug.weights, aug.synthetic, fit.v if fit else None, fit, aug.lam,
                    training)
    return _Fit(w, synthetic, fit.v if fit else None, fit, None, training)


def _rmspe(gap: np.ndarray, T0: int) -> tuple[float, float]:
    return (float(np.sqrt(np.mean(gap[:T0] ** 2))), float(np.sqrt(np.mean(gap[T0:] ** 2))))


def _constant_effect_interval(gap_post: np.ndarray, pre: float, placebo_ratios: np.ndarray,
                              conf_level: float) -> tuple[float, float]:
    """Constant effects not rejected by the RMSPE-ratio permutation test (Firpo and
    Possebom, 2018): ``a`` is kept when the treated ratio with ``a`` removed from the
    post-period gaps ranks low enough among the placebos' ratios."""
    n = placebo_ratios.size
    alpha = 1 - conf_level
    # p(a) = (1 + #{r_i >= R(a)}) / (n + 1) > alpha  <=>  R(a) <= the m-th largest r_i
    m = math.floor(alpha * (n + 1) - 1) + 1
    if m < 1:
        m = 1
    if m > n or pre <= 0:
        return float("nan"), float("nan")
    c = np.sort(placebo_ratios)[::-1][m - 1] * pre
    mean, var = float(gap_post.mean()), float(gap_post.var())
    if c * c < var:
        return float("nan"), float("nan")
    half = math.sqrt(c * c - var)
    return mean - half, mean + half


@takes_frame
def synthetic_control(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treated_unit: Any,
    start: Any,
    predictors: Sequence[Mapping[str, Any]] | None = None,
    donors: Sequence[Any] | None = None,
    method: str = "classic",
    placebos: bool = True,
    horizons: Sequence[int] | None = None,
    pre_rmspe_threshold: float = 5.0,
    placebo_time: Any = None,
    leave_one_out: bool = True,
    v: Sequence[float] | None = None,
    search: str = "multistart",
    validation_window: Sequence[Any] | None = None,
    training_predictors: Sequence[Mapping[str, Any]] | None = None,
    check_v: bool = True,
    random_starts: int = 4,
    lam: float | None = None,
    seed: int = 0,
    n_jobs: int = 1,
    conf_level: float = 0.95,
    scheme: str | None = None,
    domain: str = "outcome",
    file: str | None = None,
) -> SyntheticControlResult:
    """Synthetic control for one treated unit (or several, with ``method="sdid"``).

    Parameters
    ----------
    data
        A long panel: one row per unit and period.
    outcome, unit, time
        Column names.
    treated_unit
        The unit that adopted the scheme (a list for ``"sdid"``).
    start
        Its first period under the scheme.
    predictors
        ``[{"variable": ..., "window": [from, to], "op": "mean"}, ...]``: period
        aggregates of the outcome or covariates measured before the start (``op``
        ``"mean"``, ``"median"`` or ``"sum"``; a one-period window is a lag). Default:
        every pre-period outcome, equally weighted.
    donors
        The donor pool (default: every other unit).
    method
        ``"classic"``, ``"augmented"`` or ``"sdid"``.
    placebos
        Run placebo-in-space inference (every donor refitted as if treated).
    horizons
        Periods after the start (1 = the first) at which to report the gap; default the
        last post period.
    pre_rmspe_threshold
        Placebos fitting worse than this multiple of the treated unit's pre-period RMSPE
        are left out of the gap plot and the restricted p-value.
    placebo_time
        A period before ``start`` at which to backdate the analysis (placebo in time).
    leave_one_out
        Refit without each donor with a non-zero weight.
    v
        Fixed predictor weights (skips the search over V).
    search
        How V is chosen: ``"multistart"`` (default) or ``"nelder-mead"`` search for the
        V whose donor weights best track the pre-period outcome (see
        :func:`evalkit.designs.synth_solver.fit_synth`); ``"cross-validation"``
        (Abadie, Diamond and Hainmueller, 2015): V is searched (multistart) with the
        ``training_predictors`` to minimise the outcome's mean squared prediction error
        over ``validation_window``, then used with ``predictors``.
    validation_window
        ``[from, to]`` for ``search="cross-validation"``: periods before the start over
        which the training fit's outcome error is minimised (default: the later half of
        the pre-period).
    training_predictors
        For ``search="cross-validation"``: one entry per predictor, in the same form and
        order, measured before ``validation_window``. Default: each predictor's window
        moved back by the distance from the validation window's start to ``start``.
    check_v
        Refit the treated unit with a second way of choosing V (Nelder-Mead for the
        default search, the default search otherwise) and warn when the donor weights
        move materially (half the absolute differences summing to ``WEIGHT_SHIFT`` or
        more). A predictor carrying more than half of V is warned about either way.
    random_starts, seed
        Random starting points of the search over V, and their seed.
    lam
        Ridge penalty for ``"augmented"`` (default: chosen by cross-validation).
    n_jobs
        Worker processes for the placebo fits (1: none). Results do not depend on it.
    conf_level, scheme, domain, file
        Confidence level, labels, and the data's file for messages.

    Returns
    -------
    SyntheticControlResult
        Estimands ``gap_mean`` (average post-period gap, with the permutation p-value
        and the constant-effect interval) and ``gap_at:<h>``; for ``"sdid"``
        ``att_sdid`` with its placebo standard error.

    Examples
    --------
    >>> import evalkit as ek  # doctest: +SKIP
    >>> res = ek.synthetic_control(smoking, outcome="cigsale", unit="state", time="year",
    ...                            treated_unit="California", start=1989,
    ...                            predictors=[{"variable": "cigsale", "window": [1975, 1975],
    ...                                         "op": "mean"}])  # doctest: +SKIP
    >>> res.weights.head(), res.p_value  # doctest: +SKIP
    """
    file = file or data.attrs.get("source")
    check_choice("method", method, METHODS)
    check_choice("search", search, SEARCH_CHOICES)
    check_conf_level(conf_level)
    if not (isinstance(pre_rmspe_threshold, (int, float)) and pre_rmspe_threshold > 0):
        raise DesignError(f"pre_rmspe_threshold must be a positive number, got "
                          f"{pre_rmspe_threshold!r}", fix="e.g. 5 (Abadie et al., 2010)")
    panel = _panel(data, outcome, unit, time, file)
    treated, pool = _units(panel, treated_unit, donors, method)
    start_code = parse_period(start, panel.axis)
    T0 = int((panel.codes < start_code).sum())
    T = panel.codes.size
    if T0 < 2:
        raise DesignError(f"only {T0} period(s) before the start "
                          f"{panel.axis.label(start_code)}",
                          fix="a synthetic control needs several pre-period observations")
    if T0 == T:
        raise DataError(f"no periods on or after the start {panel.axis.label(start_code)}",
                        file=file, column=time, fix="check 'start' against the data")
    warns: list[str] = []
    if method == "sdid":
        return _sdid(panel, treated, pool, T0, outcome=outcome, conf_level=conf_level,
                     scheme=scheme, domain=domain, seed=seed, start=start_code,
                     placebos=placebos)
    units = [treated[0], *pool]
    Y = panel.Y[units].to_numpy(float)
    windows = None if predictors is None else _windows(panel, list(predictors),
                                                       start_code, outcome)
    if windows is not None and not windows:
        raise DesignError("predictors is empty", fix="give predictors or leave it out to "
                          "use every pre-period outcome")
    X = None if windows is None else _predictor_matrix(panel, windows, units)
    k = T0 if X is None else X.shape[0]
    if v is not None:
        v = np.asarray(v, float)
        if X is None or v.shape != (k,) or (v < 0).any() or v.sum() <= 0:
            raise DesignError(f"v must be {k} non-negative numbers, one per predictor",
                              fix="give one weight per predictor, or leave v out")
    cv = None
    if search == "cross-validation":
        if X is None or v is not None:
            raise DesignError("search='cross-validation' needs predictors and no fixed v",
                              fix="give predictors (and leave v out), or use "
                                  "search='multistart'")
        cv = _cross_validation(panel, windows, units, start_code, T0, validation_window,
                               training_predictors, outcome)
    elif validation_window is not None or training_predictors is not None:
        raise DesignError("validation_window and training_predictors apply only to "
                          "search='cross-validation'", fix="set search: cross-validation, "
                          "or leave them out")
    if len(pool) < k:
        warns.append(f"Fewer donors ({len(pool)}) than predictors ({k}): the weights may "
                     "fit the predictors exactly in many ways, and the choice among them is "
                     "arbitrary. Use fewer predictors or more donors.")
    opts = dict(v=v, search=search, random_starts=random_starts, seed=seed, method=method,
                lam=lam, cv=cv)
    donor_idx = np.arange(1, len(units))
    main = _fit_one(Y, X, 0, donor_idx, T0, **opts)
    gap = Y[:, 0] - main.synthetic
    pre_rmspe, post_rmspe = _rmspe(gap, T0)
    labels = panel.axis.labels(panel.codes)
    post = np.arange(T) >= T0
    path = pd.DataFrame({"time": labels, "treated": Y[:, 0], "synthetic": main.synthetic,
                         "gap": gap, "post": post})
    weights = (pd.DataFrame({"unit": pool, "weight": main.weights})
               .sort_values("weight", ascending=False, kind="stable").reset_index(drop=True))
    frames: dict[str, pd.DataFrame] = {"path": path, "weights": weights}
    diag: dict[str, Any] = {
        **_selection(panel, units, start_code),
        "method": method, "treated_unit": str(treated[0]), "n_donors": len(pool),
        "start": panel.axis.label(start_code), "pre_periods": T0, "post_periods": T - T0,
        "pre_rmspe": pre_rmspe, "post_rmspe": post_rmspe,
        "rmspe_ratio": post_rmspe / pre_rmspe if pre_rmspe > 0 else float("inf"),
        "predictors": "every pre-period outcome" if windows is None
        else [w[0] for w in windows],
        "n_nonzero_weights": int((np.abs(main.weights) > _ZERO).sum()),
        "top_weights": [[str(u), float(x)] for u, x in
                        weights.head(5).itertuples(index=False) if abs(x) > _ZERO],
    }
    if method == "augmented":
        diag.update(ridge_lambda=main.lam, lambda_chosen_by="given" if lam is not None
                    else "cross-validation (augsynth's one-standard-error rule)",
                    n_negative_weights=int((main.weights < -_ZERO).sum()),
                    scm_weights={str(u): float(x) for u, x in
                                 zip(pool, main.fit.weights if main.fit else main.weights,
                                     strict=True) if abs(x) > _ZERO} if main.fit else None)
    if main.fit is not None:
        diag.update(v_search=search if v is None and X is not None else "fixed",
                    v_start=main.fit.start, v_search_converged=main.fit.outer_converged,
                    loss_v=main.fit.loss_v)
        if not main.fit.outer_converged:
            warns.append("The search over predictor weights (V) stopped before meeting its "
                         "tolerance; the donor weights are optimal for the V reached.")
        if main.training is not None:
            diag.update(validation_window=list(cv.validation),
                        training_predictors=[w[0] for w in cv.windows],
                        validation_mspe=main.training.loss_v)
    if X is not None:
        frames["predictors"] = pd.DataFrame({
            "predictor": [w[0] for w in windows], "treated": X[:, 0],
            "synthetic": X[:, 1:] @ (main.fit.weights if main.fit else main.weights),
            "donor_mean": X[:, 1:].mean(axis=1), "v": main.v})
        if cv is not None:
            frames["predictors"]["training_predictor"] = [w[0] for w in cv.windows]
        _check_v(main, Y, X, T0, windows, pool, opts, diag, warns, frames,
                 compare=check_v and k > 1)
    # convex hull and fit quality
    Zt, Zd = Y[:T0, 0], Y[:T0, 1:]
    outside_pre = float(np.mean((Zt < Zd.min(axis=1)) | (Zt > Zd.max(axis=1))))
    outside_pred = ([] if X is None else
                    [w[0] for w, x, xd in zip(windows, X[:, 0], X[:, 1:], strict=True)
                     if x < xd.min() or x > xd.max()])
    level = float(np.mean(np.abs(Zt)))
    fit_ok = bool(pre_rmspe <= 0.05 * level and outside_pre <= 0.2) if level > 0 else False
    diag.update(outside_hull=bool(outside_pred) or outside_pre > 0.2,
                share_pre_periods_outside_donor_range=outside_pre,
                predictors_outside_donor_range=outside_pred,
                pre_rmspe_relative=pre_rmspe / level if level > 0 else float("nan"),
                fit_ok=fit_ok)
    if outside_pred or outside_pre > 0.2:
        where = (f"on {', '.join(outside_pred)}" if outside_pred else
                 f"in {outside_pre:.0%} of pre-period outcomes")
        warns.append(f"The treated unit lies outside the donors' range {where}: no weighted "
                     "average of donors can match it there (outside the convex hull), so the "
                     "synthetic control extrapolates badly. Consider method='augmented' or "
                     "a donor pool that spans the treated unit.")
    # placebo in space
    ratios = None
    if placebos:
        ratios, plac_frame, rm, pv = _placebos(Y, X, T0, labels, pool, pre_rmspe,
                                               post_rmspe, pre_rmspe_threshold, opts,
                                               treated[0], n_jobs)
        frames["placebos"], frames["rmspe"] = plac_frame, rm
        if pv is not None:
            pv["predictor"] = [windows[i][0] for i in pv["predictor"]]
            frames["placebo_v"] = pv
            diag["placebo_v_search"] = diag.get("v_search")
        n = len(pool)
        rank = int(rm.loc[rm["treated"], "rank"].iloc[0])
        inc = rm[rm["included"] & ~rm["treated"]]
        # With placebos, "good fit" means at least as good as the typical donor's fit
        # from the other donors (noisy small-area rates never fit within 5%).
        median_pre = float(np.median(rm.loc[~rm["treated"], "pre_rmspe"]))
        diag["placebo_median_pre_rmspe"] = median_pre
        diag["fit_ok"] = bool(outside_pre <= 0.2 and pre_rmspe <= median_pre)
        diag.update(p_value=rank / (n + 1), rank=rank, n_placebos=n,
                    excluded_placebos=[str(u) for u in rm.loc[~rm["included"], "unit"]],
                    p_value_fit_restricted=(1 + int((inc["ratio"] >= diag["rmspe_ratio"])
                                                    .sum())) / (len(inc) + 1))
    if not diag["fit_ok"]:
        median = diag.get("placebo_median_pre_rmspe")
        versus = f"; the median placebo's is {median:.3g}" if median is not None else ""
        warns.append(f"The synthetic control fits the treated unit poorly before the start "
                     f"(RMSPE {pre_rmspe:.3g}, {diag['pre_rmspe_relative']:.1%} of its mean "
                     f"level{versus}): the gaps after the start may reflect the poor fit, not "
                     "the scheme. Evidence level held at 3.")
    if placebo_time is not None:
        frames["placebo_time"], diag["placebo_time"] = _placebo_in_time(
            panel, Y, units, windows, placebo_time, start_code, T0, labels, opts)
    if leave_one_out and method == "classic":
        frames["loo"] = _leave_one_out(Y, X, T0, labels, pool, main.weights, opts)
        if not frames["loo"].empty:
            means = frames["loo"][frames["loo"]["time"].isin(set(np.array(labels)[post]))] \
                .groupby("dropped_unit")["gap"].mean()
            diag["loo_gap_mean_range"] = [float(means.min()), float(means.max())]
    records = _records(gap, T0, labels, horizons, ratios, pre_rmspe, diag, warns,
                       conf_level=conf_level, outcome=outcome, scheme=scheme, domain=domain,
                       n_units=len(units))
    options = {"outcome": outcome, "unit": unit, "time": time, "treated_unit": treated[0],
               "start": panel.axis.label(start_code), "predictors": predictors,
               "donors": donors, "method": method, "placebos": placebos,
               "horizons": horizons, "pre_rmspe_threshold": pre_rmspe_threshold,
               "placebo_time": placebo_time, "leave_one_out": leave_one_out,
               "v": None if v is None else list(map(float, v)), "search": search,
               "validation_window": validation_window,
               "training_predictors": training_predictors, "check_v": check_v,
               "random_starts": random_starts, "lam": lam, "seed": seed,
               "conf_level": conf_level}
    return SyntheticControlResult(design=DESIGN, effects=effects_frame(records),
                                  diagnostics=diag, warnings=tuple(warns), options=options,
                                  frames=frames)


def _alternative_search(search: str, fixed_v: bool) -> str:
    """The second way of choosing V that :func:`_check_v` compares with."""
    return "nelder-mead" if search == "multistart" and not fixed_v else "multistart"


def _check_v(main: _Fit, Y, X, T0, windows, pool, opts, diag, warns, frames, *,
             compare: bool) -> None:
    """Warn when one predictor dominates V, and when another choice of V moves the weights.

    The donor weights compared are the classic ones (before any ridge correction).
    """
    names = [w[0] for w in windows]
    v = np.asarray(main.v, float)
    top = int(np.argmax(v))
    dominant = len(names) > 1 and v[top] > V_DOMINANCE
    diag.update(v={n: float(x) for n, x in zip(names, v, strict=True)},
                v_max_share=float(v[top]),
                v_dominant_predictor=names[top] if dominant else None)
    if dominant:
        warns.append(f"One predictor, {names[top]}, carries {v[top]:.0%} of the predictor "
                     "weights (V): the donors were chosen mainly to match it, and the other "
                     "predictors barely count. Check that this is a predictor you would "
                     "choose to match on, or choose V by cross-validation "
                     "(search='cross-validation').")
    if not compare:
        return
    fixed = diag.get("v_search") == "fixed"
    alt = _alternative_search(opts["search"], fixed)
    other = _fit_one(Y, X, 0, np.arange(1, Y.shape[1]), T0,
                     **dict(opts, v=None, search=alt, cv=None, method="classic"))
    w_main = main.fit.weights
    shift = 0.5 * float(np.abs(w_main - other.weights).sum())
    gap = Y[:T0, 0] - other.synthetic[:T0]
    order = np.argsort(-other.weights, kind="stable")
    diag["v_alternative"] = {
        "search": alt, "weight_shift": shift,
        "pre_rmspe": float(np.sqrt(np.mean(gap ** 2))),
        "top_weights": [[str(pool[i]), float(other.weights[i])] for i in order[:5]
                        if other.weights[i] > _ZERO],
        "v": {n: float(x) for n, x in zip(names, other.v, strict=True)}}
    diag["weights_depend_on_v"] = bool(shift >= WEIGHT_SHIFT)
    by_unit = dict(zip(map(str, pool), other.weights, strict=True))
    frames["weights"]["weight_alternative"] = [by_unit[str(u)]
                                               for u in frames["weights"]["unit"]]
    frames["predictors"]["v_alternative"] = other.v
    if shift >= WEIGHT_SHIFT:
        how = "the V given" if fixed else f"the {diag['v_search']} search"
        warns.append(f"The donor weights are not unique in V: choosing V by the {alt} "
                     f"search instead of {how} moves {shift:.0%} of the weight to other "
                     f"donors (pre-period RMSPE {diag['v_alternative']['pre_rmspe']:.3g} "
                     f"against {diag['pre_rmspe']:.3g}). The estimate rests on one choice "
                     "among several that fit about as well; report both, or choose V by "
                     "cross-validation (search='cross-validation').")


def _placebo_gap(args) -> tuple[np.ndarray, np.ndarray | None]:
    """One placebo fit (a top-level function, so worker processes can run it): its gap
    and its V."""
    Y, X, j, others, T0, opts = args
    f = _fit_one(Y, X, j, others, T0, **opts)
    return Y[:, j] - f.synthetic, f.v


def _one_blas_thread() -> None:
    """Worker start-up: one BLAS thread each, so workers do not oversubscribe the cores.

    The fits are small matrix problems; with the BLAS's own threads on top of ``n_jobs``
    processes, two workers on two cores ran slower than one process.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def _map(func, tasks: list, n_jobs: int) -> list:
    """``map`` in this process, or over ``n_jobs`` worker processes."""
    if n_jobs <= 1 or len(tasks) < 4:
        return [func(t) for t in tasks]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp.get_context(method),
                             initializer=_one_blas_thread) as pool:
        return list(pool.map(func, tasks, chunksize=max(1, len(tasks) // (4 * n_jobs))))


def _placebos(Y, X, T0, labels, pool, pre_rmspe, post_rmspe, threshold, opts, treated_name,
              n_jobs):
    """Refit every donor as if treated, with the other donors (not the treated unit)."""
    n = len(pool)
    tasks = [(Y, X, j, np.array([i for i in range(1, n + 1) if i != j]), T0, opts)
             for j in range(1, n + 1)]
    out = _map(_placebo_gap, tasks, n_jobs)
    G = np.column_stack([g for g, _ in out])          # periods x placebos
    pre = np.sqrt(np.mean(G[:T0] ** 2, axis=0))
    postr = np.sqrt(np.mean(G[T0:] ** 2, axis=0))
    vs = [pv for _, pv in out]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pre > 0, postr / pre, np.inf)
    included = pre <= threshold * pre_rmspe
    t_ratio = post_rmspe / pre_rmspe if pre_rmspe > 0 else np.inf
    all_ratio = np.append(t_ratio, ratio)
    # rank: how many units have a ratio at least as large (ties counted against the unit)
    rank = (all_ratio[None, :] >= all_ratio[:, None]).sum(axis=1)
    rm = pd.DataFrame({"unit": [str(treated_name), *map(str, pool)],
                       "pre_rmspe": np.append(pre_rmspe, pre),
                       "post_rmspe": np.append(post_rmspe, postr), "ratio": all_ratio,
                       "rank": rank, "treated": [True] + [False] * n,
                       "included": np.append(True, included)})
    T = len(labels)
    plac = pd.DataFrame({"unit": np.repeat([str(u) for u in pool], T),
                         "time": np.tile(labels, n), "gap": G.T.ravel(),
                         "included": np.repeat(included, T)})
    pv = None
    if vs[0] is not None:
        k = len(vs[0])
        pv = pd.DataFrame({"unit": np.repeat([str(u) for u in pool], k),
                           "predictor": np.tile(np.arange(k), n),
                           "v": np.concatenate(vs)})
    return ratio, plac, rm, pv


def _leave_one_out(Y, X, T0, labels, pool, weights, opts) -> pd.DataFrame:
    frames = []
    n = len(pool)
    for j in np.flatnonzero(weights > _ZERO):
        keep = np.array([i for i in range(1, n + 1) if i != j + 1])
        if keep.size < 2:
            continue
        f = _fit_one(Y, X, 0, keep, T0, **opts)
        frames.append(pd.DataFrame({"dropped_unit": str(pool[j]), "time": labels,
                                    "synthetic": f.synthetic, "gap": Y[:, 0] - f.synthetic}))
    if not frames:
        return pd.DataFrame(columns=["dropped_unit", "time", "synthetic", "gap"])
    return pd.concat(frames, ignore_index=True)


def _placebo_in_time(panel, Y, units, windows, placebo_time, start_code, T0, labels, opts):
    """Backdate the start to ``placebo_time``, using only periods before the real start."""
    fake = parse_period(placebo_time, panel.axis, what="placebo_time")
    T0f = int((panel.codes < fake).sum())
    if fake >= start_code or T0f < 2:
        raise DesignError(f"placebo_time {panel.axis.label(fake)} must be after the second "
                          f"period and before the start {panel.axis.label(start_code)}",
                          fix="choose a period inside the pre-period")
    Yp = Y[:T0]
    Xp = None
    kept = []
    if windows is not None:
        for label, var, a, b, op in windows:
            if a < fake:
                kept.append((label, var, a, min(b, fake - 1), op))
        if kept:
            Xp = _predictor_matrix(panel, kept, units)
    popts = dict(opts, v=None) if windows is None or len(kept) != len(windows) else opts
    if opts["search"] == "cross-validation":
        # The validation outcomes lie after the backdated start: search V afresh instead.
        popts = dict(popts, search="multistart", cv=None)
    f = _fit_one(Yp, Xp, 0, np.arange(1, len(units)), T0f, **popts)
    gap = Yp[:, 0] - f.synthetic
    pre, post = _rmspe(gap, T0f)
    frame = pd.DataFrame({"time": labels[:T0], "treated": Yp[:, 0], "synthetic": f.synthetic,
                          "gap": gap, "post": np.arange(T0) >= T0f})
    info = {"start": panel.axis.label(fake), "pre_rmspe": pre, "post_rmspe": post,
            "gap_mean": float(gap[T0f:].mean()),
            "predictors_used": [w[0] for w in kept] if windows is not None
            else "every pre-period outcome",
            "v_search": "fixed" if popts["v"] is not None else popts["search"]}
    return frame, info


def _records(gap, T0, labels, horizons, ratios, pre_rmspe, diag, warns, *, conf_level,
             outcome, scheme, domain, n_units) -> list[EffectRecord]:
    post_gap = gap[T0:]
    level = maryland_level(DESIGN, "gap_mean", diag)
    common = dict(scheme=scheme, domain=domain, outcome=outcome, design=DESIGN,
                  scale="difference", conf_level=conf_level, n_units=n_units,
                  pre_periods=T0, post_periods=post_gap.size, evidence_level=level,
                  warnings=tuple(warns))
    lo = hi = float("nan")
    if ratios is not None:
        lo, hi = _constant_effect_interval(post_gap, pre_rmspe, ratios, conf_level)
    d = dict(diag, interval="constant-effect permutation set (Firpo and Possebom, 2018)"
             if math.isfinite(lo) else "not available (too few placebos or none)")
    records = [EffectRecord(estimand="gap_mean", estimate=float(post_gap.mean()),
                            se=float("nan"), ci_low=lo, ci_high=hi,
                            p_value=diag.get("p_value", float("nan")), diagnostics=d,
                            **common)]
    hs = list(horizons) if horizons is not None else [post_gap.size]
    for h in hs:
        if not (isinstance(h, (int, np.integer)) and 1 <= h <= post_gap.size):
            raise DesignError(f"horizon {h!r} is outside the post period (1 to "
                              f"{post_gap.size})", fix="give whole numbers of periods after "
                              "the start, 1 for the first")
        records.append(EffectRecord(estimand=f"gap_at:{h}", estimate=float(post_gap[h - 1]),
                                    se=float("nan"), ci_low=float("nan"),
                                    ci_high=float("nan"), p_value=float("nan"),
                                    diagnostics={**diag, "period": labels[T0 + h - 1]},
                                    **common))
    return records


def _sdid(panel, treated, pool, T0, *, outcome, conf_level, scheme, domain, seed, start,
          placebos) -> SyntheticControlResult:
    from scipy import stats

    from evalkit.designs.sdid import sdid_fit

    Y = panel.Y[[*pool, *treated]].to_numpy(float).T
    fit = sdid_fit(Y, len(treated), T0, se="placebo" if placebos else "none", seed=seed)
    warns: list[str] = []
    if not fit.converged:
        # Frank-Wolfe reached its iteration cap (synthdid's 10,000) still lowering the
        # penalised loss by more than its tolerance. The weights are feasible and close to
        # optimal (synthdid returns them silently); say so rather than hide it.
        warns.append("The synthetic DiD weight solver reached its iteration cap before its "
                     "stopping rule (as synthdid's does on this panel); the weights are "
                     "feasible and near-optimal but not certified optimal.")
    z = stats.norm.ppf(0.5 + conf_level / 2)
    se = fit.se
    T = Y.shape[1]
    labels = panel.axis.labels(panel.codes)
    treated_mean = Y[len(pool):].mean(axis=0)
    synthetic = fit.unit_intercept + fit.unit_weights @ Y[:len(pool)]
    lam_pre = fit.time_weights @ (treated_mean[:T0] - synthetic[:T0])
    path = pd.DataFrame({"time": labels, "treated": treated_mean,
                         "synthetic": synthetic + lam_pre, "gap": treated_mean - synthetic
                         - lam_pre, "post": np.arange(T) >= T0})
    weights = (pd.DataFrame({"unit": pool, "weight": fit.unit_weights})
               .sort_values("weight", ascending=False, kind="stable").reset_index(drop=True))
    diag = {"method": "sdid", "treated_units": [str(t) for t in treated],
            "solver_converged": fit.converged,
            "n_donors": len(pool), "start": panel.axis.label(start), "pre_periods": T0,
            "post_periods": T - T0, "se_method": fit.se_method, "zeta": fit.zeta,
            "time_weights": dict(zip(labels[:T0], map(float, fit.time_weights),
                                     strict=True))}
    ok = math.isfinite(se) and se > 0
    p = float(2 * stats.norm.sf(abs(fit.estimate) / se)) if ok else float("nan")
    diag.update(p_value=p, p_value_method="normal approximation with the placebo "
                "standard error (Arkhangelsky et al., 2021, Algorithm 4)")
    rec = EffectRecord(
        scheme=scheme, domain=domain, outcome=outcome, design=DESIGN, estimand="att_sdid",
        scale="difference", estimate=float(fit.estimate), se=se,
        ci_low=fit.estimate - z * se if ok else float("nan"),
        ci_high=fit.estimate + z * se if ok else float("nan"), conf_level=conf_level,
        p_value=p, n_units=Y.shape[0], pre_periods=T0, post_periods=T - T0,
        evidence_level=maryland_level(DESIGN, "att_sdid", {**diag, "fit_ok": True}),
        diagnostics=diag, warnings=tuple(warns))
    return SyntheticControlResult(design=DESIGN, effects=effects_frame([rec]),
                                  diagnostics=diag, warnings=tuple(warns),
                                  options={"outcome": outcome, "treated_unit": treated,
                                           "start": panel.axis.label(start),
                                           "method": "sdid", "placebos": placebos,
                                           "seed": seed, "conf_level": conf_level},
                                  frames={"path": path, "weights": weights})
