"""Matched cohorts in the report: the balance (love) plot and the matching sentences."""

from __future__ import annotations

from evalkit.evaluation.pipeline import people_analysis
from evalkit.evidence.narrative import (
    MINUS,
    format_effect,
    format_number,
)
from evalkit.report.design import covariate_names
from evalkit.report.markdown_text import md_join, md_text


class MatchedSection:
    """The matched cohort part of :class:`~evalkit.report.context.ReportContext` (a mixin: it
    reads the context's ``evaluation``, ``spec``, ``counts`` and helpers)."""

    def _draw_love(self):
        from evalkit.plots import love_plot

        analysis, res = self._first("matched")
        if analysis is None or "love" not in res.frames:
            return None
        return love_plot(res)

    def love_figure(self):
        """Balance before and after matching (the first matched analysis), or None."""
        return self._output(self._draw_love())

    def matched_markdown(self) -> str:
        """Balance, the matched DiD, and regression to the mean in the scheme's numbers."""
        analysis, res = self._first("matched")
        if analysis is None:
            return ""
        d = res.diagnostics
        label = self.label(analysis.outcome)
        text = [f"@fig-love shows how alike enrolled and comparison units were before and after "
                f"matching: the largest standardised mean difference after matching is "
                f"{d['max_abs_smd_after']:.2f}"
                + (" (all within 0.1)." if d.get("balance_ok") else
                   f" (above 0.1 for {md_join(covariate_names(d))}: "
                   "balance was not achieved, so the evidence level is held at 3).")]
        if d.get("n_unmatched_treated"):
            show = self._show(people_analysis(self.evaluation, analysis))
            text.append(f"{md_text(show(d['n_unmatched_treated'], 'enrolled units unmatched'))}"
                        f" of {md_text(show(d['n_treated'], 'enrolled units'))} enrolled "
                        "units had no comparison unit close enough and were left out, so the "
                        "estimate describes the matched enrolled units.")
        m = d.get("group_means")
        did = res.effects[res.effects["estimand"] == "att_did"]
        if m and len(did):
            raw, comp = m["treated_change"], m["comparison_change"]
            # the changes in the precision of the means they are the difference of
            big = max(abs(m["treated_pre"]), abs(m["treated_post"])) >= 100

            def change(v: float) -> str:
                return format_number(v, "+,.0f") if big else _num(v, sign=True)

            text.append(
                f"\n\n**Regression to the mean.** Enrolled units were chosen when their use "
                f"was high. {md_text(label)} among the matched enrolled units went from "
                f"{_num(m['treated_pre'])} before enrolment to {_num(m['treated_post'])} "
                f"after, a change of {change(raw)}: that is what an uncontrolled "
                f"before/after comparison would report as the scheme's effect. The matched "
                f"comparison units, who had the same history but were not enrolled, changed "
                f"by {change(comp)} over the same time, because high use tends to "
                f"fall back towards the average by itself. The difference between the two "
                f"changes is the matched difference-in-differences estimate of the effect: "
                f"{format_effect(did.iloc[0])}.")
        return " ".join(text) + "\n"


def _num(v: float, *, sign: bool = False) -> str:
    """A number for prose: thousands separated, sensible decimals, optional sign."""
    a = abs(v)
    text = f"{a:,.0f}" if a >= 100 else f"{a:.2f}" if a >= 1 else f"{a:.3f}"
    if sign:
        return ("+" if v > 0 else MINUS if v < 0 else "") + text
    return (MINUS if v < 0 else "") + text
