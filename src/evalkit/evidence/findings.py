"""Plain-English findings, worded to match the certainty of the evidence.

A finding states the size of the change (ratios as percentage changes, differences in
their units) with its confidence interval, then the certainty, then whether the designs
agree. The verb carries the certainty, following the GRADE guidance on informative
statements (Santesso et al., 2020, J Clin Epidemiol 119:126-135):

=========  ==============================  ==========================================
certainty  CI excludes no effect            CI includes no effect
=========  ==============================  ==========================================
high       the scheme reduces / increases  the scheme makes little or no difference
moderate   probably reduces / increases    probably makes little or no difference
low        may reduce / may increase       may make little or no difference
very low   the evidence is very uncertain about the effect of the scheme on ...
=========  ==============================  ==========================================

At high certainty Santesso et al. state "little or no difference" without a hedge
("results in little to no difference"), and so does evalkit. A very low certainty
statement gives the estimate but no verb.

Designs at Maryland level 1 or 2 (before/after comparisons, with or without the
regression-to-the-mean adjustment, and cross-sectional comparisons) cannot show what the
scheme did, at any certainty. Their findings never use a causal verb: a before/after
says that the outcome "fell" or "rose" after the scheme began, a cross-sectional
comparison (a matched comparison of post-period outcomes, a dose-response across units)
that the scheme "was associated with" a difference, and both add that the design shows
what changed, not why.

Examples
--------
>>> rec = {"outcome": "emergency_admissions", "design": "its", "estimand": "level_change",
...        "scale": "ratio", "estimate": 0.91, "ci_low": 0.86, "ci_high": 0.96,
...        "conf_level": 0.95, "evidence_level": 4}
>>> finding(rec, "moderate", label="Emergency admissions", consistent_designs=2)
'The scheme probably reduces emergency admissions, by an estimated 9% (95% CI 4% to 14%); moderate certainty; consistent across two designs.'
"""  # noqa: E501

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from evalkit.errors import DesignError
from evalkit.evidence.certainty import CERTAINTY_LEVELS, CertaintyResult, Triangulation
from evalkit.evidence.narrative import format_gbp
from evalkit.naming import outcome_phrase

__all__ = ["finding", "findings"]

_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven",
                 8: "eight", 9: "nine"}

_VERBS = {
    "high": ("reduces", "increases", "makes little or no difference to"),
    "moderate": ("probably reduces", "probably increases",
                 "probably makes little or no difference to"),
    "low": ("may reduce", "may increase", "may make little or no difference to"),
}


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def _lower_first(label: str) -> str:
    """Lower-case the first letter unless the word looks like an acronym (A&E, QALYs)."""
    word = label.split(" ", 1)[0]
    if word and word[0].isupper() and (len(word) == 1 or word[1:].islower()):
        return label[0].lower() + label[1:]
    return label


def _pct(v: float) -> str:
    a = abs(v)
    text = f"{a:.0f}" if a >= 0.95 else f"{a:.1f}"
    return f"{text}%"


def _plain(v: float) -> str:
    a = abs(v)
    if a >= 1000:
        return f"{a:,.0f}"
    if a >= 100:
        return f"{a:.0f}"
    return f"{a:.3g}"


class _Magnitude:
    """How a record's sizes are written: percentages, points, pounds or units."""

    def __init__(self, record: Mapping[str, Any], units: str | None) -> None:
        self.scale = record["scale"]
        diag = record.get("diagnostics") or {}
        diag = diag if isinstance(diag, Mapping) else {}
        self.kind, self.units, self.odds = "plain", units, False
        if self.scale == "ratio":
            self.kind = "ratio"
            self.odds = diag.get("family") == "binomial"  # a logit model's odds ratio
        elif units is None and record.get("domain") == "cost":
            self.kind = "gbp"
        elif units is None and (self.scale == "percent" or (
                diag.get("family") == "binomial" and "cumulative_units" not in diag)):
            self.kind = "points"  # a difference in proportions (0-1) or shares (0-100)

    def _change(self, v: float) -> float:
        if self.kind == "ratio":
            return (v - 1) * 100
        if self.kind == "points" and self.scale != "percent":
            return v * 100
        return v

    def size(self, v: float, *, unit: bool = True) -> str:
        """The size of a change, without its direction (with its units, if ``unit``)."""
        c = self._change(v)
        if self.kind == "ratio":
            return _pct(c)
        if self.kind == "gbp":
            return format_gbp(abs(c))
        if self.kind == "points":
            return f"{abs(c):.1f}" + (" percentage points" if unit else "")
        return _plain(c) + (f" {self.units}" if self.units and unit else "")

    def estimate(self, v: float) -> str:
        """The size of the estimate, saying when a ratio is of odds."""
        return self.size(v) + (" in the odds" if self.odds else "")


