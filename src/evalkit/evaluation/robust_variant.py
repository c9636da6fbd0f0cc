"""The robust variant of a comparative design whose units were chosen at a peak.

Where a comparative design's selection-at-a-peak check fires, or the spec declares that the
scheme chose its units for high values (:func:`evalkit.evidence.selection.selection_concern`),
:func:`evalkit.run_spec` runs the same design again with the *selection window*, the
baseline window of the check (the 12 months, or the one period, just before the start),
left out of the pre-period. The peak then no longer sets the baseline that the design
projects forward; the comparison still removes what the two groups share. Both estimates
are kept: the main one, and the variant beside it (its records carry the diagnostic
``variant`` = :data:`~evalkit.evidence.selection.ROBUST_VARIANT` and ``variant_window``, the
periods left out, and the main record's selection diagnostics).

How each design leaves the window out:

- controlled interrupted time series, difference-in-differences, synthetic control: the
  rows of the window's periods are dropped, for every unit (a difference-in-differences on
  whole-number periods, such as years, renumbers the periods after the gap: its period
  fixed effects need no gap);
- economic evaluation against all other patients (``comparison: did``): the change is
  measured from the period before the window (``before``).

Matched comparisons (the ``matched`` design with ``pre`` columns, the economic evaluation
with ``comparison: matched``) already match on the pre-period outcome trajectory, the
other remedy for a peak, and get no variant: leaving the last pre-period out of the
matching was tried on the synthetic schemes and moved five of eight estimates with a truth
further from it (the rapid-response scheme's QALYs, whose patients were chosen on a lasting
latent risk, from 3.9 to 7.9 standard errors), because what it removes is not only the peak
but the information that tells a passing peak from a lasting risk. For them the report
states what matching cannot remove and gives the E-value.

A design with no selection window in its diagnostics (the check was not computed) gets no
variant. Leaving the window out removes the peak but not the return towards the usual level
that may continue after the start, nor selection on what is permanent and unmeasured; the
certainty rating says so (:mod:`evalkit.evidence.certainty`).

References
----------
Daw JR, Hatfield LA (2018). Matching and regression to the mean in difference-in-differences
analysis. *Health Services Research* 53:4138-4156.
Heckman JJ, Smith JA (1999). The pre-programme earnings dip and the determinants of
participation in a social programme. *Economic Journal* 109:313-348.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from evalkit.data.periods import parse_period, parse_periods
from evalkit.evidence.selection import (
    ROBUST_VARIANT,
    SELECTION_KEYS,
    selection_concern,
    window_text,
)

__all__ = ["ROBUST_DESIGNS", "declared_tables", "mark_declared", "robust_inputs",
           "mark_variant", "variant_label", "variant_analysis"]

#: Designs whose records can carry ``selection_declared`` (all but ``matched`` and the
#: matched economic evaluation also get a robust variant).
ROBUST_DESIGNS = ("its", "did", "synthetic_control", "matched", "economic")


def declared_tables(spec) -> set[str]:
    """Data tables on which some analysis of the spec declares ``selected_on_baseline``."""
    return {a.data for a in spec.analyses if a.options.get("selected_on_baseline")}


def _comparative(design: str, diag: Mapping[str, Any]) -> bool:
    if design == "its":
        return bool(diag.get("controlled", False))
    if design == "economic":
        return diag.get("comparison") not in (None, "before_after")
    return design in ROBUST_DESIGNS


def mark_declared(result, design: str) -> None:
    """Record on each comparative record that the spec declares selection on high values."""
    result.effects["diagnostics"] = [
        {**d, "selection_declared": True} if _comparative(design, d) else d
        for d in result.effects["diagnostics"]]


def _concern(result, design: str) -> dict[str, Any] | None:
    """The selection diagnostics of the first record with a concern, or None."""
    for d in result.effects["diagnostics"]:
        if isinstance(d, Mapping) and _comparative(design, d) and selection_concern(d):
            return {k: d[k] for k in SELECTION_KEYS if k in d}
    return None


def _drop_window(data: pd.DataFrame, time: str, window: list[str]) -> pd.DataFrame | None:
    codes, axis = parse_periods(data[time], column=time)
    lo, hi = (parse_period(w, axis, what="selection window") for w in window)
    keep = (codes < lo) | (codes > hi)
    return None if keep.all() else data[keep]


def _close_gap(data: pd.DataFrame, opts: dict[str, Any], time: str
               ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Whole-number periods renumbered without the gap the window left (a DiD with period
    fixed effects uses their order only); monthly periods are left as they are."""
    codes, axis = parse_periods(data[time], column=time)
    if axis.kind != "integer" or opts.get("start") is None:
        return data, opts
    kept = sorted(set(codes.tolist()))
    rank = {c: kept[0] + i for i, c in enumerate(kept)}
    start = parse_period(opts["start"], axis)
    later = [c for c in kept if c >= start]
    if not later:
        return data, opts
    out = data.copy()
    out[time] = [rank[c] for c in codes]
    return out, {**opts, "start": rank[later[0]]}


