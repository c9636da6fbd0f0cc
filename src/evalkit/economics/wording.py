"""Economic results in words: one classification and one sentence per quadrant.

Every economic sentence of a report is built here, from the point estimates of the
incremental cost and effect (QALYs) of the scheme against its comparator, so that the
evidence summary and the comparative synthesis classify a scheme the same way
(:func:`classify`, :func:`classify_result`).

The cost-effectiveness plane (effect across, cost up; Drummond et al., 2015, ch. 4):

============  =====================  ==================================================
quadrant      the scheme              cost-effective at a threshold ``lambda`` when
============  =====================  ==================================================
north-east    costs more, gains       the ICER (cost per QALY gained) is at most lambda
north-west    costs more, loses       never: it is *dominated*
south-east    saves, gains            always: it is *dominant*
south-west    saves, loses            the ICER (saving per QALY lost) is at least lambda
============  =====================  ==================================================

Both rules are ``lambda * effect - cost >= 0`` (a non-negative net monetary benefit). In
the south-west the ratio is read the other way round: a scheme that saves £40,000 for each
QALY it loses frees money that would buy more than a QALY elsewhere at £20,000 per QALY.
On the axes: no change in effect with a saving (or no change in cost with a gain) is
dominant; a cost with no gain (or a loss with no saving) is dominated. Among several
strategies, dominance and *extended* dominance (Cantor, 1994) are named by
:func:`frontier_sentence` from :func:`~evalkit.economics.cost_effectiveness.icer`.

Uncertainty is said in calibrated words (:func:`likelihood`: the IPCC's scale, Mastrandrea
et al., 2010) beside the probability of being cost-effective at each threshold.
Changes are said with their direction in words and their size without a sign
(:func:`change_in_words`: "£486 less (95% CI from £1,385 less to £455 more)"), so no
signed number is read against a word that already carries the direction.

References
----------
Drummond MF, Sculpher MJ, Claxton K, Stoddart GL, Torrance GW. *Methods for the Economic
Evaluation of Health Care Programmes*, 4th ed. Oxford University Press; 2015.
Cantor SB. Cost-effectiveness analysis, extended dominance, and ethics: a quantitative
assessment. *Med Decis Making* 1994;14:259-265.
Mastrandrea MD et al. Guidance note for lead authors of the IPCC Fifth Assessment Report
on consistent treatment of uncertainties. IPCC; 2010.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.evidence.narrative import format_gbp, format_number

__all__ = ["QUADRANTS", "Classification", "quadrant", "cost_effective_at", "classify",
           "classify_result", "likelihood", "change_in_words", "plane_sentence",
           "uncertainty_sentence", "net_cost_sentence", "break_even_sentence",
           "frontier_sentence"]

QUADRANTS = ("north-east", "north-west", "south-east", "south-west")
_WHERE = {"north-east": "costs more and gains {units}",
          "north-west": "costs more and loses {units}",
          "south-east": "saves money and gains {units}",
          "south-west": "saves money and loses {units}"}


def quadrant(inc_cost: float, inc_effect: float) -> str:
    """The quadrant of the cost-effectiveness plane (one of :data:`QUADRANTS`).

    Points on an axis go to the dominance quadrants: no worse on both and better on one
    (or no change at all) is ``south-east``; a cost with no gain, or a loss at no saving,
    is ``north-west``.

    Examples
    --------
    >>> quadrant(-486, -0.001), quadrant(218, 0.02), quadrant(10, 0.0), quadrant(-5, 0.0)
    ('south-west', 'north-east', 'north-west', 'south-east')
    """
    dc, de = float(inc_cost), float(inc_effect)
    if dc <= 0 and de >= 0:
        return "south-east"
    if dc >= 0 and de <= 0:
        return "north-west"
    return "north-east" if de > 0 else "south-west"


def cost_effective_at(inc_cost: float, inc_effect: float, threshold: float) -> bool:
    """Whether the scheme is cost-effective at ``threshold`` per unit of effect.

    North-east: the cost per unit gained is at most the threshold. South-west: the saving
    per unit lost is at least the threshold. Dominant: always; dominated: never.

    Examples
    --------
    >>> cost_effective_at(-500.0, -0.02, 20000), cost_effective_at(-500.0, -0.02, 30000)
    (True, False)
    """
    q = quadrant(inc_cost, inc_effect)
    if q in ("south-east", "north-west"):
        return q == "south-east"
    ratio = float(inc_cost) / float(inc_effect)
    return ratio <= threshold if q == "north-east" else ratio >= threshold


@dataclass(frozen=True)
class Classification:
    """Where a scheme sits on the cost-effectiveness plane, from its point estimates.

    Attributes
    ----------
    inc_cost, inc_effect
        Incremental cost and effect per patient (``inc_effect`` None: no effect measured).
    thresholds
        The willingness-to-pay thresholds, ascending.
    quadrant
        One of :data:`QUADRANTS`, or None without an effect.
    verdict
        One of :data:`evalkit.economics.evaluation.VERDICTS`.
    cost_effective
        Per threshold, whether the scheme is cost-effective there.
    """

    inc_cost: float
    inc_effect: float | None
    thresholds: tuple[float, ...]
    quadrant: str | None
    verdict: str
    cost_effective: tuple[bool, ...]

    @property
    def icer(self) -> float:
        """Cost per unit gained (north-east) or saving per unit lost (south-west), else NaN."""
        if self.quadrant in ("north-east", "south-west"):
            return float(self.inc_cost) / float(self.inc_effect)
        return math.nan

    def label(self, unit: str = "QALY") -> str:
        """A short label for a table cell, e.g. ``"cost-effective at £20,000 per QALY"``."""
        if self.quadrant is None:
            return self.verdict
        if self.quadrant == "south-east":
            return "dominant (saves money, gains health)"
        if self.quadrant == "north-west":
            return "dominated (costs more, no health gain)"
        ratio = (f"£{self.icer:,.0f} per {unit} gained" if self.quadrant == "north-east"
                 else f"saves £{self.icer:,.0f} per {unit} lost")
        return f"{_judgement(self, unit, bold=False)} ({ratio})"


def classify(inc_cost: float, inc_effect: float | None, wtp: Sequence[float]
             ) -> Classification:
    """Classify a scheme from the point estimates of its incremental cost and effect.

    Parameters
    ----------
    inc_cost, inc_effect
        Incremental cost and effect per patient (``inc_effect=None``: no effect measured).
    wtp
        The willingness-to-pay thresholds per unit of effect.

    Returns
    -------
    Classification
        With the verdict: ``dominant``, ``dominated``, ``cost-effective`` (at every
        threshold), ``cost-effective at the upper threshold`` (north-east: at the highest
        threshold only), ``cost-effective at the lower threshold`` (south-west: at the
        lowest only, since a lower threshold asks less health of each pound saved), ``not
        cost-effective``, or without an effect ``cost-saving`` / ``cost-increasing``.

    Examples
    --------
    >>> classify(-486.0, -0.001, [20000, 30000]).verdict  # saves £486,000 per QALY lost
    'cost-effective'
    >>> classify(-500.0, -0.02, [20000, 30000]).verdict   # saves £25,000 per QALY lost
    'cost-effective at the lower threshold'
    """
    thresholds = tuple(sorted(float(w) for w in wtp))
    if inc_effect is None:
        return Classification(float(inc_cost), None, thresholds, None,
                              "cost-saving" if inc_cost < 0 else "cost-increasing", ())
    q = quadrant(inc_cost, inc_effect)
    ce = tuple(cost_effective_at(inc_cost, inc_effect, w) for w in thresholds)
    if q == "south-east":
        verdict = "dominant"
    elif q == "north-west":
        verdict = "dominated"
    elif all(ce):
        verdict = "cost-effective"
    elif not any(ce):
        verdict = "not cost-effective"
    elif q == "north-east":
        verdict = "cost-effective at the upper threshold"
    else:
        verdict = "cost-effective at the lower threshold"
    return Classification(float(inc_cost), float(inc_effect), thresholds, q, verdict, ce)


def classify_result(result: Any) -> Classification:
    """:func:`classify` applied to an economic evaluation's result (its point estimates
    of ``incremental_cost`` and ``incremental_effect`` and its thresholds)."""
    from evalkit.economics.cost_effectiveness import NICE_WTP

    est = result.effects.set_index("estimand")["estimate"]
    effect = float(est["incremental_effect"]) if "incremental_effect" in est.index else None
    wtp = (result.options or {}).get("wtp") or NICE_WTP
    return classify(float(est["incremental_cost"]), effect, wtp)


# --------------------------------------------------------------------------- words


def _gbp_list(values: Sequence[float], joiner: str) -> str:
    text = [f"£{v:,.0f}" for v in values]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + f" {joiner} " + text[-1]


def _judgement(c: Classification, unit: str, *, bold: bool = True) -> str:
    """``cost-effective at £20,000 and £30,000 per QALY``-style judgement at the thresholds."""
    b = "**" if bold else ""
    yes = [w for w, ok in zip(c.thresholds, c.cost_effective, strict=True) if ok]
    no = [w for w, ok in zip(c.thresholds, c.cost_effective, strict=True) if not ok]
    if not no:
        return f"{b}cost-effective{b} at {_gbp_list(yes, 'and')} per {unit}"
    if not yes:
        return f"{b}not cost-effective{b} at {_gbp_list(no, 'or')} per {unit}"
    return f"{b}cost-effective at {_gbp_list(yes, 'and')} per {unit}{b} but not at " \
           f"{_gbp_list(no, 'or')}"


def plane_sentence(c: Classification, *, units: str = "QALYs") -> str:
    """Where the scheme sits on the plane, its ratio read the right way, and the verdict.

    Examples
    --------
    >>> print(plane_sentence(classify(-486.0, -0.001, [20000, 30000])))
    ... # doctest: +NORMALIZE_WHITESPACE
    On the point estimates the scheme saves money and loses QALYs (the south-west quadrant
    of the cost-effectiveness plane): it saves £486,000 per QALY lost. Such a scheme is
    cost-effective at a threshold when the saving per QALY lost is at or above it, as the
    money saved would buy more health elsewhere than is lost, so it is **cost-effective**
    at £20,000 and £30,000 per QALY.
    """
    if c.quadrant is None:
        raise ValueError("no effect was measured, so the scheme has no place on the plane")
    unit = units[:-1] if units.endswith("s") else units
    dc, de = c.inc_cost, c.inc_effect
    where = f"the {c.quadrant} quadrant of the cost-effectiveness plane"
    if c.quadrant == "south-east":
        what = ("saves money" if dc < 0 else "costs no more") + " and " + \
            (f"gains {units}" if de > 0 else f"loses no {units}")
        return (f"On the point estimates the scheme {what} ({where}): it is **dominant**, "
                "cost-effective at any threshold, so no ratio is needed.")
    if c.quadrant == "north-west":
        what = ("costs more" if dc > 0 else "saves no money") + " and " + \
            (f"loses {units}" if de < 0 else f"gains no {units}")
        return (f"On the point estimates the scheme {what} ({where}): it is **dominated**, "
                "not cost-effective at any threshold, so no ratio is needed.")
    what = _WHERE[c.quadrant].format(units=units)
    if c.quadrant == "north-east":
        return (f"On the point estimates the scheme {what} ({where}): the ICER is "
                f"£{c.icer:,.0f} per {unit} gained. Such a scheme is cost-effective at a "
                f"threshold when the ICER is at or below it, so it is {_judgement(c, unit)}.")
    return (f"On the point estimates the scheme {what} ({where}): it saves £{c.icer:,.0f} "
            f"per {unit} lost. Such a scheme is cost-effective at a threshold when the saving "
            f"per {unit} lost is at or above it, as the money saved would buy more health "
            f"elsewhere than is lost, so it is {_judgement(c, unit)}.")


#: Calibrated probability words (IPCC AR5; Mastrandrea et al., 2010), each with the lower
#: end of its range: inclusive for the first three, exclusive for the others (see
#: :func:`likelihood`).
LIKELIHOOD = ((0.99, "virtually certain"), (0.90, "very likely"), (0.66, "likely"),
              (0.33, "about as likely as not"), (0.10, "unlikely"), (0.01, "very unlikely"),
              (0.0, "exceptionally unlikely"))


def likelihood(p: float) -> str:
    """Calibrated words for a probability: ``likely`` from 66%, ``about as likely as not``
    above 33%, ``unlikely`` from 33% down, ``very unlikely`` from 10%, ``exceptionally
    unlikely`` from 1% (the IPCC's scale, each word its narrowest range).

    Examples
    --------
    >>> likelihood(0.81), likelihood(0.5), likelihood(0.33), likelihood(0.0)
    ('likely', 'about as likely as not', 'unlikely', 'exceptionally unlikely')
    """
    p = float(p)
    if p >= 0.66:
        return next(word for cut, word in LIKELIHOOD[:3] if p >= cut)
    return next((word for cut, word in LIKELIHOOD[3:6] if p > cut), LIKELIHOOD[-1][1])


def uncertainty_sentence(probabilities: Mapping[float, float], *, units: str = "QALYs",
                         refs: str = "") -> str:
    """The probability of being cost-effective at each threshold, and what it means.

    Examples
    --------
    >>> uncertainty_sentence({20000: 0.81, 30000: 0.5})  # doctest: +NORMALIZE_WHITESPACE
    'The probability that it is cost-effective is 81% at £20,000 and 50% at £30,000 per
     QALY: allowing for sampling uncertainty, it is likely to be cost-effective at £20,000
     and about as likely as not at £30,000.'
    """
    unit = units[:-1] if units.endswith("s") else units
    items = sorted(probabilities.items())
    probs = " and ".join(f"{p:.0%} at £{w:,.0f}" for w, p in items)
    words = [likelihood(p) for _, p in items]
    if len(set(words)) == 1:
        tail = "" if len(items) == 1 else \
            (" at both thresholds" if len(items) == 2 else " at every threshold")
        meaning = f"it is {words[0]} to be cost-effective{tail}"
    else:
        parts = [f"{word} at £{w:,.0f}" for (w, _), word in zip(items, words, strict=True)]
        meaning = (f"it is {parts[0].replace(' at ', ' to be cost-effective at ', 1)}"
                   + "".join(f" and {p}" if i == len(parts) - 1 else f", {p}"
                             for i, p in enumerate(parts[1:], start=1)))
    return (f"The probability that it is cost-effective is {probs} per {unit}{refs}: "
            f"allowing for sampling uncertainty, {meaning}.")


def change_in_words(estimate: float, low: float, high: float, *, up: str, down: str,
                    size: Callable[[float], str], conf_level: float = 0.95) -> str:
    """A change as its size and a direction word, with its interval in the same words.

    ``up`` and ``down`` are the words for a positive and a negative change; ``size``
    formats a non-negative amount. No sign is shown: the words carry it.

    Examples
    --------
    >>> gbp = lambda v: f"£{v:,.0f}"
    >>> change_in_words(-486, -1385, 455, up="more", down="less", size=gbp)
    '£486 less (95% CI from £1,385 less to £455 more)'
    >>> change_in_words(1066, 122, 1964, up="more", down="less", size=gbp)
    '£1,066 more (95% CI £122 to £1,964 more)'
    """
    def word(v: float) -> str:
        return up if v > 0 else down

    def amount(v: float) -> str:
        return "no change" if v == 0 else f"{size(abs(v))} {word(v)}"

    level = round(float(conf_level) * 100)
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return f"{amount(estimate)} (no confidence interval)"
    if low > 0 or high < 0:
        a, b = sorted((abs(low), abs(high)))
        return f"{amount(estimate)} ({level}% CI {size(a)} to {size(b)} {word(low)})"
    return f"{amount(estimate)} ({level}% CI from {amount(low)} to {amount(high)})"


def net_cost_sentence(record: Mapping[str, Any]) -> str:
    """``each patient cost £486 less (95% CI from £1,385 less to £455 more)``."""
    return "each patient cost " + change_in_words(
        float(record["estimate"]), float(record["ci_low"]), float(record["ci_high"]),
        up="more", down="less", size=format_gbp, conf_level=float(record["conf_level"]))


def _amount(v: float) -> str:
    return format_number(v, ".3f" if v < 1 else ".2f" if v < 100 else ",.0f")


def break_even_sentence(break_even: float, change: Mapping[str, Any], *, label: str) -> str:
    """What the scheme would need to avoid to pay for itself, beside what it avoided.

    ``change`` is the record of the change in the activity per patient (negative: fewer,
    that is, avoided).

    Examples
    --------
    >>> rec = {"estimate": 0.115, "ci_low": -0.033, "ci_high": 0.254, "conf_level": 0.95}
    >>> print(break_even_sentence(0.116, rec, label="emergency admissions"))
    ... # doctest: +NORMALIZE_WHITESPACE
    To pay for itself from emergency admissions alone, the scheme would need to avoid
    0.116 per patient served; it avoided none: emergency admissions rose by 0.115 per
    patient (95% CI from 0.033 fewer to 0.254 more).
    """
    est, lo, hi = (float(change[k]) for k in ("estimate", "ci_low", "ci_high"))
    text = change_in_words(est, lo, hi, up="more", down="fewer", size=_amount,
                           conf_level=float(change.get("conf_level", 0.95)))
    ci = text[text.index("("):]
    head = (f"To pay for itself from {label} alone, the scheme would need to avoid "
            f"{_amount(break_even)} per patient served; ")
    if est < 0:
        enough = "enough" if -est >= break_even else "not enough"
        return head + (f"it avoided {_amount(-est)} per patient {ci}: on the point estimate, "
                       f"{enough} on its own to pay for the scheme.")
    if est == 0:
        return head + f"it avoided none {ci}."
    return head + f"it avoided none: {label} rose by {_amount(est)} per patient {ci}."


def frontier_sentence(table: Any, strategy: str, *, units: str = "QALYs") -> str:
    """One strategy's place on the efficiency frontier of
    :func:`~evalkit.economics.cost_effectiveness.icer`, in words.

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.economics.cost_effectiveness import icer
    >>> t = icer(pd.DataFrame({"strategy": ["UC", "B", "A", "C", "D"],
    ...                        "cost": [5000, 10000, 12000, 25000, 35000],
    ...                        "effect": [1, 2, 1.5, 3, 4]}))
    >>> frontier_sentence(t, "C")  # doctest: +NORMALIZE_WHITESPACE
    'C is extendedly dominated: a mix of B and D would gain more QALYs for the same cost,
     because its ICER against B (£15,000 per QALY gained) is higher than that of D against
     it (£10,000).'
    """
    unit = units[:-1] if units.endswith("s") else units
    rows = table.set_index("strategy")
    r = rows.loc[strategy]
    status = r["status"]
    if status == "reference":
        return (f"{strategy} is the reference: the least costly strategy that is not "
                "dominated.")
    if status == "frontier":
        return (f"{strategy} is on the efficiency frontier: against {r['compared_with']} it "
                f"costs {format_gbp(r['inc_cost'])} more and gains "
                f"{_amount(r['inc_effect'])} {units}, £{r['icer']:,.0f} per {unit} gained.")
    c, e = float(r["cost"]), float(r["effect"])
    if status == "dominated":
        better = rows[(rows["cost"] <= c) & (rows["effect"] >= e)
                      & ((rows["cost"] < c) | (rows["effect"] > e))]
        by = better["cost"].idxmin() if len(better) else None
        return (f"{strategy} is dominated" + (f" by {by}: it costs "
                f"{format_gbp(c - float(rows.loc[by, 'cost']))} more and gains "
                f"{_amount(float(rows.loc[by, 'effect']) - e)} fewer {units}"
                if by is not None else ": another strategy has the same cost and effect")
                + ".")
    live = rows[rows["status"].isin(["reference", "frontier"])]
    below, above = live[live["effect"] < e], live[live["effect"] > e]
    lo, hi = below["effect"].idxmax(), above["effect"].idxmin()
    ratio_lo = (c - float(live.loc[lo, "cost"])) / (e - float(live.loc[lo, "effect"]))
    ratio_hi = (float(live.loc[hi, "cost"]) - c) / (float(live.loc[hi, "effect"]) - e)
    return (f"{strategy} is extendedly dominated: a mix of {lo} and {hi} would gain more "
            f"{units} for the same cost, because its ICER against {lo} "
            f"(£{ratio_lo:,.0f} per {unit} gained) is higher than that of {hi} against it "
            f"(£{ratio_hi:,.0f}).")