def _direction(record: Mapping[str, Any]) -> int:
    null = 1.0 if record["scale"] == "ratio" else 0.0
    est = float(record["estimate"])
    return 1 if est > null else (-1 if est < null else 0)


def _interval(record: Mapping[str, Any], mag: _Magnitude,
              words: tuple[str, str] = ("a fall of", "a rise of")) -> tuple[str, bool | None]:
    """The interval in words, and whether it includes no effect (None: no interval)."""
    lo, hi = record["ci_low"], record["ci_high"]
    if _missing(lo) or _missing(hi):
        return "no confidence interval", None
    conf = record.get("conf_level")
    level = 95 if _missing(conf) else round(float(conf) * 100)
    null = 1.0 if record["scale"] == "ratio" else 0.0
    lo, hi = float(lo), float(hi)
    if lo <= null <= hi:
        if words[0].startswith("a "):
            return (f"{level}% CI from {words[0]} {mag.size(lo)} to {words[1]} "
                    f"{mag.size(hi)}", True)
        return (f"{level}% CI from {mag.size(lo)} {words[0]} to {mag.size(hi)} {words[1]}",
                True)
    near, far = (hi, lo) if hi < null else (lo, hi)
    return f"{level}% CI {mag.size(near, unit=False)} to {mag.size(far)}", False


def _designs_phrase(consistent_designs: Any) -> str:
    if consistent_designs is None:
        return ""
    if isinstance(consistent_designs, Triangulation):
        t = consistent_designs
        n = _NUMBER_WORDS.get(t.n_designs, str(t.n_designs))
        if t.n_designs < 2:
            return ""
        if t.agree:
            return f"consistent across {n} designs"
        if t.agree is None and t.same_direction:
            return f"the same direction in {n} designs"
        return f"the {n} designs disagree" if t.clear_disagreement else \
            f"the {n} designs point in different directions"
    if isinstance(consistent_designs, bool) or not isinstance(consistent_designs, int) \
            or consistent_designs < 0:
        raise DesignError(f"consistent_designs={consistent_designs!r} is not a number of "
                          "designs", fix="give how many designs agree (an integer), or a "
                                         "Triangulation from ek.triangulate")
    if consistent_designs < 2:
        return ""
    return f"consistent across {_NUMBER_WORDS.get(consistent_designs, consistent_designs)} " \
        "designs"


def _certainty(certainty: Any) -> str:
    if isinstance(certainty, Mapping) or isinstance(certainty, pd.Series):
        certainty = certainty["certainty"]
    if certainty not in CERTAINTY_LEVELS:
        raise DesignError(f"certainty {certainty!r} is not a GRADE level",
                          fix=f"use one of {', '.join(CERTAINTY_LEVELS)}")
    return str(certainty)


#: Level 1-2 designs that compare the scheme's units before and after it began.
_BEFORE_AFTER = ("prepost", "likert_change", "engagement", "economic")


def _descriptive(record: Mapping[str, Any], lab: str, mag: _Magnitude,
                 direction: int) -> str:
    """What changed, for level 1-2 designs: no causal verb."""
    est = float(record["estimate"])
    estimand = str(record.get("estimand", ""))
    design = record.get("design")
    if design in _BEFORE_AFTER or estimand.startswith("before_after"):
        ci, includes = _interval(record, mag)
        tail = ", which includes no change" if includes else ""
        after = " after the scheme began"
        if estimand == "before_after_rtm_adjusted":
            after += ", allowing for regression to the mean"
        if direction == 0:
            return f"{lab} neither fell nor rose on average{after} ({ci})"
        verb = "fell" if direction < 0 else "rose"
        return f"{lab} {verb} by an estimated {mag.estimate(est)} ({ci}{tail}){after}"
    ci, includes = _interval(record, mag, ("lower", "higher"))
    tail = ", which includes no difference" if includes else ""
    than = " than in comparison units" if design == "matched" else ""
    if direction == 0:
        return f"the scheme was associated with no difference in {_lower_first(lab)} ({ci})"
    way = "lower" if direction < 0 else "higher"
    return (f"the scheme was associated with {_lower_first(lab)} {mag.estimate(est)} "
            f"{way}{than} ({ci}{tail})")


