"""Limitations of an evidence summary, in the scheme's own terms.

Two threats matter most for evaluations of collaborative working:

Regression to the mean
    :func:`regression_to_mean` reads each before/after analysis's check
    (:mod:`evalkit.designs.regression_to_mean`): whether the spec says the scheme chose its units
    for high values, whether the data show a peak (the scheme's units rising more than the
    others from a reference window into the baseline), what change regression to the mean
    alone would give, and the unadjusted and adjusted estimates side by side.
Confounding
    :func:`confounding` says, for each design the scheme used, which other explanations the
    design cannot rule out, naming the scheme's units, dates and matching variables.

Nothing is re-estimated: the text reads the effect records and their diagnostics.

Examples
--------
>>> _pct_change(0.975)
'-2.5%'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evalkit.evaluation.pipeline import people_analysis
from evalkit.evidence.narrative import format_effect, format_gbp, format_number, p_text
from evalkit.naming import column_words
from evalkit.report.design import in_sentence, unit_words, window_words
from evalkit.report.markdown_text import md_join, md_text

__all__ = ["regression_to_mean", "confounding", "selection_and_matching",
           "limitations_markdown"]


def _pct_change(ratio: float) -> str:
    return format_number((float(ratio) - 1) * 100, "+.1f") + "%"


def _amount(v: float, cost: bool, *, sign: bool = True) -> str:
    if cost:
        return ("+" if v > 0 and sign else "") + format_gbp(v)
    return format_number(v, "+.3g" if sign else ".3g")


def _covers(window: Any, month: str) -> bool:
    if not isinstance(window, (list, tuple)) or len(window) != 2:
        return False
    lo, hi = str(window[0]), str(window[1])
    return len(lo) == 7 and len(hi) == 7 and lo <= month <= hi


def regression_to_mean(evaluation) -> list[str]:
    """One paragraph per outcome of each before/after analysis on regression to the mean."""
    spec = evaluation.spec
    out = []
    for analysis, res in evaluation.results:
        if analysis.design != "prepost":
            continue
        eff = res.effects.set_index("estimand")
        if "before_after" not in eff.index:
            continue
        naive = eff.loc["before_after"]
        d = naive["diagnostics"] if isinstance(naive["diagnostics"], Mapping) else {}
        raw_label = spec.outcome_label(analysis.outcome)
        label, in_text = md_text(raw_label), md_text(in_sentence(raw_label))
        one, many = (md_text(w) for w in unit_words(analysis.options.get("unit")))
        time = analysis.options.get("time")
        declared = bool(analysis.options.get("selected_on_baseline"))
        chose = (f"The spec records that the scheme chose its {many} for high values of "
                 f"this kind, the classic set-up for regression to the mean." if declared
                 else f"The spec does not say that the scheme chose its {many} for high "
                      "values.")
        if "rtm_rise_into_baseline" not in d:
            out.append(f"**{label}.** {chose} The data hold no {many} outside the scheme, "
                       "so regression to the mean could not be checked; the before/after "
                       f"change of {format_effect(naive)} may include it.")
            continue
        ratio = naive["scale"] == "ratio"
        cost = naive.get("domain") == "cost"
        r = float(d["rtm_rise_into_baseline"])
        up = r >= 1 if ratio else r >= 0
        rise = (f"{abs(r - 1) * 100:.1f}%" if ratio else _amount(abs(r), cost, sign=False))
        rise = f"{rise} {'more' if up else 'less'}"
        expected = (_pct_change(d["rtm_expected_change"]) if ratio
                    else _amount(d["rtm_expected_change"], cost))
        z = format_number(float(d.get("rtm_selection_z", float("nan"))), ".1f")
        peak = ("a clear peak: selected at a high point" if d.get("rtm_detected")
                else "not a clear peak")
        ref = md_text(window_words(d.get("rtm_reference_window"), time))
        base = md_text(window_words(d.get("baseline_window"), time))
        text = (f"**{label}.** {chose} In the data, the scheme's {many} rose {rise} than "
                f"all {many} from {ref} into the baseline ({base}; {z} standard errors, "
                f"{peak}). Regression to the mean alone would change {in_text} by "
                f"{expected}. The unadjusted before/after change is {format_effect(naive)}")
        if "before_after_rtm_adjusted" in eff.index:
            text += (f"; allowing for regression to the mean it is "
                     f"{format_effect(eff.loc['before_after_rtm_adjusted'])}")
        out.append(text + ".")
    return out


def confounding(evaluation) -> list[str]:
    """What each design the scheme used cannot rule out, one sentence per design."""
    spec = evaluation.spec
    out, done = [], set()
    for analysis, res in evaluation.results:
        design = analysis.design
        d = res.effects.iloc[0]["diagnostics"] if len(res.effects) else {}
        d = d if isinstance(d, Mapping) else {}
        one, many = (md_text(w) for w in unit_words(
            analysis.options.get("unit") or ("patient" if people_analysis(evaluation, analysis)
                                             else (spec.engagement or {}).get("unit"))))
        key = (design, many)
        if key in done:
            continue
        done.add(key)
        if design == "prepost":
            fw, time = d.get("followup_window"), analysis.options.get("time")
            text = (f"*Before/after ({many}):* anything else that changed for the scheme's "
                    f"{many} between the baseline "
                    f"({md_text(window_words(d.get('baseline_window'), time))})"
                    f" and the follow-up ({md_text(window_words(fw, time))}), such as other "
                    "services starting, changes in coding or referral rules, or a hard winter"
                    + (", and the COVID-19 pandemic from March 2020"
                       if _covers(fw, "2020-03") else "")
                    + ", is counted as the scheme's effect.")
        elif design == "its":
            start = md_text(", ".join(d.get("interruptions", []))
                            or str(analysis.options.get("start")))
            if d.get("controlled"):
                text = (f"*Interrupted time series:* a change that reached the scheme's "
                        f"{many} but not the comparison {many} in {start} (another local "
                        "initiative in the same practices, a change of provider) would be "
                        "read as the scheme's effect")
                p = d.get("pretrend_p")
                text += ("; and because the two series' trends differed before the start "
                         f"({p_text(p)}), the comparison may carry a difference in trend "
                         "forward." if p is not None and p < 0.05 else ".")
            else:
                text = (f"*Interrupted time series:* any change in {start} other than the "
                        "scheme (in coding, services or policy) would be read as its effect.")
        elif design == "staggered_did":
            text = (f"*Roll-out in waves:* {many} chose when to join; if early joiners were "
                    "already improving, or expected to gain most, the comparison is biased, "
                    "and a change that coincided with a wave's start in the joining "
                    f"{many} cannot be told apart from the scheme.")
        elif design == "did":
            text = (f"*Difference-in-differences ({many}):* {many} in the scheme and the "
                    "others may have been on different paths anyway (for example, enrolled "
                    "after a crisis and recovering), which the design credits to the scheme.")
            if d.get("staggered_adoption"):
                text += (f" The {many} joined at {int(d.get('adoption_cohorts') or 0)} "
                         "different times, and with staggered joining this estimate is biased "
                         "if the effect differs between waves or changes over time (units "
                         "already in the scheme serve as comparisons for later ones); a "
                         "roll-out analysis (staggered_did) is not.")
        elif design == "matched":
            on = [column_words(c) for c in list(analysis.options.get("covariates") or [])
                  + list(analysis.options.get("pre") or [])]
            text = (f"*Matched comparison:* anything not in the matching ({md_join(on)}), "
                    f"such as how frail {many} were, their support at home or why clinicians "
                    "chose them, can still differ between enrolled and matched "
                    f"{many}")
            bad = [column_words(c) for c in d.get("imbalanced_covariates") or []]
            text += (f"; and {md_join(bad)} still differ after matching." if bad else ".")
        elif design == "synthetic_control":
            text = (f"*Synthetic control:* a shock specific to {md_text(d.get('treated_unit'))} "
                    f"after {md_text(d.get('start') or analysis.options.get('start'))} "
                    "(a hospital policy, "
                    "a local service change) would be read as the scheme's effect, and donor "
                    f"{many} with similar schemes of their own would bias the comparison.")
        elif design == "economic":
            text = ("*Economic evaluation:* unit costs and salaries are illustrative, and the "
                    "costs inherit the limits of the comparison they come from (above).")
        else:
            continue
        out.append(text)
    prof = evaluation.engagement
    if prof is not None and prof.dose_response is not None:
        out.append("*Engagement and outcomes:* practices that referred more differ in size, "
                   "staffing and population, so the dose-response is an association, not an "
                   "effect of engagement.")
    return out


def limitations_markdown(evaluation) -> str:
    """The limitations section: regression to the mean, confounding, and the data."""
    spec = evaluation.spec
    parts = ["### Regression to the mean", ""]
    rtm = regression_to_mean(evaluation)
    parts += ([f"- {t}" for t in rtm] if rtm else
              ["_No before/after analysis, so regression to the mean is addressed by the "
               "comparison designs alone._"])
    parts += ["", "### Confounding: what the designs cannot rule out", ""]
    parts += [f"- {t}" for t in confounding(evaluation) + selection_and_matching(evaluation)]
    parts += ["", "### The data", ""]
    data = []
    if spec.synthetic:
        data.append("The data are synthetic, generated by evalkit with known effects: the "
                    "report shows the methods at work and makes no claim about any real "
                    "scheme.")
    data.append("Routine activity data record what was coded, not everything that "
                "happened; changes in coding practice over time would move the outcomes "
                "without any change in care.")
    parts += [" ".join(data), ""]
    return "\n".join(parts)


def selection_and_matching(evaluation) -> list[str]:
    """Units chosen at a peak (a comparative design's selection check fired) and, for
    matched comparisons, what matching cannot remove with the E-value; one line each."""
    from evalkit.evidence.certainty import design_name

    spec, out, seen = evaluation.spec, [], set()
    for analysis, res in evaluation.results:
        for _, r in res.effects.iterrows():
            d = r["diagnostics"] if isinstance(r["diagnostics"], Mapping) else {}
            label = md_text(spec.outcome_label(r["outcome"]))
            key = (analysis.design, r["outcome"])
            reason = str(d.get("selection_reason", ""))
            if d.get("selection_at_peak") and ("peak", analysis.design, reason) not in seen:
                seen.add(("peak", analysis.design, reason))
                out.append(f"**Selection at a peak ({design_name(analysis.design)}, {label}).**"
                           f" {md_text(reason[:1].upper() + reason[1:])}. The certainty of "
                           "what it estimates is rated down for it.")
            e, e_ci = d.get("e_value"), d.get("e_value_ci")
            if e is not None and e_ci is not None and ("e", *key) not in seen \
                    and e == e and e_ci == e_ci:
                seen.add(("e", *key))
                ci = ("its confidence interval already includes no effect" if e_ci <= 1
                      else f"{e_ci:.2f} would move its confidence interval to include it")
                out.append(f"**{label}: what matching cannot remove.** Matching balances what "
                           "was measured, not what was not (why clinicians chose the "
                           "patients, the underlying risk behind a costly year). E-value "
                           f"{e:.2f}: an unmeasured confounder associated with both enrolment "
                           "and the outcome by a risk ratio of that size, beyond the matched "
                           f"variables, could explain the estimate away; {ci} (VanderWeele "
                           "and Ding, 2017).")
    return out
