"""The evaluation plan's sections as Markdown, for ``reports/evaluation-plan.qmd``.

:func:`load_plan` computes the plan (:func:`evalkit.planning.plan.plan`) and returns a
:class:`PlanReport` whose methods the report prints, one a section. Every text from the
spec or the data is escaped (:func:`evalkit.report.markdown_text.md_text`); every number goes
through :mod:`evalkit.evidence.narrative`'s formatters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from evalkit.evidence.narrative import format_gbp, format_sig
from evalkit.naming import column_words
from evalkit.planning.advise import ADDRESSES, LEAVES, RAISE
from evalkit.planning.plan import EvaluationPlan, PlannedPower, plan
from evalkit.report.markdown_text import md_text
from evalkit.report.summary import QUADRUPLE_AIM, pipe_table, quadruple_aim_domain

__all__ = ["PlanReport", "load_plan", "THREAT_CHECKS"]

_DESIGN_WORDS = {
    "its": "interrupted time series", "did": "difference-in-differences",
    "staggered_did": "staggered difference-in-differences",
    "synthetic_control": "synthetic control", "matched": "matched cohort",
    "economic": "economic evaluation", "prepost": "before-and-after comparison",
    "dose_response": "dose-response analysis",
}
#: For each design: (threat to validity, how the evaluation will check it).
THREAT_CHECKS = {
    "its": [("A trend or season that was already under way",
             "the model fits the pre-period trend and seasonal terms; residual "
             "autocorrelation is tested (Breusch-Godfrey) and modelled (AR(1))"),
            ("Another change at the same time",
             "the comparison series removes shocks shared with units outside the scheme")],
    "did": [("Trends that differ between the groups",
             "pre-period trends are compared (event study) and the bounds of Rambachan and "
             "Roth say how large a departure would overturn the finding"),
            ("Selection at a peak (regression to the mean)",
             "checked on the data before the start; if found, the months just before the "
             "start are left out of the pre-period")],
    "staggered_did": [("Trends that differ between early, late and never-treated units",
                       "pre-period estimates by wave (event study) and the Rambachan-Roth "
                       "bounds"),
                      ("Anticipation before a unit's start",
                       "estimates for the months just before each start")],
    "synthetic_control": [("A poor match before the start",
                           "the pre-period fit (root mean squared error) is reported and "
                           "areas fitted poorly are left out of the placebo test"),
                          ("Chance", "placebo-in-space: every donor refitted as if treated; "
                           "the p-value is the scheme's rank among them")],
    "matched": [("Differences between the groups that matching missed",
                 "balance after matching (standardised mean differences below 0.1) and the "
                 "E-value for unmeasured confounding"),
                ("Regression to the mean after enrolment",
                 "comparators matched on the same pre-period measures")],
    "economic": [("Uncertain costs and effects",
                  "bootstrap confidence intervals, the cost-effectiveness acceptability "
                  "curve and one-way sensitivity analyses (tornado)")],
    "prepost": [("Every other change at the same time",
                 "reported as descriptive only (Maryland level 1 or 2); never the headline "
                 "where a design with a comparison exists")],
}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower(label: str) -> str:
    """A label inside a sentence: its first letter in lower case unless it starts an
    abbreviation ("A&E attendances" stays)."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _pct(v: float) -> str:
    return f"{format_sig(v, 2)}%"


