"""Plain-English findings from effect records.

Wording never claims cause for a Maryland level 1 or 2 design: an uncontrolled
before/after can only say what changed, not what the scheme did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["describe_effect", "format_effect", "format_interval", "format_gbp",
           "format_number", "format_sig", "format_p", "p_text", "MINUS"]

#: The minus sign (U+2212) of every negative number shown in a report.
MINUS = "\u2212"

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


def format_number(v: float, spec: str = "") -> str:
    """A number formatted by ``spec`` (as :func:`format`), negative with a true minus sign.

    The one place a report's numbers get their sign: U+2212, not the hyphen, and no sign
    on a number that rounds to zero (``+`` in ``spec`` still marks positive numbers).

    Examples
    --------
    >>> format_number(-0.094, ".3f"), format_number(-1535.2, ",.0f"), format_number(3.2, "+.1f")
    ('\u22120.094', '\u22121,535', '+3.2')
    >>> format_number(-0.0004, ".3f"), format_number(float("-inf"), ".1f")
    ('0.000', '\u2212inf')
    """
    text = format(v, spec)
    mantissa = text.split("e")[0]
    if text[:1] in "+-" and any(ch.isdigit() for ch in mantissa) \
            and not any(ch in "123456789" for ch in mantissa):
        return text[1:]  # rounds to zero: unsigned
    return text.replace("-", MINUS)


def format_p(p: float) -> str:
    """A p-value for a table cell: ``0.040``, or ``< 0.001`` rather than ``0.000``.

    Examples
    --------
    >>> format_p(0.0401), format_p(0.00002)
    ('0.040', '< 0.001')
    """
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_text(p: float) -> str:
    """A p-value for prose: ``p = 0.040`` or ``p < 0.001``.

    Examples
    --------
    >>> p_text(0.0401), p_text(0.0)
    ('p = 0.040', 'p < 0.001')
    """
    shown = format_p(p)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def format_sig(v: float, digits: int = 3, *, sign: bool = False) -> str:
    """A number for prose, alt text and labels: ``digits`` significant figures, never in
    scientific notation, thousands separated, with a true minus sign.

    Numbers of 1,000 or more keep all their integer digits (1,707, not 1.71e+03).

    Examples
    --------
    >>> format_sig(-1707.4), format_sig(6.786e-05), format_sig(0.0345, sign=True)
    ('−1,707', '0.0000679', '+0.0345')
    >>> format_sig(-541.33), format_sig(0), format_sig(float("nan"))
    ('−541', '0', 'nan')
    """
    v = float(v)
    if not math.isfinite(v):
        return format_number(v)
    if v == 0:
        return "0"
    decimals = min(12, max(0, digits - 1 - math.floor(math.log10(abs(v)))))
    text = format_number(v, f"{'+' if sign else ''},.{decimals}f")
    return text.rstrip("0").rstrip(".") if "." in text else text  # as 'g' does: 10, not 10.0


def format_gbp(v: float) -> str:
    """Whole pounds for prose and labels, the minus sign (U+2212) before the pound sign.

    Examples
    --------
    >>> format_gbp(-984.4), format_gbp(1234.5), format_gbp(-0.4)
    ('\u2212£984', '£1,234', '£0')
    """
    return f"{MINUS}£{-v:,.0f}" if v < -0.5 else f"£{abs(v):,.0f}"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _phrase(estimand: str) -> str:
    if estimand.startswith("gap_at:"):
        return (f"than its synthetic control {estimand.split(':', 1)[1]} period(s) after "
                "the scheme began")
    return ESTIMAND_PHRASES.get(estimand, "")


def format_interval(record: Mapping[str, Any]) -> str:
    """``'0.91 (95% CI 0.86 to 0.96)'``-style text for a record.

    The estimate and its bounds share one number of decimals (that of the largest of
    them), so an interval never mixes ``866`` with ``-78.14``.

    Examples
    --------
    >>> format_interval({"estimate": 866.0, "ci_low": -78.14, "ci_high": 1763.0,
    ...                  "conf_level": 0.95, "scale": "difference"})
    '866 (95% CI \u221278 to 1,763)'
    """
    level = round(float(record["conf_level"]) * 100)
    est, scale = record["estimate"], record["scale"]
    if _missing(record["ci_low"]) or _missing(record["ci_high"]):
        return f"{_num(est, scale)} (no confidence interval)"
    lo, hi = record["ci_low"], record["ci_high"]
    if scale != "ratio":
        biggest = max(abs(est), abs(lo), abs(hi))
        scale = biggest if biggest == biggest else abs(est)
    return (f"{_num(est, scale)} ({level}% CI {_num(lo, scale)} to {_num(hi, scale)})")


def format_effect(record: Mapping[str, Any]) -> str:
    """The effect as a percentage change (ratios) or signed difference."""
    if record["scale"] == "ratio" and not (_missing(record["ci_low"])
                                           or _missing(record["ci_high"])):
        pct = lambda v: format_number((v - 1) * 100, "+.1f") + "%"  # noqa: E731
        level = round(float(record["conf_level"]) * 100)
        return (f"{pct(record['estimate'])} ({level}% CI {pct(record['ci_low'])} to "
                f"{pct(record['ci_high'])})")
    return format_interval(record)


def _num(v: float, scale: str | float) -> str:
    """``v`` in the report's precision: 3 decimals for ratios; for differences by size
    (of ``v``, or of the number ``scale`` when given: whole numbers from 100, 2 decimals
    from 1, else 3)."""
    if scale == "ratio":
        return format_number(v, ".3f")
    a = abs(v) if isinstance(scale, str) else float(scale)
    return format_number(v, ",.0f" if a >= 100 else ".2f" if a >= 1 else ".3f")


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
        test = "" if _missing(p) else f"; placebo {p_text(p)}"
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
            ci = (f"{level}% CI {format_number(a, '+.1f')}% to {format_number(b, '+.1f')}%, "
                  "including no change")
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
