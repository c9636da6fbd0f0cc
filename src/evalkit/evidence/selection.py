"""Selection at a peak: did the scheme's units rise above the comparison just before the start?

Schemes often enrol the practices or patients whose activity or cost has just peaked.
A comparative design (controlled ITS, difference-in-differences, matched cohorts,
synthetic control) removes what the two groups share, but not a transient rise that only
the chosen units had: after the start their activity falls back whatever the scheme does,
and the design credits the scheme with the fall. It is the mirror image of the
"Ashenfelter dip" in evaluations of training programmes, whose participants enrol after a
fall in earnings (Ashenfelter, 1978; Heckman and Smith, 1999). Matching on the pre-period
outcome does not help: the matched comparison units share the observed peak but not the
unmeasured reason for it, and regress towards their own mean (Daw and Hatfield, 2018).

The check uses only pre-period data and the guard of :mod:`evalkit.designs.regression_to_mean`,
with the comparison group in place of the population. Two windows of ``window`` periods:

- R, the *reference* window, just before the baseline;
- B, the *baseline* window, just before the start.

For each unit, its change from R to B: the log of the ratio of its rates (counts over the
denominator) for ``scale="ratio"``, the difference of its means for ``"difference"``. The
*rise* is the mean change of the scheme's units minus that of the comparison's units,
and its standard error comes from the spread of the units' changes (Welch:
``sqrt(s_t^2/n_t + s_c^2/n_c)``). The check *fires* when ``z > Z_THRESHOLD`` (2, a
one-sided test at about 2.3%) and, for ratios, the rise exceeds :data:`RATIO_MIN_RISE`
(1%). With ``direction="either"`` a fall (selection at a low point, e.g. quality of life
falling before a crisis service is offered) counts too, at ``|z| > 2``. The reference
window is by default every pre-period before the baseline window (a less noisy reference
than one window; trends common to both groups cancel in the difference).

Where the check fires, or the spec declares that the scheme chose its units for high values
(``selected_on_baseline``, recorded on the comparative designs' records as
``selection_declared``), :func:`evalkit.run_spec` runs a *robust variant* of the design
beside the main estimate (:mod:`evalkit.evaluation.robust_variant`): the same design with the
baseline window left out of the pre-period, so the peak no longer sets the baseline. Its
records carry ``variant`` = :data:`ROBUST_VARIANT`.

Units with no rows in either window are left out. With a single treated unit (a
synthetic control of one area) the standard error is that of one new unit's change
against the comparison units' spread, ``s_c * sqrt(1 + 1/n_c)``. The check is not
computed (None) without a treated unit and two comparison units with both windows.

References
----------
Ashenfelter O (1978). Estimating the effect of training programs on earnings. *Review of
Economics and Statistics* 60:47-57.
Heckman JJ, Smith JA (1999). The pre-programme earnings dip and the determinants of
participation in a social programme. *Economic Journal* 109:313-348.
Daw JR, Hatfield LA (2018). Matching and regression to the mean in difference-in-differences
analysis. *Health Services Research* 53:4138-4156.
Barnett AG, van der Pols JC, Dobson AJ (2005). Regression to the mean: what it is and how to
deal with it. *International Journal of Epidemiology* 34:215-220.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.naming import column_words

__all__ = ["SelectionCheck", "selection_at_peak", "unit_column", "selection_concern",
           "variant_words", "window_text",
           "SELECTION_KEYS", "ROBUST_VARIANT", "Z_THRESHOLD", "RATIO_MIN_RISE"]

#: |z| above which the check fires.
Z_THRESHOLD = 2.0
#: For ratios, the smallest rise (either way, on the ratio scale) that counts.
RATIO_MIN_RISE = 0.01
#: The ``variant`` diagnostic of a robust variant's records.
ROBUST_VARIANT = "selection_window_excluded"
#: The diagnostics of the check (copied onto a robust variant's records).
SELECTION_KEYS = ("selection_at_peak", "selection_rise", "selection_se", "selection_z",
                  "selection_windows", "selection_units", "selection_reason",
                  "selection_declared")


def window_text(window: Any) -> str:
    """A window of periods in words: "2018-04 to 2019-03", "period 2" or a column's name.

    Examples
    --------
    >>> window_text(["2018-04", "2019-03"]), window_text(["2", "2"])
    ('2018-04 to 2019-03', 'period 2')
    """
    if not isinstance(window, (list, tuple)) or not window:
        return "the periods just before the start"
    lo, hi = str(window[0]), str(window[-1])
    one = lo if lo == hi else f"{lo} to {hi}"
    return f"period {one}" if lo == hi and lo.isdigit() else one


def variant_words(diagnostics: Any) -> str:
    """What a robust variant left out, for a label ("" for a main estimate).

    Examples
    --------
    >>> variant_words({"variant": ROBUST_VARIANT, "variant_window": ["2018-04", "2019-03"]})
    'robust to selection: 2018-04 to 2019-03 left out'
    """
    d = diagnostics if isinstance(diagnostics, Mapping) else {}
    if d.get("variant") != ROBUST_VARIANT:
        return ""
    return f"robust to selection: {window_text(d.get('variant_window'))} left out"


def selection_concern(diagnostics: Any) -> str | None:
    """Whether a comparative record is at risk from units chosen at a peak, judged by its own
    diagnostics: ``"fired"`` (its check fired), ``"declared"`` (the spec says the scheme
    chose its units for high values) or None.

    Examples
    --------
    >>> selection_concern({"selection_at_peak": True}), selection_concern({})
    ('fired', None)
    """
    d = diagnostics if isinstance(diagnostics, Mapping) else {}
    if bool(d.get("selection_at_peak", False)):
        return "fired"
    if bool(d.get("selection_declared", False)):
        return "declared"
    return None


@dataclass(frozen=True)
class SelectionCheck:
    """The selection-at-a-peak check of a comparative design.

    Attributes
    ----------
    scale
        ``"ratio"`` (``rise`` and ``se`` on the log scale) or ``"difference"``.
    rise, se
        How much more the scheme's units rose from the reference window into the baseline
        window than the comparison's units, and its standard error.
    reference_window, baseline_window
        Labels of the first and last periods of each window.
    n_treated, n_comparison
        Units with data in both windows.
    """

    scale: str
    direction: str
    rise: float
    se: float
    reference_window: tuple[str, str]
    baseline_window: tuple[str, str]
    n_treated: int
    n_comparison: int

    @property
    def z(self) -> float:
        """The rise in standard errors."""
        return self.rise / self.se if self.se > 0 else 0.0

    @property
    def fired(self) -> bool:
        """True when the rise is clear (z > 2; |z| > 2 with ``direction="either"``) and,
        for ratios, over 1%."""
        big = abs(np.expm1(self.rise)) > RATIO_MIN_RISE if self.scale == "ratio" else True
        z = abs(self.z) if self.direction == "either" else self.z
        return bool(z > Z_THRESHOLD and big)

    def describe(self, what: str = "outcome") -> str:
        """One plain sentence on the rise into the start."""
        if self.scale == "ratio":
            size = f"{abs(np.expm1(self.rise)) * 100:.1f}%"
        else:
            v = abs(self.rise)
            size = f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
        way = "rose" if self.rise > 0 else "fell"
        peak = "a peak" if self.rise > 0 else "a low point"
        return (f"the scheme's units' {what} {way} {size} more than the comparison's between "
                f"the reference window ({_span(self.reference_window)}) and the baseline "
                f"window just before the start ({_span(self.baseline_window)}; z = "
                f"{self.z:.1f}): they were chosen at {peak}, and "
                "neither the comparison nor matching on the observed values removes the "
                "return towards their usual level that follows")

    def as_dict(self, what: str = "outcome") -> dict[str, Any]:
        """Diagnostics for an effect record (the rise as a ratio for ``scale="ratio"``)."""
        return {
            "selection_at_peak": self.fired,
            "selection_rise": float(np.exp(self.rise) if self.scale == "ratio" else self.rise),
            "selection_se": float(self.se),
            "selection_z": float(self.z),
            "selection_windows": [list(self.reference_window), list(self.baseline_window)],
            "selection_units": [self.n_treated, self.n_comparison],
            "selection_reason": self.describe(what) if self.fired else "",
        }


def _span(window: tuple[str, str]) -> str:
    if window[0] == window[1] and str(window[0]).isidentifier():  # a column: in words
        return column_words(str(window[0]))
    one = window[0] if window[0] == window[1] else f"{window[0]} to {window[1]}"
    return f"period {one}" if one.isdigit() else one


def selection_at_peak(values: Any, *, unit: Any, period: Any, treated: Any, start: int,
                      window: int = 12, reference: int | None = None,
                      denominator: Any = None, scale: str = "ratio", direction: str = "up",
                      label: Callable[[int], str] | None = None) -> SelectionCheck | None:
    """Check whether the scheme's units rose above the comparison just before the start.

    Parameters
    ----------
    values
        The outcome, one value per unit and period (counts for ``scale="ratio"``).
    unit, period
        Unit labels and integer period codes, row for row with ``values``.
    treated
        True for the scheme's units, False for the comparison, row for row.
    start
        The period code of the start; the baseline window is the ``window`` periods
        before it and the reference window the ``window`` before that.
    window
        Periods in each window (12 months; 1 for yearly patient data).
    denominator
        Population at risk for rates (``scale="ratio"``); None for none.
    scale
        ``"ratio"`` (log of the rate ratio) or ``"difference"``.
    direction
        ``"up"`` (a rise into the start fires the check) or ``"either"``.
    reference
        Periods in the reference window; by default all pre-periods before the baseline
        window.
    label
        A period's label from its code (for the windows' names); by default the code.

    Returns
    -------
    SelectionCheck or None
        None without a treated unit and two comparison units with both windows.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.tile(np.arange(4), 6); u = np.repeat(np.arange(6), 4)
    >>> y = np.where((u < 3) & (t == 1), 12.0, 10.0) + u * 0.1 + (t == 0) * 0.01 * u
    >>> chk = selection_at_peak(y, unit=u, period=t, treated=u < 3, start=2, window=1,
    ...                         scale="difference")
    >>> round(chk.rise, 2), chk.fired
    (2.03, True)
    """
    frame = pd.DataFrame({
        "u": np.asarray(unit), "t": np.asarray(period, dtype=int),
        "y": pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(float),
        "d": (np.ones(len(np.asarray(unit))) if denominator is None else
              pd.to_numeric(pd.Series(np.asarray(denominator)),
                            errors="coerce").to_numpy(float)),
        "g": np.asarray(treated, dtype=bool)})
    frame = frame.dropna()
    base0 = start - window
    ref0 = base0 - (reference if reference is not None else
                    max(window, base0 - int(np.min(np.asarray(period, dtype=int)))))
    frame["w"] = np.select([(frame["t"] >= base0) & (frame["t"] < start),
                            (frame["t"] >= ref0) & (frame["t"] < base0)], ["B", "R"], "")
    frame = frame[frame["w"] != ""]
    if frame.empty:
        return None
    agg = frame.groupby(["u", "w"]).agg(y=("y", "sum" if scale == "ratio" else "mean"),
                                        d=("d", "sum"), g=("g", "max")).unstack("w")
    if ("y", "B") not in agg or ("y", "R") not in agg:
        return None
    agg = agg.dropna()
    if scale == "ratio":
        rb, rr = agg[("y", "B")] / agg[("d", "B")], agg[("y", "R")] / agg[("d", "R")]
        ok = (rb > 0) & (rr > 0)
        change = np.log(rb[ok] / rr[ok])
        group = agg.loc[ok, ("g", "B")].astype(bool)
    else:
        change = agg[("y", "B")] - agg[("y", "R")]
        group = agg[("g", "B")].astype(bool)
    ct, cc = change[group.to_numpy()], change[~group.to_numpy()]
    if len(ct) < 1 or len(cc) < 2:
        return None
    rise = float(ct.mean() - cc.mean())
    if len(ct) == 1:  # one treated unit (synthetic control): against the others' spread
        se = float(np.sqrt(cc.var(ddof=1) * (1 + 1 / len(cc))))
    else:
        se = float(np.sqrt(ct.var(ddof=1) / len(ct) + cc.var(ddof=1) / len(cc)))

    name = str if label is None else (lambda code: str(label(code)))
    return SelectionCheck(scale=scale, direction=direction, rise=rise, se=se,
                          reference_window=(name(ref0), name(base0 - 1)),
                          baseline_window=(name(base0), name(start - 1)),
                          n_treated=len(ct), n_comparison=len(cc))


def unit_column(data: pd.DataFrame, time: str) -> str | None:
    """The panel's unit column when a design was not told it: the first text column that,
    with ``time``, identifies the rows; None if there is none.

    Examples
    --------
    >>> unit_column(pd.DataFrame({"practice": ["a", "a", "b"], "month": [1, 2, 1],
    ...                           "y": [1, 2, 3]}), "month")
    'practice'
    """
    for col in data.columns:
        if col == time or pd.api.types.is_numeric_dtype(data[col]) or \
                pd.api.types.is_bool_dtype(data[col]):
            continue
        if not data.duplicated([col, time]).any():
            return str(col)
    return None
