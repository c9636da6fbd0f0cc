"""Names evalkit gives things: a scheme's name, and the words a reader sees for each code.

The label registry is the one place an estimand, a design or a grouping column gets the
name a reader sees, in figures, tables and prose alike: a report or a figure never shows
a code name (``att_did``, ``design_strength``). :func:`estimand_label`,
:func:`design_label` and :func:`column_label` look a code up, and turn one they do not
know into words (underscores to spaces) rather than show it as it is.

Examples
--------
>>> estimand_label("att_did")
'Matched DiD: effect on the treated'
>>> design_label("its"), design_label("its", short=True)
('Interrupted time series', 'interrupted time series')
>>> column_label("design_strength"), estimand_label("some_new_thing")
('Strength of design', 'Some new thing')
"""

from __future__ import annotations

import re

__all__ = ["SCHEME_NAME", "ESTIMAND_LABELS", "DESIGN_LABELS", "DESIGN_SHORT",
           "COLUMN_LABELS", "estimand_label", "design_label", "column_label",
           "outcome_phrase", "column_words"]

#: A scheme's name: lower-case letters, digits and hyphens (it names folders and files).
SCHEME_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

#: What each estimand is, as tables, figures and prose name it.
ESTIMAND_LABELS = {
    "before_after": "Before/after",
    "before_after_rtm_adjusted": "Before/after, adjusted for regression to the mean",
    "level_change": "ITS: level change at the start",
    "effect_at_12": "ITS: effect at 12 months",
    "att_simple": "Staggered DiD: average effect on the treated",
    "att_did": "Matched DiD: effect on the treated",
    "att_twfe": "DiD: effect on the treated",
    "rate_ratio": "DiD: rate ratio",
    "difference_in_means": "Matched: difference in means after",
    "difference_in_proportions": "Matched: difference in proportions after",
    "gap_mean": "Synthetic control: average gap after the start",
    "att_sdid": "Synthetic DiD: effect on the treated",
    "pooled": "Pooled across schemes",
    "pooled_fixed": "Pooled across schemes (fixed effect)",
    "dose_response_slope": "Change per unit of engagement",
    "effect_at_mean_dose": "Effect at the average engagement",
    "proportional_odds_ratio": "Proportional odds ratio",
    "resource_cost_change": "Economic evaluation: change in resource-use cost",
    "incremental_cost": "Economic evaluation: incremental cost",
    "incremental_effect": "Economic evaluation: QALYs gained",
    "activity_change": "Economic evaluation: change in activity",
}

#: Each design's full name (the design section and the findings table).
DESIGN_LABELS = {
    "prepost": "Uncontrolled before/after comparison",
    "its": "Interrupted time series",
    "staggered_did": "Difference-in-differences for staggered adoption "
                     "(Callaway and Sant'Anna)",
    "did": "Difference-in-differences (unit and period fixed effects)",
    "matched": "Matched comparison group (propensity score), difference-in-differences",
    "synthetic_control": "Synthetic control",
    "economic": "Economic evaluation (bootstrap of patient-level costs and QALYs)",
    "event_study": "Event study",
    "meta_analysis": "Meta-analysis",
}

#: Each design's name within a sentence ("the interrupted time series").
DESIGN_SHORT = {
    "prepost": "before/after", "its": "interrupted time series",
    "did": "difference-in-differences", "event_study": "event study",
    "staggered_did": "staggered difference-in-differences", "matched": "matched comparison",
    "synthetic_control": "synthetic control", "economic": "economic evaluation",
    "meta_analysis": "meta-analysis",
}

#: Columns a figure groups or colours by, as a heading names them.
COLUMN_LABELS = {
    "design_strength": "Strength of design",
    "evidence_level": "Maryland level",
    "design": "Design",
    "nation": "Nation",
    "scheme": "Scheme",
    "outcome": "Outcome",
    "estimand": "Estimate",
    # characteristics the synthetic schemes match or weight on
    "age": "Age", "female": "Female", "conditions": "Long-term conditions",
    "risk_score": "Risk score", "imd_score": "Deprivation (IMD score)",
    "pct_65plus": "Aged 65 and over (%)", "list_size": "List size",
    "cost_y1": "Cost in year 1", "cost_y2": "Cost in year 2", "cost_y3": "Cost in year 3",
    "admissions_y1": "Admissions in year 1", "admissions_y2": "Admissions in year 2",
    "admissions_y3": "Admissions in year 3",
    # outcomes and moderators the comparative synthesis names
    "emergency_admissions": "Emergency admissions", "ae_attendances": "A&E attendances",
    "bed_days": "Emergency bed days",
    "referrals_per_1000": "Referrals per 1,000 patients in the first year",
    # data kinds and names the report's data table shows ("Mdt" was a code name)
    "mdt": "MDT meetings",
}


def _words(code: object) -> str:
    text = str(code).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def estimand_label(estimand: str) -> str:
    """What an estimand is, in words (e.g. ``'ITS: effect at 12 months'``)."""
    return ESTIMAND_LABELS.get(estimand) or _words(estimand)


def design_label(design: str, *, short: bool = False) -> str:
    """A design's name: in full (``short=False``) or as it reads within a sentence."""
    if short:
        return DESIGN_SHORT.get(design) or _words(design).lower()
    return DESIGN_LABELS.get(design) or _words(design)


def column_label(column: str) -> str:
    """A grouping column's name as a heading (e.g. ``'Strength of design'``)."""
    return COLUMN_LABELS.get(column) or _words(column)


def column_words(column: str) -> str:
    """A column's name within a sentence: ``"risk score"``, ``"cost in year 1"``.

    Examples
    --------
    >>> column_words("risk_score"), column_words("IMD_rank")
    ('risk score', 'IMD rank')
    """
    text = column_label(column)
    word = text.split(" ", 1)[0]
    if word and (len(word) == 1 or word[1:].islower()):
        text = text[:1].lower() + text[1:]
    return text


def outcome_phrase(label: str) -> str:
    """An outcome's label as the object of a sentence ("the scheme reduces ...").

    The first letter is lower-cased unless the first word is an acronym (A&E, QALYs), and
    a label that is a percentage of people ("Patients rating their practice good (%)")
    becomes their share, so that nothing says it "reduces patients".

    Examples
    --------
    >>> outcome_phrase("Patients rating their practice good (%)")
    'the share of patients rating their practice good'
    >>> outcome_phrase("Emergency admissions"), outcome_phrase("A&E attendances")
    ('emergency admissions', 'A&E attendances')
    """
    text = str(label).strip()
    share = text.endswith("(%)")
    if share:
        text = text[:-3].rstrip()
    word = text.split(" ", 1)[0]
    if word and word[0].isupper() and (len(word) == 1 or word[1:].islower()):
        text = text[:1].lower() + text[1:]
    if share and not text.lower().startswith(("share", "percentage", "proportion", "the ")):
        text = f"the share of {text}"
    return text
