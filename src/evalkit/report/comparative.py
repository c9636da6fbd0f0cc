"""Content of the comparative synthesis report (``reports/comparative-synthesis.qmd``).

:func:`load_comparison` evaluates every scheme
(:func:`evalkit.evaluation.comparative.collect_schemes`)
and returns a :class:`ComparativeContext`, whose methods give the report's tables, figures
and text: the schemes x domains summary matrix, forest plots and a meta-analysis per
common outcome, a meta-regression on measured GP engagement, the certainty table with
plain-English findings, the economic summary, counts under disclosure control, a SQUIRE
2.0 / TREND checklist and the provenance appendix. The ``.qmd`` only calls these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evalkit.economics.wording import classify_result
from evalkit.evaluation.comparative import SchemeSet, collect_schemes
from evalkit.evidence.certainty import rate_certainty
from evalkit.evidence.disclosure import SHARE_RULE, DisclosureRules, suppress
from evalkit.evidence.findings import findings
from evalkit.evidence.narrative import format_gbp, format_number, p_text
from evalkit.evidence.published import ORGANISATION_NOTE
from evalkit.plots.palette import ANALYSIS_FUNCTION, NHS_BLUE, NHS_MID_GREY, NHS_PALE_GREY
from evalkit.report.batch import project_root
from evalkit.report.figures import FigureOutput
from evalkit.report.glossary import glossary_markdown
from evalkit.report.markdown_text import md_quoted, md_text
from evalkit.report.provenance import provenance_markdown
from evalkit.report.scheme import synthetic_notice_markdown
from evalkit.report.summary import ENGAGEMENT, evidence_summary, md_table
from evalkit.report.title import synthesis_title, title_block
from evalkit.synthesis import meta_analysis

__all__ = ["ComparativeContext", "load_comparison", "DOMAINS", "CHECKLIST"]

#: The target effect the "too small to tell" rule judges against: a change of this many
#: percent in an outcome measured as a ratio (the plan's default, evalkit.planning.plan).
TARGET_PERCENT = 5.0
#: The rule, as the report states it.
TOO_SMALL_RULE = (
    "A finding is too small to tell when its 95% CI includes no effect and either the "
    "smallest effect the analysis could have detected (80% power, two-sided 5%, from the "
    "standard error it achieved) is larger than a {target} change, the target a commissioner "
    "would hope for, or the interval also includes that detectable effect, so that it fits "
    "no effect and a worthwhile one alike. Costs, and outcomes measured as differences, have "
    "no target here and are judged by the second part alone.")

#: The summary matrix's columns: the Quadruple Aim's domains with engagement beside them.
DOMAINS = ("Engagement", "Outcomes", "Costs", "Staff experience")

#: SQUIRE 2.0 (Ogrinc et al. 2016) and TREND (Des Jarlais et al. 2004) items, each mapped
#: to where the report (and each scheme's evidence summary) covers it.
CHECKLIST = (
    ("SQUIRE 1-2 / TREND 1", "Title and abstract", "Title; Summary"),
    ("SQUIRE 3-4 / TREND 2", "Problem, rationale and aims",
     "Summary; each evidence summary: The scheme"),
    ("SQUIRE 5 / TREND 3", "Context", "The schemes (nation, organisational form, population)"),
    ("SQUIRE 6 / TREND 4", "Interventions",
     "Each evidence summary: The scheme; scheme costs table"),
    ("SQUIRE 7 / TREND 5-6", "Study of the interventions; objectives and outcomes",
     "Each evidence summary: Design and strength of evidence"),
    ("SQUIRE 8 / TREND 7", "Measures", "Summary matrix; certainty table; data contract (docs)"),
    ("SQUIRE 9 / TREND 8-10", "Analysis and assignment method",
     "Pooled effects; meta-regression; each evidence summary's design section"),
    ("SQUIRE 10 / TREND 11", "Ethical considerations and data protection",
     "Synthetic data notice; disclosure control"),
    ("SQUIRE 11-12 / TREND 13-17", "Results", "Summary matrix; forest plots; economic summary"),
    ("SQUIRE 13 / TREND 18-19", "Interpretation and limitations",
     "Certainty of the evidence; What this means"),
    ("SQUIRE 14-15 / TREND 20-22", "Conclusions, generalisability, funding",
     "What this means; provenance appendix"),
)

#: Each matrix column and the evidence-summary domain its cell is read from.
_MATRIX_DOMAINS = {"Engagement": ENGAGEMENT, "Outcomes": "Population health outcomes",
                   "Costs": "Cost per capita", "Staff experience": "Staff experience"}
_ARROWS = {"improved": "▲ better", "worsened": "▼ worse", "no clear change": "● no clear change",
           "descriptive": "■ described"}
_FILL = {"improved": NHS_BLUE, "worsened": ANALYSIS_FUNCTION[3], "no clear change": NHS_PALE_GREY,
         "descriptive": NHS_PALE_GREY}
_ALPHA = {"high": 1.0, "moderate": 0.75, "low": 0.5, "very low": 0.3, "not rated": 0.3}


def _lower(label: str) -> str:
    """A label inside a sentence: 'Emergency admissions' -> 'emergency admissions', but
    'A&E attendances' stays as it is."""
    return label if len(label) > 1 and not label[1].islower() else label[:1].lower() + label[1:]


def _direction(record: pd.Series, better: str | None) -> str:
    """Improved, worsened or no clear change, from the interval and the better side."""
    null = 1.0 if record["scale"] == "ratio" else 0.0
    lo, hi = record["ci_low"], record["ci_high"]
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= null <= hi:
        return "no clear change"
    up = lo > null
    if better not in ("lower", "higher"):
        return "no clear change"
    return "improved" if up == (better == "higher") else "worsened"


@dataclass
class ComparativeContext:
    """Everything the comparative synthesis report needs (see the module notes)."""

    schemes: SchemeSet
    parameters: dict
    outcomes: tuple[str, ...] = ("emergency_admissions", "ae_attendances")
    rules: DisclosureRules = field(default_factory=DisclosureRules)

    # -- helpers ------------------------------------------------------------------------
    def _spec(self, scheme: str):
        return self.schemes.evaluations[scheme].spec

    def label(self, outcome: str) -> str:
        """Display name of an outcome (from the first spec that declares it)."""
        for ev in self.schemes.evaluations.values():
            if outcome in ev.spec.outcomes:
                return ev.spec.outcome_label(outcome)
        return outcome.replace("_", " ")

    @property
    def synthetic(self) -> bool:
        """True when every scheme's data are synthetic."""
        return all(ev.spec.synthetic for ev in self.schemes.evaluations.values())

    # -- analyses -----------------------------------------------------------------------
    @cached_property
    def meta(self) -> dict:
        """A random-effects meta-analysis (REML, HKSJ) per common outcome."""
        out = {}
        for o in self.outcomes:
            ce = self.schemes.common_effects(o)
            if len(ce) >= 2:
                out[o] = meta_analysis(ce, estimate="estimate", se="se", label="scheme",
                                       method="reml", hksj=True, outcome=o,
                                       group="design_strength")
        return out

    @cached_property
    def meta_regression(self):
        """The first outcome's effects on measured GP engagement (referrals per 1,000)."""
        o = self.outcomes[0]
        ce = self.schemes.common_effects(o)
        if len(ce) < 4 or ce["referrals_per_1000"].isna().any():
            return None
        return meta_analysis(ce, estimate="estimate", se="se", label="scheme",
                             method="reml", hksj=True, outcome=o,
                             moderators=["referrals_per_1000"])

    @cached_property
    def certainty(self):
        """GRADE-style certainty of every scheme-outcome pair (each scheme on its own:
        inconsistency here is between that scheme's designs)."""
        eff = self.schemes.effects()
        eff = eff[np.isfinite(pd.to_numeric(eff["estimate"], errors="coerce"))]
        return rate_certainty(eff)

    def pooled_finding(self, outcome: str) -> str:
        """The pooled effect's certainty (inconsistency judged by I2 across schemes) and
        its finding in words."""
        m = self.meta[outcome]
        pooled = m.effects[m.effects["estimand"] == "pooled"].assign(scheme="all schemes")
        cert = rate_certainty(pooled, pooled_i2=m.i2)
        words = findings(cert, labels={outcome: _lower(self.label(outcome))})
        return f"{words['finding'].iloc[0]} {cert.table['reasons'].iloc[0]}"

    @cached_property
    def findings_table(self) -> pd.DataFrame:
        """One plain-English finding per scheme and outcome."""
        labels = {o: self.label(o) for ev in self.schemes.evaluations.values()
                  for o in ev.spec.outcomes}
        return findings(self.certainty, labels=labels)

    def results_record(self) -> dict:
        """The synthesis's own results, as JSON-ready records: each pooled meta-analysis
        (effects, prediction interval, heterogeneity), the meta-regression, the certainty
        table and the summary matrix. With the schemes' ``results.json`` files, these are
        where every number the comparative report shows comes from."""
        from evalkit.results import jsonable

        def records(frame: pd.DataFrame) -> list:
            return [jsonable(r) for r in frame.to_dict(orient="records")]

        meta = {}
        for outcome, m in self.meta.items():
            lo, hi = m.prediction_interval
            meta[outcome] = {"effects": records(m.effects), "prediction_interval": [lo, hi],
                             "i2": m.i2, "tau2": m.tau2, "q": m.q, "q_df": m.q_df,
                             "q_p": m.q_p, "k": m.k}
        reg = self.meta_regression
        matrix = self.matrix_frame()
        return jsonable({
            "schemes": list(self.schemes.evaluations),
            "meta_analysis": meta,
            "meta_regression": records(reg.effects) if reg is not None else None,
            "certainty": records(self.certainty.table.drop(columns=["reasons"],
                                                           errors="ignore")),
            "matrix": [{"scheme": r["scheme"], **{d: list(r[d]) for d in DOMAINS
                                                  if isinstance(r.get(d), tuple)}}
                       for r in matrix.to_dict(orient="records")],
            "counts": records(self.disclosure_frame().table),
            "too_small_to_tell": records(self.too_small_frame().drop(
                columns=["shown_effect", "shown_mde"])),
            "target_percent": TARGET_PERCENT,
        })

    # -- sections -----------------------------------------------------------------------
    def notice_markdown(self) -> str:
        """The synthetic-data notice: a callout, a page header in PDF and DOCX."""
        return synthetic_notice_markdown() if self.synthetic else ""

    def title_markdown(self) -> str:
        """The report's title, naming how many schemes it compares: a metadata block that
        sets the document's title in every format (:mod:`evalkit.report.title`)."""
        return title_block(synthesis_title(len(self.schemes.schemes)))

    def glossary_markdown(self) -> str:
        """The glossary appendix: every term evalkit's reports may use, of which the render
        keeps those this report uses (:mod:`evalkit.report.glossary`)."""
        return glossary_markdown()

    def summary_markdown(self) -> str:
        """The report in a paragraph: how many schemes, and the pooled headline."""
        n = len(self.schemes.schemes)
        text = [f"This report sets {n} schemes of collaborative working side by side: what "
                "each did to engagement, outcomes, costs and staff experience, how sure we "
                "can be, and what they show together."]
        o = self.outcomes[0]
        if o in self.meta:
            m = self.meta[o]
            p = m.effects.set_index("estimand").loc["pooled"]
            lo, hi = m.prediction_interval
            text.append(f"Across the {m.k} schemes with {md_text(_lower(self.label(o)))}, "
                        f"the pooled ratio is {p['estimate']:.2f} (95% CI {p['ci_low']:.2f} to "
                        f"{p['ci_high']:.2f}); a new scheme's effect could lie between "
                        f"{lo:.2f} and {hi:.2f} (95% prediction interval), because the "
                        f"schemes differ (I² {m.i2:.0f}%).")
        if self.schemes.failures:
            root = f"{Path(self.parameters.get('data_root') or project_root())}{os.sep}"
            text.append("Left out because their data failed checks: "  # no machine path
                        + "; ".join(f"{md_text(k)} ({md_text(v.replace(root, ''))})"
                                    for k, v in self.schemes.failures.items()) + ".")
        return " ".join(text) + "\n"

    def schemes_markdown(self) -> str:
        """The schemes: nation, form, population covered, funding per head."""
        c = self.schemes.characteristics
        tab = pd.DataFrame({
            "Scheme": [self._spec(s).title for s in c["scheme"]],
            "Nation": c.get("nation", ""),
            "Organisational form": c.get("organisational_form", ""),
            "Population covered": [f"{v:,.0f}" for v in c["population_covered"]]
            if "population_covered" in c else "",
            "Funding per head (£)": [f"{v:.2f}" for v in c["funding_per_head"]]
            if "funding_per_head" in c else "",
            "Practices referring": [f"{v:.0f}%" for v in c["gp_engagement_share_referring"]],
        })
        return "\n".join([md_table(tab), "",
                          ": The schemes compared (funding per head: first-year scheme cost "
                          "over the population covered; illustrative costs) {#tbl-schemes}",
                          ""])

    def matrix_frame(self) -> pd.DataFrame:
        """Schemes x domains: direction and certainty of each scheme's headline finding.

        Every cell is read from the scheme's own evidence summary
        (:func:`~evalkit.report.summary.evidence_summary`), so the matrix can never rate
        or word a finding differently from the summary: the same headline record, the same
        certainty, and "not rated" where the summary does not rate (engagement is
        descriptive).
        """
        rows = []
        for s, ev in self.schemes.evaluations.items():
            table = evidence_summary(ev).table
            cells: dict = {"scheme": s}
            for dom, summary_domain in _MATRIX_DOMAINS.items():
                hit = table[(table["domain"] == summary_domain) & table["outcome"].notna()]
                if hit.empty:
                    continue
                cells[dom] = self._matrix_cell(ev, hit.iloc[0])
            rows.append(cells)
        return pd.DataFrame(rows)

    def _matrix_cell(self, ev, row: pd.Series) -> tuple[str, str, str]:
        """(direction, certainty, note) for one finding of an evidence summary."""
        certainty = row["certainty"] if isinstance(row["certainty"], str) else "not rated"
        if row["design"] == "engagement":
            return "descriptive", certainty, f"{row['effect']} of practices referring"
        if row["design"] == "likert_change":
            ors = pd.concat([r.effects for r in ev.engagement.survey_change.values()])
            better, worse = int((ors["ci_low"] > 1).sum()), int((ors["ci_high"] < 1).sum())
            direction = ("improved" if better > worse else "worsened" if worse > better
                         else "no clear change")
            return direction, certainty, f"{better} of {len(ors)} statements better"
        eff = ev.effects
        rec = eff[(eff["outcome"] == row["outcome"]) & (eff["design"] == row["design"])
                  & (eff["estimand"] == row["estimand"])].iloc[0]
        if row["design"] == "economic":
            econ = next(r for a, r in ev.results if a.design == "economic")
            return _direction(rec, "lower"), certainty, classify_result(econ).verdict
        better = ev.spec.outcomes.get(row["outcome"], {}).get("better")
        return _direction(rec, better), certainty, self.label(row["outcome"])

    def _record(self, scheme: str, certainty_row: pd.Series) -> pd.Series:
        eff = self.schemes.evaluations[scheme].effects
        hit = eff[(eff["outcome"] == certainty_row.name[1] if isinstance(certainty_row.name,
                                                                          tuple) else True)
                  & (eff["design"] == certainty_row["design"])
                  & (eff["estimand"] == certainty_row["estimand"])]
        return hit.iloc[0]

    def matrix_figure(self):
        """The summary matrix as a grid: colour, symbol and words for each cell."""
        frame = self.matrix_frame()
        fig = Figure(figsize=(8.6, 0.55 * len(frame) + 1.2))
        ax = fig.add_subplot()
        for i, (_, row) in enumerate(frame.iterrows()):
            for j, dom in enumerate(DOMAINS):
                cell = row.get(dom)
                if not isinstance(cell, tuple):
                    ax.text(j, i, "not measured", ha="center", va="center", fontsize=7,
                            color=NHS_MID_GREY)
                    continue
                direction, cert, _ = cell
                ax.add_patch(_rect(j, i, _FILL[direction], _ALPHA[cert]))
                dark = direction != "no clear change" and _ALPHA[cert] >= 0.75
                ax.text(j, i, f"{_ARROWS[direction]}\n{cert}", ha="center", va="center",
                        fontsize=7, color="white" if dark else "black")
        ax.set_xlim(-0.5, len(DOMAINS) - 0.5)
        ax.set_ylim(len(frame) - 0.5, -0.5)
        ax.set_xticks(range(len(DOMAINS)), DOMAINS, fontsize=8)
        ax.set_yticks(range(len(frame)), frame["scheme"], fontsize=8)
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        fig.tight_layout()
        return FigureOutput(fig)

    def too_small_frame(self) -> pd.DataFrame:
        """Each scheme's headline outcome and cost findings (from its evidence summary)
        with the smallest effect it could have detected and whether it was too small to
        tell (:data:`TOO_SMALL_RULE`)."""
        from evalkit.evidence.narrative import format_effect
        from evalkit.power.null_findings import detectable_amount, mde_from_se

        rows = []
        for s, ev in self.schemes.evaluations.items():
            table = evidence_summary(ev).table
            hits = table[table["domain"].isin(["Population health outcomes",
                                               "Cost per capita"]) & table["outcome"].notna()]
            eff = ev.effects
            for _, row in hits.iterrows():
                rec = eff[(eff["outcome"] == row["outcome"]) & (eff["design"] == row["design"])
                          & (eff["estimand"] == row["estimand"])]
                if rec.empty:
                    continue
                rec = rec.iloc[0]
                se = pd.to_numeric(pd.Series([rec.get("se")]), errors="coerce").iloc[0]
                se, scale = float(se), str(rec["scale"])
                if not (np.isfinite(se) and se > 0 and np.isfinite(rec["ci_low"])
                        and np.isfinite(rec["ci_high"])):
                    continue
                better = ev.spec.outcomes.get(row["outcome"], {}).get("better")
                sign = 1 if better == "higher" else -1
                money = row["domain"] == "Cost per capita"
                mde = mde_from_se(se, scale)
                null = 1.0 if scale == "ratio" else 0.0
                # the detectable effect in the hoped-for direction, on the record's scale
                hoped = (float(np.exp(sign * -np.log(mde))) if scale == "ratio"
                         else null + sign * mde)
                lo, hi = float(rec["ci_low"]), float(rec["ci_high"])
                includes_null = lo <= null <= hi
                mde_pct = 100 * abs(hoped - 1) if scale == "ratio" else np.nan
                if not includes_null:
                    verdict = "effect detected"
                elif (scale == "ratio" and mde_pct > TARGET_PERCENT) or lo <= hoped <= hi:
                    verdict = "too small to tell"
                else:
                    verdict = "no effect of the detectable size"
                rows.append({
                    "scheme": s, "outcome": row["outcome"], "measure": row["measure"],
                    "design": row["design"], "estimate": float(rec["estimate"]),
                    "ci_low": lo, "ci_high": hi, "se": se, "mde": mde,
                    "mde_percent": mde_pct, "verdict": verdict,
                    "shown_effect": format_effect(rec),
                    "shown_mde": detectable_amount(
                        scale, mde, money=money,
                        improvement="increase" if better == "higher" else "decrease")})
        return pd.DataFrame(rows, columns=["scheme", "outcome", "measure", "design",
                                           "estimate", "ci_low", "ci_high", "se", "mde",
                                           "mde_percent", "verdict", "shown_effect",
                                           "shown_mde"])

    def too_small_markdown(self) -> str:
        """Which schemes were too small to tell, with the rule stated."""
        from evalkit.evidence.narrative import format_sig

        f = self.too_small_frame()
        if f.empty:
            return ""
        target = f"{format_sig(TARGET_PERCENT)}%"
        tab = pd.DataFrame({
            "Scheme": f["scheme"], "Finding": f["measure"], "Estimate (95% CI)":
            f["shown_effect"], "Could have detected": f["shown_mde"],
            "Verdict": f["verdict"].str.capitalize()})
        n = int((f["verdict"] == "too small to tell").sum())
        return "\n".join([
            md_text(TOO_SMALL_RULE.format(target=target)), "",
            md_text(f"{n} of the {len(f)} headline findings on outcomes and costs were too "
                    "small to tell: for these, \"no change was detected\" does not mean "
                    "\"no change\"."), "",
            md_table(tab), "",
            ": Which findings were too small to tell: each scheme's headline findings on "
            "outcomes and costs, the smallest change each could have detected, and the "
            "verdict {#tbl-too-small}", ""])

    def matrix_markdown(self) -> str:
        """The summary matrix as a table (the same content as the figure, in words)."""
        frame = self.matrix_frame()
        tab = pd.DataFrame({"Scheme": frame["scheme"]})
        for dom in DOMAINS:
            tab[dom] = [f"{_ARROWS[c[0]]}, {c[1]} ({c[2]})" if isinstance(c, tuple)
                        else "not measured" for c in frame.get(dom, [None] * len(frame))]
        return "\n".join([md_table(tab), "",
                          ": Summary matrix: direction of each scheme's headline finding by "
                          "domain, with its certainty as each scheme's evidence summary rates it "
                          "(engagement is described, not rated) {#tbl-matrix}", ""])

    def forest_figure(self, outcome: str):
        """The forest plot of one common outcome, grouped by design strength, or None."""
        from evalkit.plots.synthesis import forest_plot

        if outcome not in self.meta:
            return None
        return FigureOutput(forest_plot(self.meta[outcome], group="design_strength")[0])

    def meta_markdown(self, outcome: str) -> str:
        """The pooled effect of one outcome, its heterogeneity and its robustness."""
        from evalkit.synthesis import leave_one_out

        if outcome not in self.meta:
            return f"_Fewer than two schemes report {md_text(_lower(self.label(outcome)))}._\n"
        m = self.meta[outcome]
        p = m.effects.set_index("estimand").loc["pooled"]
        lo, hi = m.prediction_interval
        est = leave_one_out(m)["estimate"]
        return " ".join([
            f"Pooling the {m.k} schemes' strongest estimates of "
            f"{md_text(_lower(self.label(outcome)))} "
            f"(random effects, REML, Hartung-Knapp-Sidik-Jonkman interval) gives a ratio of "
            f"{p['estimate']:.3f} (95% CI {p['ci_low']:.3f} to {p['ci_high']:.3f}), a change "
            f"of {format_number((p['estimate'] - 1) * 100, '+.1f')}%. Heterogeneity is "
            f"I² {m.i2:.0f}% (τ² {m.tau2:.4f}; Q {m.q:.1f} on {m.q_df} df, "
            f"{p_text(m.q_p)}), and the 95% "
            f"prediction interval for a new scheme is {lo:.3f} to {hi:.3f}.",
            f"Leaving out one scheme at a time, the pooled ratio ranges from "
            f"{est.min():.3f} to {est.max():.3f}.",
            "The pooled estimate inherits the weakest design among the schemes (Maryland "
            f"level {int(p['evidence_level'])}); with so few schemes a funnel plot or "
            "Egger's test would have little power, so neither is relied on.",
            f"**Across the schemes:** {md_text(self.pooled_finding(outcome))}", "\n"])

    def bubble_figure(self):
        """Meta-regression on measured engagement (bubble plot), or None."""
        from evalkit.plots.synthesis import bubble_plot

        m = self.meta_regression
        return None if m is None else FigureOutput(bubble_plot(m, "referrals_per_1000")[0])

    def metareg_markdown(self) -> str:
        """The meta-regression of the first outcome on referrals per 1,000, in words."""
        m = self.meta_regression
        if m is None:
            return "_Too few schemes with measured engagement for a meta-regression._\n"
        r = m.effects.set_index("estimand").loc["moderator:referrals_per_1000"]
        return (f"Did schemes whose practices referred more do better? Each extra referral "
                f"per 1,000 patients in the first year goes with a ratio of "
                f"{r['estimate']:.3f} (95% CI {r['ci_low']:.3f} to {r['ci_high']:.3f}) in "
                f"{md_text(_lower(self.label(self.outcomes[0])))} (@fig-bubble). With "
                f"{m.k} schemes this comparison is weak, and schemes that engage more "
                "differ in other ways: treat it as a question for the next evaluation, not "
                "an answer.\n")

    def certainty_markdown(self) -> str:
        """The certainty table with the findings in words."""
        t = self.certainty.table.merge(self.findings_table[["scheme", "outcome", "finding"]],
                                       on=["scheme", "outcome"], how="left")
        keep = t[t["outcome"].isin(list(self.outcomes) + ["cost"])]
        tab = pd.DataFrame({"Scheme": keep["scheme"],
                            "Outcome": [self.label(o) for o in keep["outcome"]],
                            "Maryland level": keep["evidence_level"].astype(int),
                            "Certainty": keep["certainty"],
                            "Finding": keep["finding"]})
        return "\n".join([md_table(tab), "",
                          ": Certainty of the evidence (GRADE-style: starts from the design's "
                          "Maryland level, rated down for risk of bias, imprecision and "
                          "inconsistency) with the finding in words {#tbl-certainty}", ""])

    def economic_markdown(self) -> str:
        """The economic summary across schemes."""
        rows = []
        for s, ev in self.schemes.evaluations.items():
            econ = next((r for a, r in ev.results if a.design == "economic"), None)
            if econ is None:
                continue
            e = econ.effects.set_index("estimand")
            d = econ.diagnostics
            rows.append({
                "Scheme": s,
                "Scheme cost per patient": format_gbp(e.loc["scheme_cost_per_patient",
                                                            "estimate"]),
                "Net cost per patient (95% CI)":
                    f"{format_gbp(e.loc['incremental_cost', 'estimate'])} "
                    f"({format_gbp(e.loc['incremental_cost', 'ci_low'])} to "
                    f"{format_gbp(e.loc['incremental_cost', 'ci_high'])})",
                "QALYs per patient": format_number(e.loc["incremental_effect", "estimate"],
                                                   "+.3f")
                if "incremental_effect" in e.index else "",
                "Verdict (point estimates)": classify_result(econ).label(),
                "P(cost-effective at £20,000)":
                    f"{d.get('prob_cost_effective_20000', float('nan')):.0%}"})
        if not rows:
            return "_No scheme has an economic evaluation._\n"
        return "\n".join([md_table(pd.DataFrame(rows)), "",
                          ": Economic summary: net cost (scheme cost plus the change in "
                          "resource use; negative is a saving) and value per patient served. "
                          "The verdict reads the point estimates on the cost-effectiveness "
                          "plane, as each evidence summary does: a scheme that saves money "
                          "and loses QALYs is cost-effective where the saving per QALY lost "
                          "is at or above the threshold; the last column allows for "
                          "sampling uncertainty {#tbl-economic}", ""])

    def disclosure_frame(self):
        """Counts shown in the report, after disclosure control.

        The rule is the evidence summaries' (:mod:`evalkit.evidence.published`): counts
        of organisations (units referring, never referring) are not about people and are
        shown as they are; the referrals they made count patients and are controlled.
        """
        rows = []
        for s, ev in self.schemes.evaluations.items():
            prof = ev.engagement
            if prof is None:
                continue
            bu = prof.indices.frames["by_unit"]
            never = int((bu["referrals"] == 0).sum())
            rows.append({"scheme": s, "units never referring": never,
                         "units referring": int(len(bu) - never), "units": int(len(bu)),
                         "referrals in the first year": int(bu["referrals"].sum())})
        frame = pd.DataFrame(rows)
        res = suppress(frame, count_columns=["referrals in the first year"], rules=self.rules)
        col = res.table["referrals in the first year"]
        res.table["referrals in the first year"] = [f"{v:,}" if isinstance(v, (int, np.integer))
                                                    else v for v in col]
        return res

    def disclosure_markdown(self) -> str:
        """The counts table after suppression, and the rules applied."""
        res = self.disclosure_frame()
        return "\n".join([
            md_table(res.table), "",
            ": Scheme units referring and never referring in their first year, and the "
            "referrals they made, after disclosure control {#tbl-counts}", "",
            f"Counts of people and events (here, referrals of patients) from "
            f"{self.rules.low} to {self.rules.high} are shown as {md_quoted(self.rules.symbol)} "
            f"({md_text(self.rules.name)}); where a total would reveal a suppressed cell, a second "
            f"cell is suppressed too, and {SHARE_RULE[0].lower()}{SHARE_RULE[1:]} "
            f"{ORGANISATION_NOTE} This is the rule of every evidence summary. The rules "
            "are recorded in the provenance appendix.", ""])

    def checklist_markdown(self) -> str:
        """The SQUIRE 2.0 / TREND checklist, mapped to sections."""
        tab = pd.DataFrame(CHECKLIST, columns=["Item", "What", "Where it is covered"])
        return "\n".join([md_table(tab), "",
                          ": SQUIRE 2.0 and TREND reporting items and where this report (or "
                          "each scheme's evidence summary) covers them {#tbl-checklist}", ""])

    def provenance_markdown(self) -> str:
        """Provenance: every input's hash, package versions, git, parameters, rules."""
        paths = []
        for ev in self.schemes.evaluations.values():
            paths += [ev.spec.path] + [f for src in ev.spec.data.values()
                                       for f in src.files()]
        # the rule by name, as the evidence summaries give it (its full text is in the
        # counts appendix); a dict printed as a Python literal is no value for a reader
        return provenance_markdown(paths, {**self.parameters,
                                           "disclosure": self.rules.name},
                                   folder=project_root())


def _rect(x: float, y: float, colour: str, alpha: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.48, y - 0.45), 0.96, 0.9, facecolor=colour, alpha=alpha,
                     edgecolor="white")


def load_comparison(schemes: str = "all", *, data_root: str | Path | None = None,
                    **parameters) -> ComparativeContext:
    """Evaluate the schemes and prepare the comparative report's content.

    Parameters
    ----------
    schemes
        ``"all"`` or a comma-separated list of scheme names.
    data_root
        The folder of scheme folders (default: the project's ``data/synthetic``).
    **parameters
        Other report parameters, recorded in the provenance appendix.
    """
    root = Path(data_root) if data_root else project_root() / "data" / "synthetic"
    names = None if schemes in ("all", "", None) else [s.strip() for s in
                                                       str(schemes).split(",") if s.strip()]
    return ComparativeContext(collect_schemes(root, schemes=names),
                              {"schemes": schemes, "data_root": str(root), **parameters})
