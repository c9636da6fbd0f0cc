"""Costs and economic evaluation in the report: the cost-effectiveness plane, CEAC, tornado
plot, sensitivity and cost-consequence tables, and the economic sentences.
"""

from __future__ import annotations

import pandas as pd

from evalkit.economics.wording import (
    break_even_sentence,
    change_in_words,
    classify_result,
    net_cost_sentence,
    plane_sentence,
    uncertainty_sentence,
)
from evalkit.evidence.narrative import (
    format_effect,
    format_gbp,
    format_number,
)
from evalkit.naming import (
    design_label,
    estimand_label,
)
from evalkit.report.design import ECONOMIC_COMPARISONS
from evalkit.report.markdown_text import md_join, md_text
from evalkit.report.summary import (
    md_table,
    pipe_table,
)
from evalkit.results import headline_effects


class CostsSection:
    """The costs and economic evaluation part of
    :class:`~evalkit.report.context.ReportContext` (a mixin: it reads the context's
    ``evaluation``, ``spec``, ``counts`` and helpers)."""

    # -- costs ----------------------------------------------------------------------------
    def _economic(self):
        analysis, res = self._first("economic")
        return (None, None) if analysis is None else (analysis, res)

    def _draw_ce_plane(self):
        from evalkit.plots.economics import ce_plane_plot

        _, res = self._economic()
        if res is None or "ce_draws" not in res.frames:
            return None
        return ce_plane_plot(res)

    def ce_plane_figure(self):
        """The cost-effectiveness plane (bootstrap replicates), or None."""
        return self._output(self._draw_ce_plane())

    def _draw_ceac(self):
        from evalkit.plots.economics import ceac_plot

        _, res = self._economic()
        if res is None or "ceac" not in res.frames:
            return None
        return ceac_plot(res)

    def ceac_figure(self):
        """The cost-effectiveness acceptability curve, or None."""
        return self._output(self._draw_ceac())

    def _draw_tornado(self):
        from evalkit.plots.economics import tornado_plot

        _, res = self._economic()
        if res is None or "one_way" not in res.frames:
            return None
        return tornado_plot(res.frames["one_way"], output=res.diagnostics["one_way_output"])

    def tornado_figure(self):
        """The one-way sensitivity analysis of the economic result (tornado), or None."""
        return self._output(self._draw_tornado())

    def sensitivity_markdown(self) -> str:
        """One-way and probabilistic sensitivity of the economic result, in words."""
        _, res = self._economic()
        if res is None or "one_way" not in res.frames:
            return ""
        d = res.diagnostics
        ow = res.frames["one_way"]
        top = ow.iloc[0]
        base = float(top["base_output"])
        lows, highs = ow[["output_low", "output_high"]].min(axis=1), \
            ow[["output_low", "output_high"]].max(axis=1)
        crossing = ow.loc[(lows < 0) & (highs > 0), "label"].tolist()
        what = ("the incremental net monetary benefit" if "incremental_effect"
                in set(res.effects["estimand"]) else "the net cost per patient")
        text = [f"**Sensitivity.** @fig-tornado varies one input at a time. "
                f"{what.capitalize()} is {format_gbp(base)} per patient in the base case and is "
                f"most sensitive to {md_text(top['label'].split(' (')[0].lower())}, which moves it "
                f"from {format_gbp(min(top['output_low'], top['output_high']))} to "
                f"{format_gbp(max(top['output_low'], top['output_high']))}."]
        if crossing:
            text.append("Across the range of "
                        + md_join((c.split(" (")[0].lower() for c in crossing), "; ")
                        + f", {what} changes sign, so the conclusion depends on "
                        + ("it." if len(crossing) == 1 else "each of them."))
        else:
            text.append("No single input changes its sign within the ranges tested.")
        psa = (f"In a probabilistic sensitivity analysis that also treats the scheme's cost "
               f"as uncertain (gamma, {d['scheme_cost_se']:.0%} relative standard error, "
               f"{len(res.frames['psa']):,} draws), the probability that the scheme saves "
               f"money is {d['probability_saving_psa']:.0%}")
        wtp = sorted(res.options.get("wtp") or [])
        probs = [f"{d[f'prob_cost_effective_{int(w)}_psa']:.0%} at £{w:,.0f}" for w in wtp
                 if f"prob_cost_effective_{int(w)}_psa" in d]
        if probs:
            psa += " and that it is cost-effective " + " and ".join(probs) + " per QALY"
        text.append(psa + ".")
        return " ".join(text) + "\n"

    def cost_consequence_frame(self) -> pd.DataFrame:
        """Costs beside every outcome effect: the cost-consequence table."""
        rows = []
        _, res = self._economic()
        if res is not None:
            e = res.effects.set_index("estimand")
            names = {"scheme_cost_per_patient": "Scheme cost per patient served (GBP)",
                     "resource_cost_change": "Change in resource-use cost per patient (GBP)",
                     "incremental_cost": "Net cost per patient (GBP; negative = saving)",
                     "incremental_effect": "Change in "
                                           f"{res.options.get('effect_label') or 'QALYs'} "
                                           "per patient",
                     "activity_change": "Change in "
                                        f"{res.options.get('activity_label') or 'activity'} "
                                        "per patient"}
            for estimand, name in names.items():
                if estimand not in e.index:
                    continue
                r = e.loc[estimand]
                rows.append({"Domain": "Costs" if r["domain"] == "cost" else "Outcomes",
                             "Measure": name,
                             "Effect (95% CI)": format_effect(r.to_dict())
                             if pd.notna(r["ci_low"]) else f"{r['estimate']:,.0f} (fixed)",
                             "Design": "economic evaluation",
                             "Maryland level": int(r["evidence_level"])})
        for _, r in headline_effects(self.evaluation.effects).iterrows():
            rows.append({"Domain": {"cost": "Costs", "engagement": "Engagement"}.get(
                r["domain"], "Outcomes"),
                "Measure": f"{self.label(r['outcome'])}: "
                           f"{estimand_label(r['estimand'])}",
                "Effect (95% CI)": format_effect(r),
                "Design": design_label(r["design"]).split(" (")[0],
                "Maryland level": int(r["evidence_level"])})
        rows.extend(self.engagement_rows())
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        order = {"Costs": 0, "Outcomes": 1, "Staff experience": 2, "Engagement": 3}
        return frame.sort_values("Domain", key=lambda c: c.map(order), kind="stable")

    def economic_markdown(self) -> str:
        """Scheme costs, net cost, the verdict and the cost-consequence table."""
        analysis, res = self._economic()
        if res is None:
            return "_The spec declares no economic evaluation for this scheme._\n"
        d = res.diagnostics
        e = res.effects.set_index("estimand")
        per = e.loc["scheme_cost_per_patient", "estimate"]
        change = e.loc["resource_cost_change"]
        inc = e.loc["incremental_cost"]
        price = f" at {md_text(d['price_year'])} prices" if d.get("price_year") else ""
        roles = res.frames["scheme_costs"]
        roles_tab = pd.DataFrame({
            "Line": [f"{r} ({b})" if isinstance(b, str) and b else str(r)
                     for r, b in zip(roles["role"], roles["band"], strict=True)],
            "Type": roles["cost_type"],
            "WTE": [f"{w:.1f}" if w else "" for w in roles["wte"]],
            "Annual cost (GBP)": [f"{c:,.0f}" for c in roles["annual_cost"]]})
        text = [
            f"The scheme cost £{d['scheme_cost_total']:,.0f} in its first "
            f"{'year' if d['years'] == 1 else str(d['years']) + ' years'}{price} "
            f"(£{d['scheme_cost_annual']:,.0f} a year in staff, with on-costs and overheads, "
            f"and £{d['scheme_setup']:,.0f} to set up), or £{per:,.0f} for each of the "
            f"{md_text(self.counts.count(d['patients_served'], 'patients served'))} patients it "
            f"served "
            "a year. Unit costs and salaries are illustrative.", "",
            f"Comparing {ECONOMIC_COMPARISONS[d['comparison']]}, resource-use costs per "
            "patient were "
            + change_in_words(change["estimate"], change["ci_low"], change["ci_high"],
                              up="higher", down="lower", size=format_gbp,
                              conf_level=change["conf_level"])
            + ". Net of the scheme's cost, " + net_cost_sentence(inc.to_dict())
            + f"; the probability that the scheme saves money is "
              f"{d['probability_saving']:.0%}.",
        ]
        if "incremental_effect" in e.index:
            q = e.loc["incremental_effect"]
            units = md_text(res.options.get("effect_label") or "QALYs")
            wtp = sorted(res.options.get("wtp") or [20000.0, 30000.0])
            text += ["",
                     f"{units} per patient were "
                     + change_in_words(q["estimate"], q["ci_low"], q["ci_high"], up="higher",
                                       down="lower", size=lambda v: format_number(v, ".3f"),
                                       conf_level=q["conf_level"])
                     + ". " + plane_sentence(classify_result(res), units=units) + " "
                     + uncertainty_sentence({w: d[f"prob_cost_effective_{int(w)}"]
                                             for w in wtp}, units=units,
                                            refs=" (@fig-ce-plane, @fig-ceac)")]
            if "evpi" in res.frames:
                ev = res.frames["evpi"].set_index("wtp")["evpi_per_person"]
                text[-1] += (f" The expected value of perfect information is "
                             f"£{ev.iloc[0]:,.0f} per patient at £{ev.index[0]:,.0f}: what "
                             "removing the uncertainty would be worth.")
        if "activity_change" in e.index:
            nc = res.frames["net_cost"].set_index("quantity")
            if "break_even_activity" in nc.index:
                text += ["", break_even_sentence(
                    nc.loc["break_even_activity", "estimate"],
                    e.loc["activity_change"].to_dict(),
                    label=md_text(res.options.get("activity_label") or "activity"))]
        if d["comparison"] == "before_after":
            text += ["", "This is an uncontrolled before/after comparison (Maryland level 1): "
                         "if patients were enrolled after a costly year, part of the fall in "
                         "their costs would have happened anyway."]
        cc = self.cost_consequence_frame()
        return "\n".join([
            *text, "",
            md_table(roles_tab), "",
            ": The scheme's staffing and set-up costs (illustrative salaries; annual cost "
            "includes on-costs and overheads) {#tbl-scheme-costs}", "",
            "@tbl-cost-consequence sets the costs beside every estimated effect of the "
            "scheme, staff experience and engagement; the engagement section below "
            "describes how each was measured.", "",
            pipe_table(cc, {"Domain": 15, "Measure": 29, "Effect (95% CI)": 20, "Design": 22,
                            "Maryland level": 12}) if not cc.empty else "", "",
            ": Cost-consequence table: costs and effects of the scheme, each with its design "
            "and Maryland level {#tbl-cost-consequence}", ""])
