"""GRADE-style certainty of evidence for each scheme and outcome, with the reasons.

Certainty is rated high, moderate, low or very low, as in GRADE (Guyatt et al., 2008;
the GRADE handbook, Schünemann et al., 2013). A rating starts from the design of the
headline estimate and is rated down one level for each serious problem, never below very
low. evalkit does not rate up (for large effects or dose-response): its designs are
single evaluations, not bodies of evidence, and rating up is rare and contested for them.

Starting level
    GRADE starts randomised trials at high and observational studies at low (GRADE
    handbook, section 5.1). Evaluations of health-care schemes sit between the two, and
    their design is already graded on the Maryland Scientific Methods Scale (SMS,
    :mod:`evalkit.evidence.maryland`). :data:`START_LEVELS` maps the SMS level to the starting
    certainty:

    ===  ==============================================  ==========
    SMS  design                                          start
    ===  ==============================================  ==========
    5    randomised                                      high
    4    comparison built to be similar (matching,       moderate
         synthetic control, controlled ITS with
         parallel pre-trends, robust DiD)
    3    DiD against an unmatched group, single ITS      low
    2    before/after adjusted for RTM; cross-section    very low
    1    uncontrolled before/after                       very low
    ===  ==============================================  ==========

    Level 5 starts at high as in GRADE. Level 3 designs are GRADE's observational studies
    and start at low. Level 4 starts one step higher: these designs deal with selection
    explicitly, and GRADE's guidance for non-randomised studies judged with ROBINS-I
    (Schünemann et al., 2019) starts them at high and then rates them down, typically by
    one level for residual confounding. Levels 1 and 2 start at very low: the What Works
    Centre for Local Economic Growth treats SMS 3 as the minimum for evidence that a
    policy had an effect and excludes levels 1 and 2 from its evidence reviews (What Works
    Centre for Local Economic Growth, 2016, "Guide to scoring evidence using the Maryland
    Scientific Methods Scale"; Madaleno and Waights, 2016). Pass ``start_levels=`` to
    :func:`rate_certainty` to use another mapping.

Rating down (one level per domain)
    Risk of bias
        A failed diagnostic in the headline record: parallel pre-period trends rejected
        (``pretrend_p < 0.05``), matching that did not balance (``balance_ok`` false), a
        synthetic control that does not track the treated units (``fit_ok`` false), or,
        for an uncontrolled before/after, units chosen for high baseline values
        (``rtm_selected_on_baseline``: regression to the mean). For a comparative design
        (:data:`COMPARATIVE_DESIGNS`: controlled ITS, DiD, matching, synthetic control, the
        economic evaluation against a comparison), units chosen at a peak, judged by the
        record's own diagnostics: the design's selection-at-a-peak check fired
        (``selection_at_peak``, see :mod:`evalkit.evidence.selection`), or the spec declares
        that the scheme chose its units for high values (``selection_declared``, which
        :func:`evalkit.run_spec` records on the comparative designs' records of that data
        table). A before/after's ``rtm_selected_on_baseline`` (the spec's declaration, or
        its own test against the whole population) does not rate another design down. A
        comparison group, or matching on the observed pre-period values,
        does not remove the fall back from a peak (Daw and Hatfield, 2018); the
        synthetic schemes' truth recovery (``docs/truth-recovery.md``) shows such
        headlines missing the truth by three to four standard errors. A failure that already
        lowered the record's Maryland level (a controlled ITS whose pre-trends differ is
        level 3, not 4) is not counted again; the reasons say so.
    Imprecision
        The confidence interval includes both no effect and a meaningful effect: a change
        at least as large as the minimal important difference (MID) either way (Guyatt et
        al., 2011b). The MID comes from ``mid`` by outcome; for ratios it defaults to
        :data:`DEFAULT_RATIO_MID` (5%); for differences there is no default, and then the
        rule is that the interval includes no effect (the reasons say the MID is
        missing). A record without an interval is rated down.
    Inconsistency
        Across designs on the same scheme and outcome (:func:`triangulate`): intervals
        that do not overlap, or point estimates of opposite sign whose intervals both
        exclude no effect (Guyatt et al., 2011c). Across schemes, for pooled effects: an
        I² above :data:`I2_THRESHOLD` (50%, "substantial" heterogeneity in the Cochrane
        Handbook, section 10.10.2) from a meta-analysis, passed as ``pooled_i2``.

Choice of the headline record
    One record per scheme and outcome is rated: the strongest design that suits the data.
    Among the headline estimands (:data:`PREFERRED_ESTIMANDS`:
    :data:`evalkit.results.HEADLINE_ESTIMANDS`, and for the economic evaluation the change
    in the cost of care, which the other designs estimate too, then the net cost, the
    effect and the activity), records are ranked first by how well the design meets the
    threats the data pose (a tier), then by Maryland level; ties go to a record with an
    interval, then to the design's first headline estimand, then to the first record.
    The tiers, highest first:

    3. a design made for the data's shape whose checks pass: the staggered
       difference-in-differences of a roll-out in two or more waves (its pre-adoption
       test not rejected), a synthetic control that tracks the treated units before the
       start (``fit_ok``), and the variant robust to selection at a peak
       (:mod:`evalkit.evaluation.robust_variant`) of a comparative design whose units were chosen
       at a peak;
    2. any other design at Maryland level 3 or more;
    1. a comparative design whose units were chosen at a peak, as designed (its robust
       variant, where there is one, leads instead);
    0. before/after and cross-sectional comparisons (Maryland level 1 or 2).

    A staggered roll-out's headline is therefore its staggered DiD even where a controlled
    ITS of the first wave reaches a higher Maryland level: it uses every wave and compares
    each with units outside the scheme at the same calendar time. The other designs stay
    beside it, and :func:`triangulate` says whether they agree. Batch rows are left out.
    The ``chosen`` column says which record leads and why. See docs/design-choice.md.

References
----------
Guyatt GH, Oxman AD, Vist GE, et al. (2008). GRADE: an emerging consensus on rating
quality of evidence and strength of recommendations. *BMJ* 336:924-926.
Guyatt GH, Oxman AD, Vist G, et al. (2011a). GRADE guidelines: 4. Rating the quality of
evidence: study limitations (risk of bias). *J Clin Epidemiol* 64:407-415.
Guyatt GH, Oxman AD, Kunz R, et al. (2011b). GRADE guidelines 6. Rating the quality of
evidence: imprecision. *J Clin Epidemiol* 64:1283-1293.
Guyatt GH, Oxman AD, Kunz R, et al. (2011c). GRADE guidelines: 7. Rating the quality of
evidence: inconsistency. *J Clin Epidemiol* 64:1294-1302.
Schünemann H, Brożek J, Guyatt G, Oxman A, eds. (2013). *GRADE handbook for grading
quality of evidence and strength of recommendations*. The GRADE Working Group.
Schünemann HJ, Cuello C, Akl EA, et al. (2019). GRADE guidelines: 18. How ROBINS-I and
other tools to assess risk of bias in nonrandomized studies should be used to rate the
certainty of a body of evidence. *J Clin Epidemiol* 111:105-114.
VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational research: introducing
the E-value. *Annals of Internal Medicine* 167:268-274.
Daw JR, Hatfield LA (2018). Matching and regression to the mean in difference-in-differences
analysis. *Health Services Research* 53:4138-4156.
Madaleno M, Waights S (2016). *Guide to scoring evidence using the Maryland Scientific
Methods Scale*. What Works Centre for Local Economic Growth.
Higgins JPT, Thomas J, et al., eds. *Cochrane Handbook for Systematic Reviews of
Interventions*, section 10.10.2 (interpreting I²).

Examples
--------
>>> import pandas as pd
>>> effects = pd.DataFrame([{"scheme": "s", "outcome": "admissions", "design": "its",
...     "estimand": "level_change", "scale": "ratio", "estimate": 0.9, "ci_low": 0.85,
...     "ci_high": 0.95, "evidence_level": 4, "diagnostics": {"controlled": True,
...     "pretrend_p": 0.4}}])
>>> rate_certainty(effects).table.loc[0, "certainty"]
'moderate'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import DataError, DesignError
from evalkit.evidence.maryland import maryland_level
from evalkit.evidence.narrative import format_number, p_text
from evalkit.evidence.selection import ROBUST_VARIANT, selection_concern, window_text
from evalkit.naming import design_label, estimand_label
from evalkit.results import HEADLINE_ESTIMANDS, SCALES

__all__ = ["CERTAINTY_LEVELS", "COMPARATIVE_DESIGNS", "START_LEVELS", "DEFAULT_RATIO_MID",
           "I2_THRESHOLD",
           "PREFERRED_ESTIMANDS", "CertaintyResult", "Triangulation", "rate_certainty",
           "triangulate"]

#: Certainty levels, lowest first.
CERTAINTY_LEVELS = ("very low", "low", "moderate", "high")

#: Starting certainty by Maryland SMS level (see the module docstring for the sources).
START_LEVELS: Mapping[int, str] = MappingProxyType(
    {5: "high", 4: "moderate", 3: "low", 2: "very low", 1: "very low"})

#: Minimal important difference for ratio outcomes when none is given: a 5% change.
DEFAULT_RATIO_MID = 0.05

#: I² (percent) above which pooled effects are rated down for inconsistency.
I2_THRESHOLD = 50.0

#: Estimands a certainty rating leads with, by design, in order of preference.
PREFERRED_ESTIMANDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    **HEADLINE_ESTIMANDS,
    # the change in the cost of care first: the quantity the other designs estimate
    "economic": ("resource_cost_change", "incremental_cost", "incremental_effect",
                 "activity_change"),
})

_REQUIRED = ("outcome", "design", "estimand", "scale", "estimate", "ci_low", "ci_high",
             "evidence_level")


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(np.isnan(float(v)))
    except (TypeError, ValueError):
        return True


def design_name(design: str) -> str:
    """A design's name in words, e.g. ``"interrupted time series"``."""
    return design_label(design, short=True)


