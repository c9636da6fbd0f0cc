"""Robustness and sensitivity checks of an evidence summary, as a table.

:func:`robustness_checks` gathers the checks the designs already ran and stored in their
diagnostics: whether the designs agree on each outcome
(:func:`evalkit.evidence.certainty.triangulate`,
through the certainty rating), parallel pre-period trends, sensitivity to departures from
parallel trends (Rambachan and Roth), residual autocorrelation in interrupted time series,
the regression-to-the-mean adjustment, synthetic-control placebos and leave-one-out, and
balance after matching. Nothing is re-estimated.

Examples
--------
>>> import pandas as pd
>>> print(robustness_markdown_table(pd.DataFrame({"Check": ["Pre-trends"],
...     "Analysis": ["ITS"], "Result": ["p = 0.4"]})).splitlines()[0])
| Check | Analysis | Result |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from evalkit.evidence.certainty import CertaintyResult, design_name
from evalkit.evidence.narrative import format_effect, format_sig, p_text
from evalkit.evidence.selection import variant_words, window_text
from evalkit.naming import column_words
from evalkit.report.summary import pipe_table
from evalkit.results import headline_effects

__all__ = ["robustness_checks", "robustness_markdown_table"]


def _row(check: str, analysis: str, result: str) -> dict[str, str]:
    return {"Check": check, "Analysis": analysis, "Result": result}


def robustness_checks(evaluation, certainty: CertaintyResult | None = None) -> pd.DataFrame:
    """Every robustness and sensitivity check the scheme's designs ran, one row each.

    Parameters
    ----------
    evaluation
        The scheme's :class:`~evalkit.evaluation.pipeline.Evaluation`.
    certainty
        Its certainty rating (for the comparison of designs on each outcome).

    Returns
    -------
    pandas.DataFrame
        ``Check``, ``Analysis`` (the outcome and design) and ``Result`` (in words, with
        numbers).
    """
    spec = evaluation.spec
    rows: list[dict[str, str]] = []
    if certainty is not None:
        for tri in certainty.triangulations:
            if tri.n_designs >= 2 and tri.outcome in spec.outcomes:
                rows.append(_row("Designs compared", spec.outcome_label(tri.outcome),
                                 tri.statement))
    mains: dict[tuple, Any] = {}
    for analysis, res in evaluation.results:
        label = spec.outcome_label(analysis.outcome)
        eff = res.effects.set_index("estimand")
        d = res.effects.iloc[0]["diagnostics"] if len(res.effects) else {}
        d = d if isinstance(d, Mapping) else {}
        if not variant_words(d):
            mains[(analysis.design, analysis.data, analysis.outcome)] = eff
        else:  # a variant robust to selection at a peak, beside its main estimate
            main = mains.get((analysis.design, analysis.data, analysis.outcome))
            lead = headline_effects(res.effects)
            if main is not None and len(lead):
                r = lead.iloc[0]
                if r["estimand"] in main.index:
                    span = window_text(d.get("variant_window"))
                    rows.append(_row("Selection at a peak", f"{label}: "
                                     f"{design_name(analysis.design)}",
                                     f"as designed {format_effect(main.loc[r['estimand']])}; "
                                     f"with {span} left out of the pre-period "
                                     f"{format_effect(r)}"))
            continue
        if analysis.design == "prepost" and "before_after_rtm_adjusted" in eff.index:
            rows.append(_row("Regression to the mean", f"{label}: before/after",
                             f"unadjusted {format_effect(eff.loc['before_after'])}; adjusted "
                             f"{format_effect(eff.loc['before_after_rtm_adjusted'])}"))
        elif analysis.design == "its":
            where = f"{label}: interrupted time series"
            if d.get("controlled") and d.get("pretrend_p") is not None:
                p = float(d["pretrend_p"])
                rows.append(_row("Parallel trends before the start", where,
                                 f"{p_text(p)}: " + ("trends differed, so the level is held "
                                                     "at 3" if p < 0.05 else
                                                     "no evidence that they differed")))
            if d.get("remedy_reason"):
                rows.append(_row("Autocorrelation", where, str(d["remedy_reason"])))
        elif analysis.design == "staggered_did":
            where = f"{label}: roll-out waves"
            if d.get("pretrend_p") is not None:
                rows.append(_row("Effects before adoption", where,
                                 f"jointly zero: {p_text(float(d['pretrend_p']))}"))
            if d.get("honest_sentence"):
                rows.append(_row("Departures from parallel trends (Rambachan and Roth)", where,
                                 str(d["honest_sentence"])))
        elif analysis.design == "synthetic_control":
            where = f"{label}: synthetic control"
            if d.get("rank") is not None:
                rows.append(_row("Placebo areas", where,
                                 f"{d.get('treated_unit')} ranks {d['rank']} of "
                                 f"{d['n_placebos'] + 1} on the post/pre prediction-error "
                                 f"ratio (placebo {p_text(float(d['p_value']))})"))
            if d.get("loo_gap_mean_range"):
                lo, hi = d["loo_gap_mean_range"]
                rows.append(_row("Leave one donor out", where,
                                 f"average gap from {format_sig(lo)} to {format_sig(hi)}"))
            rows.append(_row("Fit before the start", where,
                             f"prediction error {float(d.get('pre_rmspe', float('nan'))):.3g} ("
                             f"{float(d.get('pre_rmspe_relative', float('nan'))):.1%} of the "
                             "pre-start mean): " + ("good" if d.get("fit_ok") else "poor")))
        elif analysis.design == "matched":
            rows.append(_row("Balance after matching", f"{label}: matched comparison",
                             f"largest standardised difference "
                             f"{float(d.get('max_abs_smd_after', float('nan'))):.2f} ("
                             + ("all within 0.1" if d.get("balance_ok") else
                                "above 0.1 for "
                                + ", ".join(column_words(c)
                                            for c in d.get("imbalanced_covariates", [])[:4]))
                             + ")"))
    return pd.DataFrame(rows, columns=["Check", "Analysis", "Result"])


def robustness_markdown_table(frame: pd.DataFrame) -> str:
    """The checks as a Markdown table with a caption (``""`` when there are none)."""
    if frame.empty:
        return ""
    return "\n".join([pipe_table(frame, {"Check": 20, "Analysis": 24, "Result": 56}), "",
                      ": Robustness checks the designs ran, with their results "
                      "{#tbl-robustness}", ""])
