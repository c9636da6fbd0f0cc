"""The evidence summary's content for one scheme: :class:`ReportContext`, a thin façade.

The ``.qmd`` files stay thin: each chunk calls one method of the context and prints the
Markdown it returns. The context holds what every section shares (the evaluation, the
spec, disclosure control of counts, the one-page summary, the figure dispatcher) and takes
each part of the summary from its own module, in the report's order:

- the one-page summary (:mod:`evalkit.report.summary`);
- the scheme and data (:mod:`evalkit.report.scheme`), the design choices and why each
  comparison group (:mod:`evalkit.report.design`);
- engagement (:mod:`evalkit.report.engagement`), outcomes (:mod:`evalkit.report.outcomes`);
- one module per design family: :mod:`~evalkit.report.its`,
  :mod:`~evalkit.report.event_study`, :mod:`~evalkit.report.synth`,
  :mod:`~evalkit.report.matched`, and costs (:mod:`evalkit.report.costs`);
- robustness (:mod:`evalkit.report.robustness`), limitations
  (:mod:`evalkit.report.limitations`), the SQUIRE 2.0 / TREND checklist
  (:mod:`evalkit.report.checklist`), disclosure control (:mod:`evalkit.evidence.published`)
  and provenance (:mod:`evalkit.report.provenance`).

Figures are printed as Markdown with the plot's computed alt text (:meth:`ReportContext.figure`,
:mod:`evalkit.report.figures`). Rendering many reports at once is :mod:`evalkit.report.batch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.evaluation.pipeline import Evaluation, run_spec
from evalkit.evaluation.spec import SCHEME_NAME
from evalkit.evidence.disclosure import DisclosureRules
from evalkit.evidence.published import ReportCounts
from evalkit.report.batch import project_root
from evalkit.report.checklist import checklist, checklist_facts
from evalkit.report.costs import CostsSection
from evalkit.report.design import (
    DesignSection,
)
from evalkit.report.engagement import EngagementSection
from evalkit.report.event_study import EventStudySection
from evalkit.report.figures import FIGURE_CAPTIONS, FIGURE_WIDTHS, FigureOutput, figure_markdown
from evalkit.report.glossary import glossary_markdown
from evalkit.report.its import ITSSection
from evalkit.report.limitations import limitations_markdown
from evalkit.report.markdown_text import Markdown, md_text
from evalkit.report.matched import MatchedSection
from evalkit.report.outcomes import OutcomesSection
from evalkit.report.provenance import provenance_markdown
from evalkit.report.robustness import robustness_checks, robustness_markdown_table
from evalkit.report.scheme import SchemeSection
from evalkit.report.summary import (
    EvidenceSummary,
    evidence_summary,
    md_table,
    scheme_characteristics,
)
from evalkit.report.synth import SynthSection

__all__ = ["ReportContext", "load_report"]


#: Counts of events or person-periods, controlled whatever the unit of analysis.
_EVENT_COUNTS = {"events": "events in the before/after windows (admissions, bed days)",
                 "observations": "patient-years observed"}


@dataclass
class ReportContext(SchemeSection, DesignSection, EngagementSection, OutcomesSection,
                    ITSSection, EventStudySection, SynthSection, MatchedSection, CostsSection):
    """Everything a report about one scheme needs.

    Attributes
    ----------
    evaluation
        The scheme's evaluation.
    parameters
        The report's parameters (recorded in the provenance appendix).
    rules
        The disclosure-control rules applied to every count of people or events shown
        (default: NHS HES small numbers, 1 to 7 shown as ``*``).
    """

    evaluation: Evaluation
    parameters: dict
    rules: DisclosureRules = field(default_factory=DisclosureRules)

    @property
    def spec(self):
        """The scheme's spec."""
        return self.evaluation.spec

    def label(self, outcome: str) -> str:
        """Display name of an outcome."""
        return self.spec.outcome_label(outcome)

    # -- shared content -------------------------------------------------------------------
    @cached_property
    def counts(self) -> ReportCounts:
        """Disclosure control of the counts this report shows, with its log."""
        return ReportCounts(self.rules)

    @cached_property
    def characteristics(self) -> dict | None:
        """The scheme's row of ``schemes.csv`` beside the scheme folders, if any."""
        return scheme_characteristics(self.spec)

    @cached_property
    def findings_summary(self) -> EvidenceSummary:
        """The one-page summary: the scheme in three sentences and the findings table."""
        return evidence_summary(self.evaluation, characteristics=self.characteristics or {})

    def _show(self, people: bool):
        """How a count is shown: through disclosure control when it counts people (the
        units of a patient-level analysis) or events, as they are when it counts
        organisations."""
        def show(value, what: str) -> str:
            if what in _EVENT_COUNTS:
                return self.counts.count(value, _EVENT_COUNTS[what])
            if people:
                return self.counts.count(value, what.replace("units", "patients"))
            return f"{int(value):,}"
        return show

    # -- figures ----------------------------------------------------------------------------
    _DRAW = {"fig-spc-outcome": "_draw_spc_outcome", "fig-effects": "_draw_effects",
             "fig-its": "_draw_its", "fig-event": "_draw_event", "fig-synth": "_draw_synth",
             "fig-synth-gaps": "_draw_synth_gaps", "fig-love": "_draw_love",
             "fig-ce-plane": "_draw_ce_plane", "fig-ceac": "_draw_ceac",
             "fig-tornado": "_draw_tornado", "fig-spc-referrals": "_draw_spc_referrals",
             "fig-funnel": "_draw_funnel", "fig-likert": "_draw_likert",
             "fig-maturity": "_draw_maturity", "fig-dose": "_draw_dose"}

    def figure(self, label: str) -> str:
        """A report figure as Markdown, with its caption, cross-reference label and the
        plot's own alt text stating the finding; ``""`` when the scheme has no such figure.

        Print it from an ``output: asis`` chunk. See :mod:`evalkit.report.figures`.

        Parameters
        ----------
        label
            One of :data:`FIGURE_CAPTIONS`, e.g. ``"fig-its"``.
        """
        if label not in self._DRAW:
            raise EvalkitError(f"the report has no figure {label!r}",
                               fix=f"use one of {', '.join(self._DRAW)}")
        import matplotlib

        from evalkit.plots.palette import PLAIN_TEXT

        with matplotlib.rc_context(PLAIN_TEXT):  # labels from the spec are text, not math
            drawn = getattr(self, self._DRAW[label])()
        outcome = {"fig-its": self.its_outcome,
                   "fig-event": self._event_outcome,
                   "fig-dose": self._dose_outcome}.get(label, lambda: "")()
        outcome = (outcome[:1].lower() + outcome[1:] if outcome[1:2].islower() else outcome)
        caption = Markdown(FIGURE_CAPTIONS[label].format(outcome=md_text(outcome)))
        return figure_markdown(drawn, label=label, caption=caption,
                               width=FIGURE_WIDTHS.get(label))

    def summary_markdown(self) -> str:
        """The one-page summary: the scheme in three sentences and the findings table by
        Quadruple Aim domain (:mod:`evalkit.report.summary`)."""
        return self.findings_summary.markdown()

    def robustness_markdown(self) -> str:
        """The robustness checks the designs ran, as a table."""
        table = robustness_checks(self.evaluation, self.findings_summary.certainty)
        if table.empty:
            return "_The designs ran no robustness checks._\n"
        return ("@tbl-robustness lists the checks each design ran on its own assumptions, "
                "and whether different designs agree on the same outcome.\n\n"
                + robustness_markdown_table(table))

    def limitations_markdown(self) -> str:
        """Limitations: regression to the mean and confounding in the scheme's terms."""
        return limitations_markdown(self.evaluation)

    def glossary_markdown(self) -> str:
        """The glossary appendix: every term evalkit's reports may use, of which the render
        keeps those this report uses (:mod:`evalkit.report.glossary`)."""
        return glossary_markdown()

    def checklist_markdown(self) -> str:
        """The SQUIRE 2.0 (and TREND) checklist mapped to this report's sections."""
        result = checklist(checklist_facts(self.evaluation,
                                           characteristics=bool(self.characteristics)))
        return result.markdown()

    def disclosure_markdown(self) -> str:
        """Which disclosure rule applied to the counts shown, and what it suppressed.

        Call it after every section that shows counts (it reports the log so far).
        """
        log = self.counts.plot_data()["log"]
        lines = [md_text(self.counts.statement()), ""]
        if len(log):
            tab = pd.DataFrame({"Counts of": log["what"], "Shown": log["shown"].astype(str),
                                "Suppressed": log["suppressed"].astype(str)})
            lines += [md_table(tab), "",
                      ": Counts of people and events in this report, by what they count, "
                      "and how many were suppressed {#tbl-disclosure}", ""]
        return "\n".join(lines)

    @staticmethod
    def _output(drawn) -> FigureOutput | None:
        return None if drawn is None else FigureOutput(drawn[0])

    # -- comparison designs: synthetic control and matched cohorts ---------------------
    def _first(self, design: str):
        for analysis, res in self.evaluation.results:
            if analysis.design == design:
                return analysis, res
        return None, None

    def provenance_markdown(self) -> str:
        """The provenance appendix: inputs, git state and dirty flag, parameters, the render
        engine and its version, the time of rendering and package versions."""
        return provenance_markdown([self.spec.path] + [f for s in self.spec.data.values()
                                                       for f in s.files()],
                                   {**self.parameters, "disclosure": self.rules.name},
                                   folder=self.spec.folder)


def load_report(scheme: str, *, spec: str | Path | None = None, **parameters) -> ReportContext:
    """Prepare a report's content for one scheme.

    Parameters
    ----------
    scheme
        The scheme's name.
    spec
        The spec file; by default ``data/synthetic/<scheme>/spec.yaml`` in the project.
    **parameters
        Other report parameters, recorded in the provenance appendix.
    """
    if not SCHEME_NAME.match(str(scheme)):
        raise EvalkitError(f"'{scheme}' is not a valid scheme name",
                           fix="use lower-case letters, digits and hyphens")
    path = Path(spec) if spec else project_root() / "data" / "synthetic" / scheme / "spec.yaml"
    evaluation = run_spec(path)
    if evaluation.spec.scheme != scheme:
        raise EvalkitError(f"the spec is for scheme '{evaluation.spec.scheme}', not '{scheme}'",
                           file=str(path), fix="pass the matching spec")
    return ReportContext(evaluation, {"scheme": scheme, "spec": str(path), **parameters})