def _num(v: float) -> str:
    a = abs(v)
    return format_number(v, ",.0f" if a >= 1000 else ".0f" if a >= 100 else ".3g")


def _ci_text(rec: Mapping[str, Any]) -> str:
    conf = rec.get("conf_level")
    level = 95 if _missing(conf) else round(float(conf) * 100)
    return f"the {level}% CI ({_num(rec['ci_low'])} to {_num(rec['ci_high'])})"


def _null(scale: str) -> float:
    return 1.0 if scale == "ratio" else 0.0


# --------------------------------------------------------------------------- input
def _effects_frame(effects: Any) -> pd.DataFrame:
    frame = getattr(effects, "effects", effects)
    if not isinstance(frame, pd.DataFrame):
        raise DesignError(f"effects must be an effects DataFrame (or a result with "
                          f".effects), not {type(effects).__name__}",
                          fix="pass result.effects or ek.run_spec(...).effects")
    for name in _REQUIRED:
        if name not in frame.columns:
            raise DataError(f"the effects have no column '{name}'", column=name,
                            fix="pass effect records with the columns of "
                                "evalkit.results.EFFECT_FIELDS")
    if frame.empty:
        raise DataError("there are no effect records", fix="run a design first")
    out = frame.reset_index(drop=True).copy()
    if "scheme" not in out.columns:
        out["scheme"] = None
    if "conf_level" not in out.columns:
        out["conf_level"] = 0.95
    if "diagnostics" not in out.columns:
        out["diagnostics"] = [{} for _ in range(len(out))]
    out["diagnostics"] = [_diag(d, i) for i, d in enumerate(out["diagnostics"])]
    levels = pd.to_numeric(out["evidence_level"], errors="coerce")
    bad = ~levels.isin([1, 2, 3, 4, 5])
    if bad.any():
        raise DataError("evidence_level is not a Maryland level from 1 to 5",
                        column="evidence_level", rows=(np.flatnonzero(bad) + 2).tolist(),
                        fix="derive levels with evalkit.evidence.maryland.maryland_level")
    out["evidence_level"] = levels.astype(int)
    bad = ~out["scale"].isin(SCALES)
    if bad.any():
        raise DataError(f"scale must be one of {', '.join(SCALES)}", column="scale",
                        rows=(np.flatnonzero(bad) + 2).tolist())
    for col in ("estimate", "ci_low", "ci_high"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    bad = out["estimate"].isna().to_numpy()
    if bad.any():
        raise DataError("an estimate is missing", column="estimate",
                        rows=(np.flatnonzero(bad) + 2).tolist(),
                        fix="drop records without an estimate")
    out["_scheme_key"] = out["scheme"].map(lambda s: "" if _missing_scheme(s) else str(s))
    out["_position"] = np.arange(len(out))
    return out


def _missing_scheme(s: Any) -> bool:
    return s is None or (isinstance(s, float) and math.isnan(s))


def _diag(d: Any, i: int) -> dict[str, Any]:
    if isinstance(d, Mapping):
        return dict(d)
    if d is None or (isinstance(d, float) and math.isnan(d)):
        return {}
    if isinstance(d, str):  # results.csv holds diagnostics as JSON text
        try:
            value = json.loads(d)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
    raise DataError("diagnostics must be a mapping (or JSON text of one)",
                    column="diagnostics", rows=[i + 2])


# --------------------------------------------------------------------------- choice
def _preference(design: str, estimand: str) -> int | None:
    order = PREFERRED_ESTIMANDS.get(design, ())
    return order.index(estimand) if estimand in order else None


def _pool(rows: pd.DataFrame) -> pd.DataFrame:
    """Records eligible to lead: not batch rows; the preferred estimands if any."""
    keep = ~rows["diagnostics"].map(lambda d: bool(d.get("batch", False)))
    rows = rows[keep] if keep.any() else rows
    pref = [(_preference(d, e) is not None) for d, e in zip(rows["design"], rows["estimand"],
                                                            strict=True)]
    return rows[pref] if any(pref) else rows


def _waves(diag: Mapping[str, Any]) -> int:
    cohorts = diag.get("cohorts")
    return len(cohorts) if isinstance(cohorts, (list, tuple)) else 0


def _tier(r: pd.Series) -> int:
    """How well a record's design suits the data and meets its threats (higher leads; see
    "Choice of the headline record" in the module notes)."""
    if int(r["evidence_level"]) <= 2:
        return 0
    d = r["diagnostics"]
    if _is_comparative(r) and selection_concern(d) is not None:
        return 3 if d.get("variant") == ROBUST_VARIANT else 1
    pretrend = d.get("pretrend_p")
    if r["design"] == "staggered_did" and _waves(d) >= 2 and (
            _missing(pretrend) or float(pretrend) >= 0.05):
        return 3
    if r["design"] == "synthetic_control" and d.get("fit_ok"):
        return 3
    return 2


def _why_lead(rec: pd.Series, n_rec: int) -> str:
    """Why a headline record leads, in words."""
    tier, level, d = _tier(rec), int(rec["evidence_level"]), rec["diagnostics"]
    if tier == 3 and d.get("variant") == ROBUST_VARIANT:
        return ("the scheme's units were chosen at a peak, and this variant of the "
                f"{design_name(rec['design'])} leaves {_window(d.get('variant_window'))} out "
                "of the pre-period")
    if tier == 3 and rec["design"] == "staggered_did":
        return (f"the scheme was rolled out in {_number_word(_waves(d))} waves, and the "
                "staggered difference-in-differences compares each wave with units not in "
                "the scheme at the same calendar time")
    if tier == 3:
        return ("the synthetic control is built to track the treated units before the "
                "start, and does")
    records = "record" if n_rec == 1 else "records"
    return (f"it has the highest Maryland level ({level}) of the {n_rec} {records} for this "
            "outcome")


def _best(rows: pd.DataFrame) -> pd.Series:
    """The design that best suits the data and meets its threats (:func:`_tier`), then the
    highest Maryland level, then records with an interval, then preferred estimand."""
    def key(r: pd.Series) -> tuple:
        p = _preference(r["design"], r["estimand"])
        no_ci = _missing(r["ci_low"]) or _missing(r["ci_high"])
        return (-_tier(r), -int(r["evidence_level"]), no_ci, 99 if p is None else p,
                r["_position"])
    keys = [key(r) for _, r in rows.iterrows()]
    return rows.iloc[min(range(len(keys)), key=keys.__getitem__)]


def _per_design(rows: pd.DataFrame) -> list[pd.Series]:
    """One representative record per design, in order of first appearance."""
    out = []
    for design in dict.fromkeys(rows["design"]):
        out.append(_best(_pool(rows[rows["design"] == design])))
    return out


# --------------------------------------------------------------------------- triangulation
@dataclass(frozen=True)
class Triangulation:
    """Estimates of one scheme and outcome from different designs, side by side.

    Attributes
    ----------
    scheme, outcome
        What was compared.
    table
        One row per design: ``design``, ``estimand``, ``evidence_level``, ``scale``,
        ``estimate``, ``ci_low``, ``ci_high``, the values compared (``compared_scale``,
        ``compared_estimate``, ``compared_low``, ``compared_high``), ``direction``
        (``"rise"``, ``"fall"`` or ``"no change"``), ``excludes_no_effect`` and ``note``.
    same_direction
        Whether every estimate points the same way (None with fewer than two designs).
    overlap
        Whether every pair of intervals on the same scale overlaps (None when no pair
        could be compared).
    agree
        True when the estimates point the same way and their intervals overlap; False
        when they do not; None when there is one design, or only the direction could
        be compared.
    clear_disagreement
        Intervals that do not overlap, or opposite signs with both intervals excluding
        no effect: the rule :func:`rate_certainty` rates down for.
    statement
        The comparison in a sentence.
    notes
        How the estimates were made comparable.
    """

    scheme: str | None
    outcome: str
    table: pd.DataFrame
    same_direction: bool | None
    overlap: bool | None
    agree: bool | None
    clear_disagreement: bool
    statement: str
    notes: tuple[str, ...] = ()

    @property
    def n_designs(self) -> int:
        """How many designs were compared."""
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        """The side-by-side table (a copy)."""
        return self.table.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The side-by-side table, for a forest-style plot."""
        return {"estimates": self.table.copy()}

    def summary(self) -> str:
        """The comparison in plain text."""
        cols = ["design", "estimand", "evidence_level", "compared_scale",
                "compared_estimate", "compared_low", "compared_high", "direction"]
        lines = [f"{self.scheme or '(no scheme)'} / {self.outcome}: {self.statement}",
                 self.table[cols].to_string(index=False)]
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines)


def _direction(value: float, scale: str) -> str:
    null = _null(scale)
    if value > null:
        return "rise"
    if value < null:
        return "fall"
    return "no change"


def _excludes(lo: float, hi: float, scale: str) -> bool:
    if _missing(lo) or _missing(hi):
        return False
    null = _null(scale)
    return bool(lo > null or hi < null)


def _absolute(rows: pd.DataFrame, design: str) -> pd.Series | None:
    """A record of this design whose diagnostics give its ratio as a difference."""
    pool = _pool(rows[rows["design"] == design])
    ok = [isinstance(d.get("absolute_difference_ci"), (list, tuple))
          and not _missing(d.get("absolute_difference")) for d in pool["diagnostics"]]
    if not any(ok):
        return None
    return _best(pool[ok])


def _triangulate_rows(rows: pd.DataFrame, scheme: str | None,
                      outcome: str) -> Triangulation:
    reps = _per_design(rows)
    notes: list[str] = []
    entries = []
    for r in reps:
        entries.append({"record": r, "scale": r["scale"], "estimate": r["estimate"],
                        "low": r["ci_low"], "high": r["ci_high"], "note": ""})
    scales = {e["scale"] for e in entries}
    if len(scales) > 1 and scales <= {"ratio", "difference"}:
        # Where a ratio design reports its effect as a difference too, compare on that.
        for e in entries:
            if e["scale"] != "ratio":
                continue
            alt = _absolute(rows, e["record"]["design"])
            if alt is None:
                continue
            d = alt["diagnostics"]
            e.update(record=alt, scale="difference", estimate=float(d["absolute_difference"]),
                     low=float(d["absolute_difference_ci"][0]),
                     high=float(d["absolute_difference_ci"][1]),
                     note=f"its ratio ({estimand_label(alt['estimand'])}) as the absolute "
                          "difference the design reports")
            notes.append(f"The {design_name(alt['design'])} ratio "
                         f"({estimand_label(alt['estimand'])}) is compared as the absolute "
                         "difference it reports.")
    table = pd.DataFrame([{
        "design": e["record"]["design"], "estimand": e["record"]["estimand"],
        "evidence_level": int(e["record"]["evidence_level"]),
        "scale": e["record"]["scale"], "estimate": float(e["record"]["estimate"]),
        "ci_low": float(e["record"]["ci_low"]), "ci_high": float(e["record"]["ci_high"]),
        "compared_scale": e["scale"], "compared_estimate": float(e["estimate"]),
        "compared_low": float(e["low"]), "compared_high": float(e["high"]),
        "direction": _direction(e["estimate"], e["scale"]),
        "excludes_no_effect": _excludes(e["low"], e["high"], e["scale"]),
        "note": e["note"]} for e in entries])
    n = len(table)
    names = [design_name(d) for d in table["design"]]
    if n < 2:
        what = names[0] if names else "no design"
        return Triangulation(scheme, outcome, table, None, None, None, False,
                             f"Only one design ({what}) estimated this outcome, so there "
                             "is nothing to compare it with.", tuple(notes))
    dirs = table["direction"].tolist()
    same = len(set(dirs)) == 1 and dirs[0] != "no change"
    pairs_overlap, clear = [], False
    for i in range(n):
        for j in range(i + 1, n):
            a, b = table.iloc[i], table.iloc[j]
            opposite = {a["direction"], b["direction"]} == {"rise", "fall"}
            if opposite and a["excludes_no_effect"] and b["excludes_no_effect"]:
                clear = True
            if a["compared_scale"] != b["compared_scale"]:
                continue
            if any(_missing(v) for v in (a["compared_low"], a["compared_high"],
                                         b["compared_low"], b["compared_high"])):
                continue
            ok = max(a["compared_low"], b["compared_low"]) <= min(a["compared_high"],
                                                                  b["compared_high"])
            pairs_overlap.append(bool(ok))
            clear = clear or not ok
    overlap = all(pairs_overlap) if pairs_overlap else None
    if len(set(table["compared_scale"])) > 1:
        notes.append("Estimates on different scales (" + ", ".join(
            f"{nm}: {sc}" for nm, sc in zip(names, table["compared_scale"], strict=True))
            + ") are compared for direction only.")
    word = {"rise": "a rise", "fall": "a fall", "no change": "no change"}
    listing = "; ".join(f"{nm}: {word[d]}" for nm, d in zip(names, dirs, strict=True))
    count = _number_word(n)
    if clear:
        agree = False
        statement = (f"The {count} designs disagree, as " +
                     ("their intervals do not overlap" if overlap is False else
                      "they point in opposite directions and each excludes no effect")
                     + f" ({listing}).")
    elif same and overlap:
        agree = True
        statement = (f"The {count} designs agree: all point to {word[dirs[0]]} and their "
                     "confidence intervals overlap.")
    elif same:
        agree = None
        statement = (f"The {count} designs point the same way ({word[dirs[0]]}); their "
                     "intervals are on different scales and could not be compared.")
    else:
        agree = False
        statement = (f"The {count} designs do not agree on the direction ({listing}), "
                     "though their intervals overlap, so the direction is uncertain."
                     if overlap else
                     f"The {count} designs do not agree on the direction ({listing}).")
    return Triangulation(scheme, outcome, table, same, overlap, agree, clear, statement,
                         tuple(notes))


def _number_word(n: int) -> str:
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
             9: "nine"}
    return words.get(n, str(n))


def _rows_for(frame: pd.DataFrame, scheme: Any, outcome: str) -> pd.DataFrame:
    key = "" if _missing_scheme(scheme) else str(scheme)
    rows = frame[(frame["_scheme_key"] == key) & (frame["outcome"] == outcome)]
    if rows.empty:
        pairs = sorted({f"{s or '(none)'}/{o}" for s, o in zip(frame["_scheme_key"],
                                                               frame["outcome"],
                                                               strict=True)})
        raise DesignError(f"no effect records for scheme {scheme!r} and outcome {outcome!r}",
                          fix="use one of " + ", ".join(pairs[:10]))
    return rows


def triangulate(effects: Any, *, scheme: str | None, outcome: str) -> Triangulation:
    """Compare the estimates of one scheme and outcome from different designs.

    Each design contributes its headline record (highest Maryland level among its
    headline estimands). Ratios and differences are compared on one scale where a
    ratio design reports its effect as an absolute difference too (the ITS
    ``absolute_difference`` diagnostics for proportions); otherwise estimates on
    different scales are compared for direction only, with a note.

    Parameters
    ----------
    effects
        Effect records (a DataFrame with the columns of
        :data:`evalkit.results.EFFECT_FIELDS`, or a result with ``.effects``).
    scheme, outcome
        Which scheme and outcome.

    Returns
    -------
    Triangulation

    Examples
    --------
    >>> import pandas as pd
    >>> rows = [{"scheme": "s", "outcome": "y", "design": d, "estimand": e,
    ...          "scale": "ratio", "estimate": est, "ci_low": lo, "ci_high": hi,
    ...          "evidence_level": lvl}
    ...         for d, e, est, lo, hi, lvl in [("prepost", "before_after", 0.9, 0.85, 0.95, 1),
    ...                                        ("its", "level_change", 0.92, 0.86, 0.99, 3)]]
    >>> triangulate(pd.DataFrame(rows), scheme="s", outcome="y").agree
    True
    """
    frame = _effects_frame(effects)
    return _triangulate_rows(_rows_for(frame, scheme, outcome), scheme, outcome)


# --------------------------------------------------------------------------- rating
_BIAS_CHECKS = (
    ("pretrend_p", lambda v: not _missing(v) and float(v) < 0.05, 1.0,
     lambda v: f"the scheme and comparison groups' trends differed before the start "
               f"(pre-trend test {p_text(float(v))})"),
    ("balance_ok", lambda v: v is not None and not _missing(v) and not bool(v), True,
     lambda v: "matching did not balance the groups (some standardised difference above "
               "0.1)"),
    ("fit_ok", lambda v: v is not None and not _missing(v) and not bool(v), True,
     lambda v: "the synthetic control did not track the scheme's units before the start"),
)


#: Designs that compare the scheme's units with others, and so can be misled by units
#: chosen at a peak (:mod:`evalkit.evidence.selection`).
COMPARATIVE_DESIGNS = ("its", "did", "staggered_did", "event_study", "matched",
                       "synthetic_control", "economic")


def _selection_at_peak(rec: pd.Series) -> str | None:
    """Why a comparative headline is at risk from units chosen at a peak, or None: judged
    by the record's own diagnostics (its design's check, or the spec's declaration that the
    scheme chose its units for high values), never by another design's."""
    diag = rec["diagnostics"]
    if not _is_comparative(rec):
        return None
    concern = selection_concern(diag)
    if concern is None:
        return None
    what = design_name(rec["design"])
    if concern == "fired":
        reason = str(diag.get("selection_reason") or "the scheme's units rose above the "
                     "comparison just before the start")
        text = f"selection at a peak: {reason} (in the {what})"
    else:
        text = ("selection at a peak: the spec says the scheme chose its units for high "
                f"values before the start, and the {what} compares them with units that "
                "were not chosen, so their return towards their usual level can count as an "
                "effect")
    if diag.get("variant") == ROBUST_VARIANT:
        text += (f"; this estimate leaves {_window(diag.get('variant_window'))} out of the "
                 "pre-period, which removes the peak itself but not the return towards the "
                 "usual level that may continue after the start")
    return text


