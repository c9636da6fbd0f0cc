"""Strength of evidence on the Maryland Scientific Methods Scale (SMS).

Levels follow the What Works Centre for Local Economic Growth's version of the
scale (Madaleno & Waights, 2016; after Sherman et al., 1997):

1. a before/after comparison of the treated group, or a cross-sectional comparison,
   with no control for other changes;
2. the same with adequate control variables (here: adjustment for regression to the
   mean using the wider population's data);
3. a comparison of change in treated and untreated groups (difference-in-differences),
   or a single-group interrupted time series with a long pre-period;
4. as 3, with a comparison constructed to be similar (matching, synthetic control), or
   a controlled interrupted time series whose pre-period trends are parallel, or a
   difference-in-differences whose pre-trends pass and whose conclusion survives
   departures from parallel trends as large as the pre-period's (Rambachan and Roth,
   2023, breakdown value of at least 1);
5. randomised assignment.

A matched comparison of post-period outcomes only (no before/after) is a cross-sectional
comparison with controls: level 2. A synthetic control is level 4 only when it tracks
the treated unit before the start (``fit_ok``); a difference-in-differences on a matched
cohort is level 4 only when balance was achieved (``balance_ok``).

A level is derived from the design and its diagnostics, never typed in.
"""

from __future__ import annotations

__all__ = ["maryland_level", "LEVEL_TEXT"]

LEVEL_TEXT = {
    1: "Level 1 of 5 (weak): a before/after comparison with no comparison group and no "
       "adjustment; it cannot separate the scheme from trends, seasonality or regression "
       "to the mean.",
    2: "Level 2 of 5 (weak): a before/after comparison adjusted for regression to the mean, "
       "but with no comparison group for other changes over time.",
    3: "Level 3 of 5 (moderate): change judged against a counterfactual, either an untreated "
       "comparison group or a long pre-period trend (interrupted time series).",
    4: "Level 4 of 5 (good): change compared with a comparison built to be similar, or a "
       "controlled interrupted time series whose pre-period trends are parallel, or a "
       "difference-in-differences whose pre-trends pass and whose conclusion survives "
       "plausible departures from parallel trends.",
    5: "Level 5 of 5 (strong): randomised comparison.",
}

_BASE = {
    ("prepost", "before_after"): 1,
    ("prepost", "before_after_rtm_adjusted"): 2,
}


def maryland_level(design: str, estimand: str, diagnostics: dict | None = None) -> int:
    """The Maryland SMS level of an effect.

    Parameters
    ----------
    design, estimand
        The design and estimand of the effect record.
    diagnostics
        The record's diagnostics; failed checks lower the level (never below 1).

    Returns
    -------
    int
        A level from 1 to 5.

    Examples
    --------
    >>> maryland_level("prepost", "before_after")
    1
    """
    diagnostics = diagnostics or {}
    if design == "its":
        # Single-group ITS with a long pre-period: level 3; with a comparison series: 4,
        # unless the series' pre-period trends differ.
        level = 3
        if diagnostics.get("controlled"):
            level = 4 if diagnostics.get("pretrend_p", 1.0) >= 0.05 else 3
        return level
    if design in ("did", "event_study", "staggered_did"):
        # Level 3 against an unmatched comparison group. Level 4 when the comparison was
        # matched, or when the pre-trend test passes AND the conclusion survives
        # post-period departures from parallel trends at least as large as the largest
        # pre-period departure (HonestDiD relative-magnitudes breakdown value >= 1).
        if diagnostics.get("matched"):
            return 4
        pretrend = diagnostics.get("pretrend_p")
        breakdown = diagnostics.get("honest_breakdown_mbar")
        if (pretrend is not None and pretrend >= 0.05 and breakdown is not None
                and breakdown >= 1):
            return 4
        return 3
    if design == "synthetic_control":
        # A comparison constructed to be similar: level 4 when the synthetic unit tracks
        # the treated unit before the start (fit_ok: pre-period fit within the donors'
        # range and close relative to the outcome's variation); otherwise 3.
        return 4 if diagnostics.get("fit_ok") else 3
    if design == "matched":
        # A matched or weighted comparison. Change over time against the matched group
        # (a DiD on the matched cohort) is level 4 when balance was achieved (every
        # |SMD| <= 0.1 after matching), else 3. A comparison of post-period outcomes
        # alone is cross-sectional with controls: level 2.
        if estimand.startswith("att_did"):
            return 4 if diagnostics.get("balance_ok") else 3
        return 2
    if design == "economic":
        # Costs and effects per patient: the change in the enrolled patients alone is an
        # uncontrolled before/after (1); against all other patients a DiD (3); against
        # patients matched on every pre-period cost and effect, 4 when balance was
        # achieved. ``estimand`` here is the economic comparison.
        comparison = diagnostics.get("comparison", estimand)
        if comparison == "before_after":
            return 1
        if comparison == "matched":
            return 4 if diagnostics.get("balance_ok") else 3
        return 3
    if design in ("engagement", "likert_change"):
        # Descriptive measures of taking part, and a survey of different respondents before
        # and after: no comparison group, level 1.
        return 1
    if design == "dose_response":
        # Effect against engagement intensity: across units at one time, level 1 (2 with
        # covariates); in the outcome panel, each unit's change against units that did
        # not take part, a DiD with a continuous dose, level 3.
        if diagnostics.get("form") == "panel":
            return 3
        return 2 if diagnostics.get("covariates") else 1
    level = _BASE.get((design, estimand))
    if level is None:
        raise KeyError(f"no evidence rule for design {design!r}, estimand {estimand!r}")
    return max(1, min(5, level))