def finding(record: Mapping[str, Any], certainty: str | Mapping[str, Any], *,
            label: str | None = None, consistent_designs: int | Triangulation | None = None,
            units: str | None = None) -> str:
    """One sentence stating an effect, its interval, its certainty and its consistency.

    Parameters
    ----------
    record
        An effect record (a row of ``effects``, or a dict with ``scale``, ``estimate``,
        ``ci_low``, ``ci_high``, ``evidence_level`` and, optionally, ``conf_level``,
        ``design``, ``estimand``, ``domain`` and ``diagnostics``).
    certainty
        ``"high"``, ``"moderate"``, ``"low"`` or ``"very low"``, or a row of
        :attr:`CertaintyResult.table`.
    label
        The outcome's name for a reader, e.g. ``"Emergency admissions"`` (default: the
        outcome column in words).
    consistent_designs
        How many designs agree (2 or more adds "consistent across two designs"), or the
        :class:`~evalkit.evidence.certainty.Triangulation` of the scheme and outcome.
    units
        The units of a difference, e.g. ``"bed days per 1,000"``. Costs are written in
        pounds, and differences in proportions in percentage points, without it.

    Returns
    -------
    str

    Examples
    --------
    >>> rec = {"outcome": "bed_days", "design": "prepost", "estimand": "before_after",
    ...        "scale": "ratio", "estimate": 0.88, "ci_low": 0.8, "ci_high": 0.97,
    ...        "evidence_level": 1}
    >>> finding(rec, "very low", label="Bed days")
    'The evidence is very uncertain: bed days fell by an estimated 12% (95% CI 3% to 20%) after the scheme began; very low certainty. This design (Maryland level 1) shows what changed, not why.'
    """  # noqa: E501
    cert = _certainty(certainty)
    for key in ("scale", "estimate", "ci_low", "ci_high"):
        if key not in record:
            raise DesignError(f"the record has no '{key}'",
                              fix="pass a row of an effects frame")
    if _missing(record["estimate"]):
        raise DesignError("the record has no estimate", fix="pass a record with an estimate")
    label = label or str(record.get("outcome", "the outcome")).replace("_", " ").capitalize()
    lab = outcome_phrase(label)
    mag = _Magnitude(record, units)
    direction = _direction(record)
    est = float(record["estimate"])
    level = int(record.get("evidence_level", 1))
    consistency = _designs_phrase(consistent_designs)

    if level <= 2:
        what = _descriptive(record, label, mag, direction)
        if cert == "very low":
            text = f"The evidence is very uncertain: {_lower_first(what)}"
        else:
            text = what[0].upper() + what[1:]
        text += f"; {cert} certainty"
        if consistency:
            text += f"; {consistency}"
        return (text + f". This design (Maryland level {level}) shows what changed, "
                "not why.")

    ci, includes = _interval(record, mag)
    word = "fall" if direction < 0 else ("rise" if direction > 0 else "change")
    estimate = (f"an estimated {mag.estimate(est)} {word}" if direction else "no change")
    if cert == "very low":
        text = (f"The evidence is very uncertain about the effect of the scheme on {lab}: "
                f"{estimate} ({ci})")
    elif includes or direction == 0:
        text = f"The scheme {_VERBS[cert][2]} {lab}: {estimate} ({ci})"
    else:
        verb = _VERBS[cert][0] if direction < 0 else _VERBS[cert][1]
        text = f"The scheme {verb} {lab}, by an estimated {mag.estimate(est)} ({ci})"
    text += f"; {cert} certainty"
    if consistency:
        text += f"; {consistency}"
    return text + "."


def findings(result: CertaintyResult, *, labels: Mapping[str, str] | None = None,
             units: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A finding for every scheme and outcome of a certainty rating.

    Parameters
    ----------
    result
        From :func:`~evalkit.evidence.certainty.rate_certainty`.
    labels
        Reader-facing names by outcome.
    units
        Units of differences by outcome.

    Returns
    -------
    pandas.DataFrame
        ``scheme``, ``outcome``, ``certainty`` and ``finding``.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.evidence.certainty import rate_certainty
    >>> rec = {"scheme": "s", "outcome": "admissions", "design": "its",
    ...        "estimand": "level_change", "scale": "ratio", "estimate": 0.8,
    ...        "ci_low": 0.7, "ci_high": 0.9, "evidence_level": 3}
    >>> findings(rate_certainty(pd.DataFrame([rec]))).loc[0, "finding"][:36]
    'The scheme may reduce admissions, by'
    """
    if not isinstance(result, CertaintyResult):
        raise DesignError("findings() takes the result of rate_certainty()",
                          fix="call ek.rate_certainty(effects) first")
    labels, units = labels or {}, units or {}
    rows = []
    for (_, row), (_, rec), tri in zip(result.table.iterrows(), result.records.iterrows(),
                                       result.triangulations, strict=True):
        rows.append({"scheme": row["scheme"], "outcome": row["outcome"],
                     "certainty": row["certainty"],
                     "finding": finding(rec.to_dict(), row["certainty"],
                                        label=labels.get(row["outcome"]),
                                        consistent_designs=tri,
                                        units=units.get(row["outcome"]))})
    return pd.DataFrame(rows, columns=["scheme", "outcome", "certainty", "finding"])