def _window(w: Any) -> str:
    return window_text(w)


def _is_comparative(rec: pd.Series) -> bool:
    diag = rec["diagnostics"]
    return rec["design"] in COMPARATIVE_DESIGNS and not (
        rec["design"] == "its" and not diag.get("controlled", False)) and not (
        rec["design"] == "economic" and diag.get("comparison") == "before_after")


def _risk_of_bias(rec: pd.Series) -> tuple[list[str], list[str]]:
    """Problems that rate down, and notes on problems already counted in the level."""
    diag = rec["diagnostics"]
    problems, notes = [], []
    peak = _selection_at_peak(rec)
    if peak is not None:
        problems.append(peak)
    for key, failed, passing, words in _BIAS_CHECKS:
        v = diag.get(key)
        if v is None or not failed(v):
            continue
        try:
            alt = maryland_level(rec["design"], rec["estimand"], {**diag, key: passing})
        except KeyError:
            alt = int(rec["evidence_level"])
        if alt > int(rec["evidence_level"]):
            notes.append(f"{words(v)[0].upper()}{words(v)[1:]}; this already lowered the "
                         f"Maryland level from {alt} to {int(rec['evidence_level'])}, so it "
                         "is not counted again.")
        else:
            problems.append(words(v))
    if (rec["design"] == "prepost" and rec["estimand"] == "before_after"
            and bool(diag.get("rtm_selected_on_baseline", False))):
        problems.append("the units were chosen for high baseline values, so part of the "
                        "change is regression to the mean")
    return problems, notes


