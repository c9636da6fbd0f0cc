"""The interrupted time series in the report: its figure and the sentence that points to it."""

from __future__ import annotations

from evalkit.report.markdown_text import md_text


class ITSSection:
    """The interrupted time series part of
    :class:`~evalkit.report.context.ReportContext` (a mixin: it reads the context's
    ``evaluation``, ``spec``, ``counts`` and helpers)."""

    def _draw_its(self):
        from evalkit.plots import its_plot

        for analysis, res in self.evaluation.results:
            if analysis.design == "its" and "series" in res.frames:
                return its_plot(res, label=self.label(analysis.outcome))
        return None

    def its_figure(self):
        """The ITS figure of the first outcome analysed by ITS, or None."""
        return self._output(self._draw_its())

    def its_outcome(self) -> str:
        """Display name of the outcome in :meth:`its_figure`."""
        for analysis, res in self.evaluation.results:
            if analysis.design == "its" and "series" in res.frames:
                return self.label(analysis.outcome)
        return ""

    def its_markdown(self) -> str:
        """A sentence pointing to the ITS figure, or nothing without one."""
        outcome = self.its_outcome()
        if not outcome:
            return ""
        return (f"@fig-its shows the monthly series of "
                f"{md_text(outcome[:1].lower() + outcome[1:])} behind the interrupted time "
                "series estimates.\n")
