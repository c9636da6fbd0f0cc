"""Outcomes: the headline effects table and forest plot, and the findings by domain."""

from __future__ import annotations

import pandas as pd

from evalkit.evaluation.pipeline import people_analysis
from evalkit.evidence.narrative import (
    describe_effect,
    format_effect,
    format_p,
)
from evalkit.evidence.selection import variant_words
from evalkit.naming import (
    estimand_label,
)
from evalkit.report.markdown_text import md_text
from evalkit.report.summary import (
    pipe_table,
)
from evalkit.results import headline_effects


class OutcomesSection:
    """The outcomes part of :class:`~evalkit.report.context.ReportContext` (a mixin: it
    reads the context's ``evaluation``, ``spec``, ``counts`` and helpers)."""

    def effects_frame(self) -> pd.DataFrame:
        """The headline table: one row per outcome and estimand (counts of patients under
        disclosure control)."""
        people = {(a.outcome, a.design): people_analysis(self.evaluation, a)
                  for a, _ in self.evaluation.results}
        rows = []
        for _, r in self._table_effects().iterrows():
            show = self._show(people.get((r["outcome"], r["design"]), False))
            rows.append({
                "Outcome": self.label(r["outcome"]),
                "Estimate": estimand_label(r["estimand"])
                + (f" ({variant_words(r['diagnostics'])})"
                   if variant_words(r["diagnostics"]) else ""),
                "Effect (95% CI)": format_effect(r),
                "p": format_p(r["p_value"]) if pd.notna(r["p_value"]) else "",
                "Units": show(r["n_units"], "units compared"),
                "Maryland level": int(r["evidence_level"]),
            })
        return pd.DataFrame(rows)

    def _table_effects(self) -> pd.DataFrame:
        """The headline estimands, and every record that page 1 leads with, so that each
        effect in the summary can be found in the effects table (issue 23.2)."""
        eff = self.evaluation.effects
        shown = headline_effects(eff)
        led = self.findings_summary.table.dropna(subset=["design", "estimand"])
        keys = set(zip(shown["outcome"], shown["design"], shown["estimand"], strict=True))
        extra = [i for i, (o, d, e) in enumerate(zip(eff["outcome"], eff["design"],
                                                       eff["estimand"], strict=True))
                 if (o, d, e) not in keys and ((led["outcome"] == o) & (led["design"] == d)
                                               & (led["estimand"] == e)).any()]
        return pd.concat([shown, eff.iloc[extra]]) if extra else shown

    def effects_table(self) -> str:
        """The headline table as Markdown."""
        return pipe_table(self.effects_frame(), {"Outcome": 20, "Estimate": 24,
                                                 "Effect (95% CI)": 22, "p": 7, "Units": 8,
                                                 "Maryland level": 12})

    def effects_note(self) -> str:
        """How to read the headline table."""
        return ("Rate and odds ratios are shown as percentage changes; other effects as "
                "differences in the outcome's units. Units: practices, areas or patients "
                "compared (2 for a controlled interrupted time series: the scheme's series and "
                "the comparison series).")

    def _draw_effects(self):
        from evalkit.plots import effects_plot

        return effects_plot(self.evaluation.effects,
                            labels={o: self.label(o) for o in self.spec.outcomes})

    def effects_figure(self):
        """The headline forest plot (a matplotlib figure)."""
        return self._output(self._draw_effects())

    def findings_markdown(self) -> str:
        """Plain-English findings: before/after (adjusted where possible), then ITS."""
        lines = []
        eff = self.evaluation.effects
        for outcome, g in eff.groupby("outcome", sort=False):
            its12 = g[(g["design"] == "its") & (g["estimand"] == "effect_at_12")]
            did = g[(g["design"] == "staggered_did") & (g["estimand"] == "att_simple")]
            g = g[g["design"] == "prepost"]
            if g.empty:
                continue
            adjusted = g[g["estimand"] == "before_after_rtm_adjusted"]
            naive = g[g["estimand"] == "before_after"].iloc[0]
            text = describe_effect(naive, label=self.label(outcome))
            if len(adjusted):
                a = adjusted.iloc[0]
                if naive["diagnostics"].get("rtm_selected_on_baseline"):
                    text += (" Scheme units were chosen for high recent values, so part of that "
                             "change is regression to the mean; allowing for it, the change is "
                             f"{format_effect(a)}.")
                else:
                    text += (" Allowing for regression to the mean gives "
                             f"{format_effect(a)}.")
            if len(its12):
                r = its12.iloc[0]
                text += (f" The interrupted time series (Maryland level {r['evidence_level']}) "
                         f"estimates {format_effect(r)} at 12 months.")
            if len(did):
                r = did.iloc[0]
                per = r["diagnostics"].get("rate_per")
                unit = f" per {per:,.0f} a month" if per else ""
                text += (" Across all waves, difference-in-differences (Maryland level "
                         f"{r['evidence_level']}) estimates an average change of "
                         f"{format_effect(r)}{unit} in treated practices.")
            lines.append(f"- {md_text(text)}")
        return "\n".join(lines) + "\n"