def _unmeasured(rec: pd.Series) -> str:
    """What matching cannot remove, with the E-value when the record has one."""
    diag = rec["diagnostics"]
    if not (rec["design"] == "matched" or (rec["design"] == "economic"
                                           and diag.get("comparison") == "matched")):
        return ""
    text = ("Matching balances what was measured, not what was not: selection on "
            "unmeasured characteristics (such as the underlying risk behind a costly year) "
            "remains.")
    e, e_ci = diag.get("e_value"), diag.get("e_value_ci")
    if not _missing(e) and not _missing(e_ci):
        ci = ("the confidence interval already includes no effect" if float(e_ci) <= 1
              else f"{float(e_ci):.2f} to move the confidence interval to include it")
        text += (f" E-value {float(e):.2f} ({ci}): an unmeasured confounder associated with "
                 "both enrolment and the outcome by a risk ratio of that size, beyond the "
                 "matched covariates, could explain the estimate away (VanderWeele and "
                 "Ding, 2017).")
    return text


def _mid_for(mid: Mapping[str, Any] | None, outcome: str, scale: str) -> float | None:
    if mid is None or outcome not in mid:
        return DEFAULT_RATIO_MID if scale == "ratio" else None
    v = mid[outcome]
    if isinstance(v, Mapping):
        key = "difference" if scale == "percent" and "percent" not in v else scale
        if key not in v:
            return DEFAULT_RATIO_MID if scale == "ratio" else None
        v = v[key]
    return float(v)