@dataclass
class PlanReport:
    """An evaluation plan's sections, for the report."""

    plan: EvaluationPlan

    @property
    def spec(self):
        """The evaluation spec."""
        return self.plan.spec

    def label(self, outcome: str) -> str:
        """The outcome's display name (text)."""
        return self.spec.outcome_label(outcome)

    def _design(self, design: str) -> str:
        return _DESIGN_WORDS.get(design, design.replace("_", " "))

    # -- page 1 -----------------------------------------------------------------------------
    def notice_markdown(self) -> str:
        """The synthetic-data notice (callout and page header) when the data are synthetic."""
        from evalkit.report.scheme import synthetic_notice_markdown

        return synthetic_notice_markdown() if self.spec.synthetic else ""

    def title_markdown(self) -> str:
        """The title block: the scheme's title, then "evaluation plan"."""
        from evalkit.report.title import title_block

        return title_block(f"{self.spec.title}: evaluation plan")

    def _mde_words(self, p: PlannedPower) -> str:
        """The MDE of one analysis at the planned follow-up, in words (Markdown)."""
        row = self.plan.to_frame().set_index("analysis").loc[p.index + 1]
        if p.result is None:
            return "not computed"
        when = (f" after {int(row['followup'])} months" if pd.notna(row["followup"])
                else "")
        if self.spec.outcomes.get(p.outcome, {}).get("domain") == "cost":
            return f"{format_gbp(row['mde'])} ({_pct(row['percent'])}){when}"
        return f"{_pct(row['percent'])}{when}"

    def glance_markdown(self) -> str:
        """Page 1: the plan at a glance and the sign-off table."""
        p, adv = self.plan.primary, self.plan.advice
        design = (md_text(adv.primary.label) if adv is not None and adv.primary is not None
                  else "none yet: see the data section")
        target = _pct(self.plan.target)
        rows = [("Scheme", md_text(self.spec.title)),
                ("Question", "Did the scheme change " + _and(
                    [md_text(_lower(self.label(o))) for o in self._outcomes()[:3]])
                 + ", compared with what would otherwise have happened?"),
                ("Recommended primary design", design)]
        if p is not None:
            need = p.months_needed(self.plan.target)
            rows += [("Primary outcome", md_text(self.label(p.outcome))),
                     ("Smallest detectable change (80% power, two-sided 5%)",
                      md_text(self._mde_words(p))),
                     (f"Follow-up to detect a {target} change",
                      f"{need} months" if need else f"not reached within 36 months: "
                      f"{target} is smaller than this design can detect")]
        blocks = len({(a.design, a.data, a.label) for a in self.spec.analyses})
        rows.append(("Analyses pre-specified", f"{blocks} (see the analysis section and the "
                     "spec in the appendix)"))
        table = pd.DataFrame(rows, columns=["Item", "Plan"])
        sign = pd.DataFrame([("Prepared by (evaluator)", "", ""),
                             ("Approved by (commissioner)", "", ""),
                             ("Plan version", "1.0", "")],
                            columns=["Role", "Name and signature", "Date"])
        return "\n".join([
            md_text(f"This plan sets out, before the results are known, how the "
                    f"{self.spec.title} scheme will be evaluated: the questions, the data, the "
                    "designs and outcomes, what the evaluation can detect, and how each threat "
                    "to validity will be checked. Deviations from it will be reported."), "",
            pipe_table(table, {"Item": 30, "Plan": 70}, markdown=["Plan"]), "",
            ": The plan at a glance {#tbl-glance}", "",
            pipe_table(sign, {"Role": 30, "Name and signature": 45, "Date": 25}), "",
            ": Sign-off {#tbl-signoff}", ""])

    # -- the scheme -------------------------------------------------------------------------
    def _outcomes(self) -> list[str]:
        seen: list[str] = []
        for a in self.spec.analyses:
            if a.outcome not in seen:
                seen.append(a.outcome)
        return seen

    def scheme_markdown(self) -> str:
        """The scheme in the spec's words, and its logic model."""
        s = self.spec
        data = sorted({d.kind for d in s.data.values()})
        activity = ", ".join(column_words(k) for k in s.engagement
                             if k not in ("unit", "time", "start", "panel")) or "not recorded"
        by_domain: dict[str, list[str]] = {}
        for o in self._outcomes():
            dom = quadruple_aim_domain(o, s.outcomes.get(o, {}))
            if self.label(o) not in by_domain.setdefault(dom, []):
                by_domain[dom].append(self.label(o))
        outcomes = "; ".join(f"{d}: {', '.join(v)}" for d, v in by_domain.items())
        model = pd.DataFrame([
            ("Inputs", "the scheme's staff and costs; data: " + ", ".join(
                column_words(k) for k in data)),
            ("Activities", s.description.split(". ")[0].rstrip(".") + "."),
            ("Outputs (engagement)", "measured through " + activity),
            ("Outcomes", outcomes or "none declared"),
            ("Impact", "the Quadruple Aim: better experience and health, lower cost per "
                       "person, a sustainable workforce")], columns=["Stage", "What"])
        return "\n".join([md_text(s.description), "",
                          pipe_table(model, {"Stage": 22, "What": 78}), "",
                          ": Logic model, from the spec {#tbl-logic}", ""])

    def questions_markdown(self) -> str:
        """The research questions by Quadruple Aim domain."""
        from evalkit.report.summary import _NOT_MEASURED

        rows = []
        for dom in QUADRUPLE_AIM:
            mine = [o for o in self._outcomes()
                    if quadruple_aim_domain(o, self.spec.outcomes.get(o, {})) == dom]
            q = (" ".join(f"Did the scheme change {name}?" for name in
                          dict.fromkeys(_lower(self.label(o)) for o in mine))
                 if mine else _NOT_MEASURED[dom])
            rows.append((dom, q))
        if self.spec.engagement:
            rows.append(("Engagement", "How many units took part, and how fully (referrals, "
                                       "meetings, care plans)?"))
        return "\n".join([pipe_table(pd.DataFrame(rows, columns=["Domain", "Question"]),
                                     {"Domain": 25, "Question": 75}), "",
                          ": Research questions by Quadruple Aim domain {#tbl-questions}", ""])

    # -- data, designs and outcomes -----------------------------------------------------------
    def data_markdown(self) -> str:
        """The data sources and their gaps (the advisor's facts)."""
        rows = []
        for name, d in self.spec.data.items():
            rows.append((name, d.kind.replace("_", " "), d.path.name))
        out = [pipe_table(pd.DataFrame(rows, columns=["Data", "Kind", "File"]),
                          {"Data": 30, "Kind": 30, "File": 40}), "",
               ": The data the evaluation uses {#tbl-data}", "", "**Gaps in the data.**", ""]
        adv = self.plan.advice
        if adv is None:
            out.append(md_text(f"The design advisor could not read the data: "
                               f"{self.plan.advice_error}"))
            return "\n".join(out) + "\n"
        gaps = [f"- {md_text(o.label)}: not possible, because {md_text('; '.join(o.facts))}."
                for o in adv.options if not o.possible]
        if adv.primary is not None:
            gaps.append(f"- To raise the strength of evidence: {md_text(RAISE[adv.primary.key])}.")
        return "\n".join(out + (gaps or ["- None found by the design advisor."])) + "\n"

    def designs_markdown(self) -> str:
        """The recommended and secondary designs with their reasons."""
        adv = self.plan.advice
        if adv is None:
            return md_text("No recommendation: " + self.plan.advice_error) + "\n"
        out = []
        for o in [adv.primary, *adv.secondary]:
            if o is None:
                continue
            role = "Recommended primary design" if o.role == "primary" else "Secondary design"
            out += [f"**{role}: {md_text(o.label)}** (Maryland level up to {o.level}).", ""]
            out += [f"- Why: {md_text('; '.join(o.facts))}."]
            if ADDRESSES[o.key]:
                out.append(f"- Addresses: {md_text('; '.join(ADDRESSES[o.key]))}.")
            out.append(f"- Leaves: {md_text('; '.join(LEAVES[o.key] + o.threats_checked))}.")
            out.append("")
        ran = {a.design for a in self.spec.analyses}
        if adv.primary is not None and adv.primary.design not in ran:
            out.append(md_text(f"The spec does not yet run the recommended design "
                               f"({adv.primary.label}); add it before the plan is signed."))
        return "\n".join(out) + "\n"

    def outcomes_markdown(self) -> str:
        """Primary and secondary outcomes."""
        p = self.plan.primary
        rows = []
        for o in self._outcomes():
            e = self.spec.outcomes.get(o, {})
            role = "Primary" if p is not None and o == p.outcome else "Secondary"
            better = {"lower": "a fall", "higher": "a rise"}.get(e.get("better"), "either")
            rows.append((role, self.label(o), quadruple_aim_domain(o, e), better))
        rows.sort(key=lambda r: r[0] != "Primary")
        return "\n".join([pipe_table(pd.DataFrame(rows, columns=[
            "Role", "Outcome", "Quadruple Aim domain", "Improvement is"]),
            {"Role": 14, "Outcome": 44, "Quadruple Aim domain": 26, "Improvement is": 16}), "",
            ": Primary and secondary outcomes {#tbl-outcomes}", ""])

    # -- power --------------------------------------------------------------------------------
    def power_markdown(self) -> str:
        """The MDE table at 12, 24 and 36 months."""
        rows = []
        for p in self.plan.power:
            name = f"{p.index + 1}. {_cap(self._design(p.design))}: {self.label(p.outcome)}"
            if p.result is None:
                rows.append((name, "not computed", "", "", md_text(p.reason)))
                continue
            c = p.result.curve
            cost = self.spec.outcomes.get(p.outcome, {}).get("domain") == "cost"

            def at(m: int, c=c, cost=cost) -> str:
                if "followup" not in c or c["followup"].isna().all():
                    return ""
                r = c[c["followup"] == m]
                if r.empty:
                    return "beyond the data"
                r = r.iloc[0]
                return (f"{format_gbp(r['mde'])} ({_pct(r['percent'])})" if cost
                        else _pct(r["percent"]))

            if "followup" not in c or c["followup"].isna().all():
                r = c.iloc[0]
                one = (f"{format_gbp(r['mde'])} ({_pct(r['percent'])})" if cost
                       else _pct(r["percent"]))
                rows.append((name, one, "", "", md_text(p.result.method)))
            else:
                rows.append((name, at(12), at(24), at(36), md_text(p.result.method)))
        table = pd.DataFrame(rows, columns=["Analysis and outcome", "12 months", "24 months",
                                            "36 months", "How it was found"])
        cautions = [f"- {md_text(_cap(self._design(p.design)))}, "
                    f"{md_text(self.label(p.outcome))}: {md_text(w)}"
                    for p in self.plan.power if p.result is not None
                    for w in p.result.warnings]
        if cautions:
            cautions = ["", "**Cautions from the power calculations.**", "", *cautions, ""]
        return "\n".join([
            md_text("The minimum detectable effect (MDE) is the smallest true change the "
                    "analysis would detect 8 times in 10 (80% power) with a two-sided test at "
                    "5%, found from these data before the start (docs/power.md). Changes are "
                    "percentages of the baseline; costs also in pounds. An analysis with no "
                    "follow-up curve (matched cohorts, costs) has one MDE for the follow-up in "
                    "its data."), "",
            pipe_table(table, {"Analysis and outcome": 28, "12 months": 12, "24 months": 12,
                               "36 months": 12, "How it was found": 36},
                       markdown=["How it was found"]), "",
            ": Minimum detectable effect by follow-up length {#tbl-mde}", "", *cautions])

    def _draw_mde(self):
        from evalkit.plots.power import mde_curve_plot

        curves = {}
        for p in self.plan.power:
            if p.result is not None and "followup" in p.result.curve and len(p.result.curve) > 1:
                curves[f"{_cap(self._design(p.design))}: {self.label(p.outcome)}"] = \
                    p.result.curve
        return mde_curve_plot(curves, target=self.plan.target, planned=self.plan.followup)

    def figure(self, label: str = "fig-mde") -> str:
        """The MDE curves as a figure with alt text ("" when there is no curve)."""
        import matplotlib

        from evalkit.plots.palette import PLAIN_TEXT
        from evalkit.report.figures import figure_markdown

        with matplotlib.rc_context(PLAIN_TEXT):
            drawn = self._draw_mde()
        return figure_markdown(drawn, label=label, caption=md_text(
            "The smallest change each analysis could detect, by months of follow-up"))

    def timeline_markdown(self) -> str:
        """When the follow-up will be long enough to detect the target effect."""
        target = _pct(self.plan.target)
        out = []
        for p in self.plan.power:
            if p.result is None or "followup" not in p.result.curve or \
                    p.result.curve["followup"].isna().all():
                continue
            need = p.months_needed(self.plan.target)
            name = f"{_cap(self._design(p.design))}, {self.label(p.outcome)}"
            start = p.analysis.options.get("start")
            if need:
                when = ""
                try:
                    when = f" (from {pd.Period(str(start), 'M') + need})" if start else ""
                except ValueError:
                    when = ""
                out.append(f"- {md_text(name)}: a {target} change becomes detectable after "
                           f"{need} months of follow-up{md_text(when)}.")
            else:
                last = p.result.curve.dropna(subset=["percent"]).iloc[-1]
                out.append(f"- {md_text(name)}: a {target} change is not detectable within "
                           f"{int(last['followup'])} months; the smallest detectable change "
                           f"then is {_pct(last['percent'])}. More units, or a larger "
                           "target, are needed.")
        if not out:
            return md_text("No analysis has a follow-up curve.") + "\n"
        return "\n".join([md_text(f"The target effect is a {target} change in the outcome. "
                                  "The report of results is due when the primary analysis "
                                  "can detect it."), "", *out]) + "\n"

    # -- analysis and threats -----------------------------------------------------------------
    def analysis_markdown(self) -> str:
        """The analyses the spec will run, as text."""
        from evalkit.naming import DESIGN_LABELS

        out, seen = [], set()
        for a in self.spec.analyses:
            key = (a.design, a.data, a.label)
            if key in seen:
                continue
            seen.add(key)
            outs = [self.label(x.outcome) for x in self.spec.analyses
                    if (x.design, x.data, x.label) == key]
            name = DESIGN_LABELS.get(a.design, a.design)
            opts = "; ".join(f"{k}: {v}" for k, v in a.options.items()
                             if not isinstance(v, (list, dict)))
            out.append(f"{len(seen)}. **{md_text(name)}** on '{md_text(a.data)}': "
                       f"{md_text(a.label or '')}. Outcomes: {md_text(', '.join(outs))}. "
                       f"Settings: {md_text(opts)}.")
        return "\n".join(out) + "\n"

    def threats_markdown(self) -> str:
        """The threats to validity and how each will be checked."""
        rows = []
        for design in dict.fromkeys(a.design for a in self.spec.analyses):
            for threat, check in THREAT_CHECKS.get(design, []):
                rows.append((_cap(self._design(design)), threat, check))
        return "\n".join([pipe_table(pd.DataFrame(rows, columns=["Design", "Threat",
                                                                 "How it will be checked"]),
                                     {"Design": 20, "Threat": 30,
                                      "How it will be checked": 50}), "",
                          ": Threats to validity and their checks {#tbl-threats}", ""])

    def spec_markdown(self) -> str:
        """The spec file as it is, in a code block (text, never markup)."""
        text = self.spec.path.read_text(encoding="utf-8", errors="replace")
        fence = "`" * max(3, 1 + max((len(r) for r in _backtick_runs(text)), default=0))
        return f"{fence}yaml\n{text.rstrip()}\n{fence}\n"

    def glossary_markdown(self) -> str:
        """The glossary appendix (the render keeps the terms the plan uses)."""
        from evalkit.report.glossary import glossary_markdown

        return glossary_markdown()

    def provenance_markdown(self) -> str:
        """Inputs, git state, parameters, engine and packages."""
        from evalkit.report.provenance import provenance_markdown

        files = [self.spec.path] + [f for s in self.spec.data.values() for f in s.files()]
        return provenance_markdown(files, self.plan.parameters, folder=self.spec.folder)

    @cached_property
    def mde_frame(self) -> pd.DataFrame:
        """The MDE table behind the report (:meth:`EvaluationPlan.to_frame`)."""
        return self.plan.to_frame()


def _backtick_runs(text: str) -> list[str]:
    import re

    return re.findall(r"`+", text)


def load_plan(spec: str, **options) -> PlanReport:
    """Compute the plan for ``spec`` (see :func:`evalkit.planning.plan.plan`) for the
    report."""
    return PlanReport(plan(spec, **options))