def robust_inputs(analysis, result, options: Mapping[str, Any], data: pd.DataFrame
                  ) -> tuple[dict[str, Any], pd.DataFrame, list[str], dict[str, Any],
                             dict[str, Any]] | None:
    """The options, data, window, selection diagnostics and changed options of the robust
    variant of an analysis, or None when it needs none (no concern) or cannot have one.

    Parameters
    ----------
    analysis
        The spec's :class:`~evalkit.evaluation.spec.Analysis`.
    result
        Its :class:`~evalkit.results.DesignResult` (with ``selection_declared`` marked).
    options, data
        The options and data the design ran with.
    """
    design = analysis.design
    if design not in ROBUST_DESIGNS:
        return None
    sel = _concern(result, design)
    if sel is None or not sel.get("selection_windows"):
        return None
    window = [str(w) for w in sel["selection_windows"][1]]
    opts = dict(options)
    if design in ("its", "did", "synthetic_control"):
        time = opts.get("time")
        if time is None or time not in data.columns:
            return None
        kept = _drop_window(data, time, window)
        if kept is None:
            return None
        if design == "did":  # its unit fixed effects need no gap: renumber whole periods
            kept, opts = _close_gap(kept, opts, time)
        return opts, kept, window, sel, {"exclude_periods": window}
    if design == "matched" or opts.get("comparison", "did") != "did":
        return None  # matched on the pre-period trajectory already (see the module notes)
    # economic: measure the change from the period before the window
    time = opts.get("time", "year")
    ref = str(sel["selection_windows"][0][-1])
    values = [v for v in pd.unique(data[time]) if str(v) == ref] if time in data else []
    if not values or str(values[0]) == str(opts.get("before")):
        return None
    opts["before"] = values[0]
    changes = {"before": values[0]}
    if opts.get("match_periods") is not None:
        opts["match_periods"] = changes["match_periods"] = [
            p for p in opts["match_periods"] if str(p) not in window]
    return opts, data, window, sel, changes


def mark_variant(result, window: list[str], selection: Mapping[str, Any]) -> None:
    """Mark a robust variant's records: ``variant``, ``variant_window`` and the main
    record's selection diagnostics (the variant cannot repeat the check: its window is
    gone)."""
    result.effects["diagnostics"] = [
        {**{k: v for k, v in d.items() if not k.startswith("selection_")}, **selection,
         "variant": ROBUST_VARIANT, "variant_window": list(window)}
        for d in result.effects["diagnostics"]]


def variant_label(analysis, window: list[str]) -> str:
    """The robust variant's label: the main analysis's, and what was left out."""
    base = analysis.label or f"{analysis.design} on {analysis.data}"
    return (f"{base}; robust to selection at a peak: {window_text(window)} left out of the "
            "pre-period")


def variant_analysis(analysis, changes: Mapping[str, Any], window: list[str]):
    """The :class:`~evalkit.evaluation.spec.Analysis` of the robust variant: the spec's options with
    the changes (``exclude_periods`` for designs whose rows were dropped), for the record."""
    return replace(analysis, options={**analysis.options, **changes},
                   label=variant_label(analysis, window))