def _imprecision(rec: pd.Series, m: float | None, given: bool) -> tuple[bool, str]:
    """Whether to rate down for imprecision, and why (or a note)."""
    scale, lo, hi = rec["scale"], rec["ci_low"], rec["ci_high"]
    if _missing(lo) or _missing(hi):
        return True, "the estimate has no confidence interval, so its precision is unknown"
    null = _null(scale)
    includes_null = lo <= null <= hi
    ci = _ci_text(rec)
    if scale == "ratio":
        m = DEFAULT_RATIO_MID if m is None else m
        low_t, high_t = 1 - m, 1 + m
        size = f"a change of {m * 100:g}% or more"
    elif m is None:
        if includes_null:
            return True, (f"{ci} includes no effect (no minimal important difference was "
                          f"given for {rec['outcome']}, so any interval that includes no "
                          "effect counts as imprecise)")
        return False, ""
    else:
        low_t, high_t = -m, m
        size = f"a change of {_num(m)} or more"
    source = "the minimal important difference" if given else "the default minimal " \
        "important difference"
    meaningful = lo <= low_t or hi >= high_t
    if includes_null and meaningful:
        return True, f"{ci} includes both no effect and {size} ({source})"
    if includes_null:
        return False, f"{ci} includes no effect but rules out {size} either way ({source})"
    return False, ""


