"""Staggered DiD and event studies in the report: the event-study figure and its sentences."""

from __future__ import annotations

from evalkit.data.periods import parse_periods
from evalkit.evidence.narrative import (
    p_text,
)
from evalkit.report.markdown_text import md_text


class EventStudySection:
    """The staggered DiD and event-study part of
    :class:`~evalkit.report.context.ReportContext` (a mixin: it reads the context's
    ``evaluation``, ``spec``, ``counts`` and helpers)."""

    def _event_analysis(self):
        for analysis, res in self.evaluation.results:
            if analysis.design in ("staggered_did", "event_study"):
                return analysis, res
        return None, None

    def _draw_event(self):
        from evalkit.plots import event_study_plot

        analysis, res = self._event_analysis()
        if analysis is None:
            return None
        monthly = (analysis.design == "staggered_did"
                   and parse_periods(res.frames["att_gt"]["time"])[1].kind == "month")
        return event_study_plot(res, label=self.label(analysis.outcome),
                                window=(-24, 24) if monthly else None)

    def event_figure(self):
        """The event-study figure of the first staggered-DiD or event-study analysis
        (two years either side of adoption for monthly data), or None."""
        return self._output(self._draw_event())

    def event_markdown(self) -> str:
        """A sentence pointing to the event-study figure, or nothing without one."""
        analysis, res = self._event_analysis()
        if analysis is None:
            return ""
        p = res.diagnostics.get("pretrend_p")
        test = (f" Before adoption the estimates should be near zero; the joint test of the "
                f"pre-adoption estimates gives {p_text(p)}." if p is not None and p == p
                else "")
        honest = res.diagnostics.get("honest_sentence")
        if honest:
            mbar = res.diagnostics.get("honest_breakdown_mbar")
            span = res.diagnostics.get("honest_event_times") or [None, None]
            horizon = (f" for the average effect over the first {span[1] + 1} periods from "
                       "adoption"
                       if span[1] is not None else "")
            test += (f" Sensitivity to parallel trends (Rambachan and Roth){horizon}: "
                     f"{md_text(honest[:1].lower() + honest[1:])}")
            if mbar is not None and mbar == mbar and mbar < 1:
                test += (" A breakdown value below 1 means that a violation smaller than those "
                         "already seen before adoption could overturn the conclusion, so the "
                         "comparison does not reach Maryland level 4.")
        return (f"@fig-event shows how the effect on "
                f"{md_text(self.label(analysis.outcome).lower())} developed with time since "
                "each unit adopted the scheme." + test + "\n")

    def _event_outcome(self) -> str:
        analysis, _ = self._event_analysis()
        return "" if analysis is None else self.label(analysis.outcome)
