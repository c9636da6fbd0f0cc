"""Plain-English findings from effect records.

Wording never claims cause for a Maryland level 1 or 2 design: an uncontrolled
before/after can only say what changed, not what the scheme did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["describe_effect", "format_effect", "format_interval", "format_gbp"]

ESTIMAND_PHRASES = {
    "before_after": "in the follow-up year than in the year before the scheme began",
    "before_after_rtm_adjusted": "after allowing for regression to the mean",
    "level_change": "just after the scheme began than the pre-scheme trend predicted",
    "effect_at_12": "12 months after the scheme began than the pre-scheme trend predicted",
    "gap_mean": "than its synthetic control, on average after the scheme began",
    "att_sdid": "than its synthetic comparison after the scheme began (synthetic DiD)",
    "att_did": "than in matched comparison units, allowing for their differences before",
    "difference_in_means": "than in matched comparison units after the scheme began",
    "difference_in_proportions": "than in matched comparison units after the scheme began",
}


def format_gbp(v: float) -> str:
    """Whole pounds for prose and labels, the minus sign before the pound sign.

    Examples
    --------
    >>> format_gbp(-984.4), format_gbp(1234.5)
    ('-£984', '£1,234')
    """
    return f"-£{-v:,.0f}" if v < 0 else f"£{v:,.0f}"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _phrase(estimand: str) -> str:
    if estimand.startswith("gap_at:"):
        return (f"than its synthetic control {estimand.split(':', 1)[1]} period(s) after "
                "the scheme began")
    return ESTIMAND_PHRASES.get(estimand, "")


def format_interval(record: Mapping[str, Any]) -> str:
    """``'0.91 (95% CI 0.86 to 0.96)'``-style text for a record."""
    level = round(float(record["conf_level"]) * 100)
    if _missing(record["ci_low"]) or _missing(record["ci_high"]):
        return f"{_num(record['estimate'], record['scale'])} (no confidence interval)"
    return (f"{_num(record['estimate'], record['scale'])} ({level}% CI "
            f"{_num(record['ci_low'], record['scale'])} to "
            f"{_num(record['ci_high'], record['scale'])})")


def format_effect(record: Mapping[str, Any]) -> str:
    """The effect as a percentage change (ratios) or signed difference."""
    if record["scale"] == "ratio" and not (_missing(record["ci_low"])
                                           or _missing(record["ci_high"])):
        pct = lambda v: f"{(v - 1) * 100:+.1f}%"  # noqa: E731
        level = round(float(record["conf_level"]) * 100)
        return (f"{pct(record['estimate'])} ({level}% CI {pct(record['ci_low'])} to "
                f"{pct(record['ci_high'])})")
    return format_interval(record)


def _num(v: float, scale: str) -> str:
    if scale == "ratio":
        return f"{v:.3f}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def describe_effect(record: Mapping[str, Any], *, label: str | None = None) -> str:
    """One sentence describing an effect record, calibrated to its design.

    Examples
    --------
    >>> rec = {"outcome": "emergency_admissions", "estimand": "before_after",
    ...        "scale": "ratio", "estimate": 0.9, "ci_low": 0.85, "ci_high": 0.95,
    ...        "conf_level": 0.95, "evidence_level": 1}
    >>> describe_effect(rec, label="Emergency admissions")[:56]
    'Emergency admissions were 10.0% lower (95% CI 5.0% to 15'
    """
    label = label or str(record["outcome"]).replace("_", " ").capitalize()
    est, lo, hi = record["estimate"], record["ci_low"], record["ci_high"]
    level = round(float(record["conf_level"]) * 100)
    phrase = _phrase(str(record["estimand"]))
    if _missing(lo) or _missing(hi):
        direction = "lower" if est < 0 else "higher"
        size = (f"{abs((est - 1) * 100):.1f}%" if record["scale"] == "ratio"
                else _num(abs(est), "difference"))
        p = record.get("p_value")
        test = "" if _missing(p) else f"; placebo p = {p:.3f}"
        text = f"{label} was {size} {direction} (no confidence interval{test}) {phrase}"
        text = text.rstrip() + "."
    elif record["scale"] == "ratio":
        change = (est - 1) * 100
        direction = "lower" if change < 0 else "higher"
        a, b = sorted([abs((lo - 1) * 100), abs((hi - 1) * 100)]) if (lo - 1) * (hi - 1) > 0 \
            else ((lo - 1) * 100, (hi - 1) * 100)
        if (lo - 1) * (hi - 1) > 0:
            ci = f"{level}% CI {a:.1f}% to {b:.1f}% {direction}"
        else:
            ci = f"{level}% CI {a:+.1f}% to {b:+.1f}%, including no change"
        text = f"{label} were {abs(change):.1f}% {direction} ({ci}) {phrase}"
        text = text.rstrip() + "."
    else:
        direction = "lower" if est < 0 else "higher"
        crosses = lo <= 0 <= hi
        ci = f"{level}% CI {_num(lo, 'difference')} to {_num(hi, 'difference')}" + \
            (", including no change" if crosses else "")
        text = f"{label} was {_num(abs(est), 'difference')} {direction} ({ci}) {phrase}"
        text = text.rstrip() + "."
    if record.get("design") == "its" and record.get("diagnostics", {}).get("controlled"):
        text = text[:-1] + ", allowing for change in a comparison series."
    if int(record.get("evidence_level", 1)) <= 2:
        text += " This design shows what changed, not what the scheme caused."
    return text