def _check_mid(mid: Any, outcomes: set[str]) -> Mapping[str, Any] | None:
    if mid is None:
        return None
    if not isinstance(mid, Mapping):
        raise DesignError("mid must map each outcome to its minimal important difference",
                          fix='e.g. mid={"emergency_admissions": 0.05, "cost": '
                              '{"difference": 100}}')
    for outcome, v in mid.items():
        if outcome not in outcomes:
            raise DesignError(f"mid names the outcome {outcome!r}, which has no effect "
                              "records", fix=f"use one of {', '.join(sorted(outcomes))}")
        values = v.values() if isinstance(v, Mapping) else [v]
        if isinstance(v, Mapping) and not set(v) <= set(SCALES):
            raise DesignError(f"mid for {outcome!r} has keys other than "
                              f"{', '.join(SCALES)}", fix="key it by scale, or give a number")
        for x in values:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not x > 0 \
                    or not math.isfinite(x):
                raise DesignError(f"mid for {outcome!r} is {x!r}, not a positive number",
                                  fix="give a change that matters: a proportion for ratios "
                                      "(0.05 = 5%), the outcome's units for differences")
    return mid


def _check_i2(pooled_i2: Any) -> Any:
    if pooled_i2 is None:
        return None
    values = pooled_i2.values() if isinstance(pooled_i2, Mapping) else [pooled_i2]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100:
            raise DesignError(f"pooled_i2 = {v!r} is not an I² between 0 and 100",
                              fix="give I² in percent, e.g. pooled_i2=62.5")
    return pooled_i2


def _i2_for(pooled_i2: Any, scheme_key: str, outcome: str) -> float | None:
    if pooled_i2 is None:
        return None
    if not isinstance(pooled_i2, Mapping):
        return float(pooled_i2)
    for key in ((scheme_key, outcome), outcome):
        if key in pooled_i2:
            return float(pooled_i2[key])
    return None


@dataclass(frozen=True)
class CertaintyResult:
    """Certainty ratings, one per scheme and outcome.

    Attributes
    ----------
    table
        One row per scheme and outcome: ``scheme``, ``outcome``, ``design``,
        ``estimand`` (the headline record), ``evidence_level``, ``start_level``,
        ``downgrades`` (a list of the domains rated down: ``"risk of bias"``,
        ``"imprecision"``, ``"inconsistency"``), ``certainty``, ``reasons`` (plain
        English), ``chosen`` (why this record leads), ``n_designs`` and
        ``designs_agree`` (from :func:`triangulate`).
    records
        The headline effect records, row for row with ``table``.
    triangulations
        The :class:`Triangulation` of each row.
    options
        ``mid``, ``pooled_i2`` and ``start_levels`` as used.
    """

    table: pd.DataFrame
    records: pd.DataFrame
    triangulations: tuple[Triangulation, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The ratings (a copy)."""
        return self.table.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The ratings and the headline records."""
        return {"certainty": self.table.copy(), "records": self.records.copy()}

    def rating(self, scheme: str | None, outcome: str) -> dict[str, Any]:
        """One row of the table as a dict."""
        key = "" if _missing_scheme(scheme) else str(scheme)
        hit = [i for i, (s, o) in enumerate(zip(self.table["scheme"], self.table["outcome"],
                                                strict=True))
               if ("" if _missing_scheme(s) else str(s)) == key and o == outcome]
        if not hit:
            raise DesignError(f"no rating for scheme {scheme!r} and outcome {outcome!r}")
        return self.table.iloc[hit[0]].to_dict()

    def summary(self) -> str:
        """One paragraph per scheme and outcome."""
        lines = []
        for _, r in self.table.iterrows():
            lines.append(f"{r['scheme'] or '(no scheme)'} / {r['outcome']}: "
                         f"{r['certainty']} certainty ({design_name(r['design'])}, "
                         f"{r['estimand']}). {r['reasons']}")
        return "\n".join(lines)


def rate_certainty(effects: Any, *, mid: Mapping[str, Any] | None = None,
                   pooled_i2: float | Mapping[Any, float] | None = None,
                   start_levels: Mapping[int, str] | None = None) -> CertaintyResult:
    """Rate the certainty of the evidence for each scheme and outcome, GRADE-style.

    Parameters
    ----------
    effects
        Effect records (a DataFrame with the columns of
        :data:`evalkit.results.EFFECT_FIELDS`, or a result with ``.effects``).
    mid
        Minimal important differences by outcome: a number on the headline record's
        scale (a proportion for ratios, 0.05 = 5%; the outcome's units for differences),
        or a mapping by scale, e.g. ``{"cost": {"difference": 100}}``. Ratios default to
        :data:`DEFAULT_RATIO_MID`; differences have no default.
    pooled_i2
        I² (percent, 0 to 100) of a meta-analysis across schemes whose pooled effects are
        in ``effects``: one number for every row, or a mapping by outcome (or by
        ``(scheme, outcome)``). Above :data:`I2_THRESHOLD` rates down for inconsistency.
    start_levels
        Starting certainty by Maryland level; default :data:`START_LEVELS`.

    Returns
    -------
    CertaintyResult

    Examples
    --------
    >>> import pandas as pd
    >>> rec = {"scheme": "s", "outcome": "admissions", "design": "prepost",
    ...        "estimand": "before_after", "scale": "ratio", "estimate": 0.9,
    ...        "ci_low": 0.85, "ci_high": 0.95, "evidence_level": 1}
    >>> rate_certainty(pd.DataFrame([rec])).table.loc[0, "certainty"]
    'very low'
    """
    frame = _effects_frame(effects)
    mid = _check_mid(mid, set(frame["outcome"]))
    pooled_i2 = _check_i2(pooled_i2)
    starts = dict(START_LEVELS if start_levels is None else start_levels)
    for level in range(1, 6):
        if starts.get(level) not in CERTAINTY_LEVELS:
            raise DesignError(f"start_levels gives {starts.get(level)!r} for Maryland level "
                              f"{level}", fix=f"map every level 1-5 to one of "
                                              f"{', '.join(CERTAINTY_LEVELS)}")
    rows, records, tris = [], [], []
    groups = dict.fromkeys(zip(frame["_scheme_key"], frame["outcome"], strict=True))
    for scheme_key, outcome in groups:
        sub = frame[(frame["_scheme_key"] == scheme_key) & (frame["outcome"] == outcome)]
        scheme = sub["scheme"].iloc[0]
        scheme = None if _missing_scheme(scheme) else scheme
        pool = _pool(sub)
        rec = _best(pool)
        tri = _triangulate_rows(sub, scheme, outcome)
        level = int(rec["evidence_level"])
        start = starts[level]
        downgrades, why, notes = [], [], []

        problems, bias_notes = _risk_of_bias(rec)
        notes.extend(bias_notes)
        unmeasured = _unmeasured(rec)
        if unmeasured:
            notes.append(unmeasured)
        if problems:
            downgrades.append("risk of bias")
            why.append("risk of bias: " + "; ".join(problems))

        m = _mid_for(mid, outcome, rec["scale"])
        given = mid is not None and outcome in mid
        imprecise, text = _imprecision(rec, m, given)
        if imprecise:
            downgrades.append("imprecision")
            why.append("imprecision: " + text)
        elif text:
            notes.append(text[0].upper() + text[1:] + ".")

        inconsistent = []
        if tri.clear_disagreement:
            inconsistent.append(tri.statement[0].lower() + tri.statement[1:].rstrip("."))
        i2 = _i2_for(pooled_i2, scheme_key, outcome)
        if i2 is not None and i2 > I2_THRESHOLD:
            inconsistent.append(f"the schemes' estimates differ more than chance would "
                                f"explain (I² = {i2:.0f}%, above {I2_THRESHOLD:.0f}%)")
        elif i2 is not None:
            notes.append(f"Across schemes I² = {i2:.0f}%, not above {I2_THRESHOLD:.0f}%.")
        if inconsistent:
            downgrades.append("inconsistency")
            why.append("inconsistency: " + "; ".join(inconsistent))
        if tri.n_designs < 2 and i2 is None:
            notes.append("Only one design, so consistency could not be judged.")

        idx = max(0, CERTAINTY_LEVELS.index(start) - len(downgrades))
        certainty = CERTAINTY_LEVELS[idx]
        parts = [f"Started at {start} certainty: the headline estimate comes from the "
                 f"{design_name(rec['design'])} ({estimand_label(rec['estimand'])}), "
                 f"Maryland level {level}."]
        floor = CERTAINTY_LEVELS.index(start)
        for w in why:
            if floor == 0:
                parts.append(f"Serious concern about {w} (already at very low, so it "
                             "cannot go lower).")
            else:
                parts.append(f"Rated down one level for {w}.")
                floor -= 1
        if not why:
            parts.append("No reason to rate down.")
        parts.extend(notes)
        parts.append(f"Certainty: {certainty}.")
        n_rec = len(sub)
        others = [d for d in dict.fromkeys(sub["design"]) if d != rec["design"]]
        chosen = (f"{rec['design']} {rec['estimand']}: {_why_lead(rec, n_rec)}"
                  + (f"; other designs: {', '.join(others)}" if others else ""))
        rows.append({"scheme": scheme, "outcome": outcome, "design": rec["design"],
                     "estimand": rec["estimand"], "evidence_level": level,
                     "start_level": start, "downgrades": downgrades,
                     "certainty": certainty, "reasons": " ".join(parts), "chosen": chosen,
                     "n_designs": tri.n_designs, "designs_agree": tri.agree})
        records.append(rec.drop(labels=["_scheme_key", "_position"]))
        tris.append(tri)
    table = pd.DataFrame(rows, columns=["scheme", "outcome", "design", "estimand",
                                        "evidence_level", "start_level", "downgrades",
                                        "certainty", "reasons", "chosen", "n_designs",
                                        "designs_agree"])
    table["designs_agree"] = pd.Series([r["designs_agree"] for r in rows], dtype=object)
    return CertaintyResult(table=table, records=pd.DataFrame(records).reset_index(drop=True),
                           triangulations=tuple(tris),
                           options=MappingProxyType({"mid": mid, "pooled_i2": pooled_i2,
                                                     "start_levels": starts}))
