"""Engagement in the report: the engagement profile's SPC, funnel, Likert, maturity and dose-
response figures, the at-a-glance table and the engagement sentences.
"""

from __future__ import annotations

import pandas as pd

from evalkit.evidence.disclosure import share_hidden
from evalkit.evidence.narrative import (
    format_interval,
    format_number,
)
from evalkit.report.design import units_word
from evalkit.report.markdown_text import md_join, md_text
from evalkit.report.summary import md_table


class EngagementSection:
    """The engagement part of :class:`~evalkit.report.context.ReportContext` (a mixin: it
    reads the context's ``evaluation``, ``spec``, ``counts`` and helpers)."""

    # -- engagement -----------------------------------------------------------------------
    @property
    def engagement(self):
        """The scheme's engagement profile (:mod:`evalkit.engagement.profile`), or None."""
        return self.evaluation.engagement

    def _engagement_draw(self, draw):
        prof = self.engagement
        return None if prof is None else draw(prof)

    def _engagement_figure(self, draw):
        return self._output(self._engagement_draw(draw))

    def _draw_spc_outcome(self):
        from evalkit.plots.engagement_profile import outcome_spc_figure

        labels = {o: self.label(o) for o in self.spec.outcomes}
        return self._engagement_draw(lambda p: outcome_spc_figure(p, labels=labels))

    def outcome_spc_figure(self):
        """The headline outcome of the scheme's units a month, SPC before and after."""
        return self._output(self._draw_spc_outcome())

    def _draw_spc_referrals(self):
        from evalkit.plots.engagement_profile import referral_spc_figure

        return self._engagement_draw(referral_spc_figure)

    def referral_spc_figure(self):
        """Referrals per 1,000 patients a month across the scheme's units (u-chart)."""
        return self._output(self._draw_spc_referrals())

    def _draw_funnel(self):
        from evalkit.plots.funnel import funnel_plot

        return self._engagement_draw(lambda p: funnel_plot(
            p.funnel, label="referrals per 1,000 patients a year") if p.funnel else None)

    def funnel_figure(self):
        """Each unit's referrals per 1,000 patients a year against its list size."""
        return self._output(self._draw_funnel())

    def _draw_likert(self):
        from evalkit.plots.engagement import likert_plot

        return self._engagement_draw(lambda p: likert_plot(p.survey) if p.survey else None)

    def likert_figure(self):
        """The staff survey, before and after (diverging bars)."""
        return self._output(self._draw_likert())

    def _draw_maturity(self):
        from evalkit.plots.engagement_profile import maturity_figure

        return self._engagement_draw(maturity_figure)

    def maturity_figure(self):
        """The network maturity radar (highest and lowest networks at the last wave)."""
        return self._output(self._draw_maturity())

    def _draw_dose(self):
        from evalkit.plots.engagement import dose_response_plot

        def draw(p):
            if p.dose_response is None:
                return None
            name = self.label(p.outcome) if p.outcome else "the headline outcome"
            return dose_response_plot(
                p.dose_response, dose_label="Referrals per 1,000 patients in the first year",
                effect_label=f"Change in {name[:1].lower() + name[1:]}\nafter the start "
                             f"({p.outcome_unit})")

        return self._engagement_draw(draw)

    def dose_figure(self):
        """Effect on the headline outcome against engagement (dose-response)."""
        return self._output(self._draw_dose())

    def at_a_glance_markdown(self) -> str:
        """The headline outcome's SPC chart in words: before and after at a glance."""
        prof = self.engagement
        if prof is None or prof.outcome_spc is None:
            return "_No monthly outcome series for the scheme's units._\n"
        lim = prof.outcome_spc.limits
        label = self.label(prof.outcome)
        unit = "%" if prof.outcome_unit == "%" else " per 1,000 a month"
        text = [f"@fig-spc-outcome shows {md_text(label.lower())} across the scheme's units each "
                f"month, as a Making Data Count XmR chart"]
        if len(lim) > 1 and lim[["mean", "lower", "upper"]].notna().all(axis=None):
            a, b = lim.iloc[0], lim.iloc[-1]
            text[0] += (f" with separate limits before and after the start: the mean was "
                        f"{format_number(a['mean'], '.4g')}{unit} over the whole period before "
                        f"(process limits {format_number(a['lower'], '.4g')} to "
                        f"{format_number(a['upper'], '.4g')}) and "
                        f"{format_number(b['mean'], '.4g')}{unit} after "
                        f"({format_number(b['lower'], '.4g')} to "
                        f"{format_number(b['upper'], '.4g')}).")
            text.append(self._windows_against_phases(prof.outcome, a["mean"], unit))
        else:
            text[0] += "."
        text.append(md_text(prof.outcome_spc.overview["sentence"].iloc[0])
                    if "sentence" in prof.outcome_spc.overview else "")
        text.append("A chart like this shows whether anything changed; it cannot say why. "
                    "Regression to the mean, secular trends and other changes at the same "
                    "time can all move it, which is why the designs below compare the "
                    "scheme's units with others.")
        return " ".join(t for t in text if t) + "\n"

    def _windows_against_phases(self, outcome: str, mean_before: float, unit: str) -> str:
        """How the before/after's windows sit against the chart's long-run mean: the
        sentence that reconciles "the mean hardly moved" with "x% lower" (issue 23.2)."""
        for analysis, res in self.evaluation.results:
            if analysis.outcome != outcome or analysis.design != "prepost":
                continue
            d = res.effects.iloc[0]["diagnostics"]
            if not {"baseline_rate", "followup_rate"} <= set(d):
                return ""
            base, follow = d["baseline_rate"], d["followup_rate"]
            n_base = analysis.options.get("baseline_periods")
            n_follow = analysis.options.get("followup_periods")
            windows = (f"the {n_base} months before the start and the {n_follow} after"
                       if n_base and n_follow else "a window either side of the start")
            text = (f"The before/after comparison in @tbl-effects uses only {windows}: "
                    f"{format_number(base, '.4g')}{unit} before and "
                    f"{format_number(follow, '.4g')}{unit} after.")
            if base > mean_before:
                text += (" That baseline was above the long-run mean before the start, so "
                         "part of the fall it shows is a return towards the usual level "
                         "(regression to the mean), not the scheme.")
            return text
        return ""

    def engagement_rows(self) -> list[dict]:
        """Engagement and staff-experience effects for the cost-consequence table."""
        prof = self.engagement
        if prof is None:
            return []
        names = {"share_referring": "Units referring to the scheme in the first year",
                 "per_1000": "Referrals per 1,000 patients in the first year",
                 "attendance_rate": "MDT meeting attendance",
                 "completion_share": "Care plans completed"}
        rows = []
        for _, r in prof.effects.iterrows():
            lo_hi = (f" ({r['ci_low']:.0f}% to {r['ci_high']:.0f}%)" if r["scale"] == "percent"
                     and pd.notna(r["ci_low"]) else "")
            if r["estimand"] in names:
                value = (f"{r['estimate']:.0f}%{lo_hi}" if r["scale"] == "percent"
                         else format_interval(r))
                if r["diagnostics"].get("suppressed"):  # disclosure control
                    value = self.rules.symbol
                rows.append({"Domain": "Engagement", "Measure": names[r["estimand"]],
                             "Effect (95% CI)": value, "Design": "descriptive",
                             "Maryland level": int(r["evidence_level"])})
            elif r["estimand"] == "proportional_odds_ratio":
                rows.append({"Domain": "Staff experience",
                             "Measure": f"Staff survey: {r['outcome'].replace('_', ' ')} "
                                        "(odds ratio of agreeing more, after against before)",
                             "Effect (95% CI)": f"{r['estimate']:.2f} ({r['ci_low']:.2f} to "
                                                f"{r['ci_high']:.2f})",
                             "Design": "uncontrolled before/after survey",
                             "Maryland level": int(r["evidence_level"])})
        return rows

    def engagement_markdown(self) -> str:
        """Engagement: referrals, MDTs, care plans, the survey, maturity and continuity."""
        prof = self.engagement
        if prof is None:
            return "_The spec declares no engagement data for this scheme._\n"
        ind = prof.indices
        parts = [md_text(ind.headline()), ""]
        spc = prof.referral_spc.overview.iloc[0] if prof.referral_spc is not None else None
        if spc is not None and "sentence" in spc:
            parts += [f"@fig-spc-referrals charts referrals a month across the scheme's "
                      f"units: {md_text(spc['sentence'])}", ""]
        f = prof.funnel.units
        above = f[f["flag"].str.startswith("above")]
        below = f[f["flag"].str.startswith("below")]
        parts += [f"@fig-funnel compares each unit's referrals per 1,000 patients a year "
                  f"with the scheme's average, allowing for the play of chance and for "
                  f"overdispersion: {units_word(len(above))} referred more than the 95% "
                  f"limit allows" + (f" ({md_join(above['unit'])})" if 0 < len(above)
                                     <= 5 else "")
                  + f" and {units_word(len(below), again=True)} fewer"
                  + (f" ({md_join(below['unit'])})" if 0 < len(below) <= 5
                     else "") + ". Low referrers are where engagement work would start.", ""]
        mdt = ind.frames["mdt"].sort_values("rate", kind="stable").reset_index(drop=True)
        shown = self.counts.proportions(mdt["attended"], mdt["invited"], mdt["profession"],
                                        "MDT invitations and attendances")
        hidden = shown.suppressed["numerator"].to_numpy()
        mdt_tab = pd.DataFrame({
            "Profession": mdt["profession"],
            "Meetings invited": shown.table["denominator"].to_numpy(),
            "Attended": shown.table["numerator"].to_numpy(),
            "Attendance (95% CI)": self.counts.share(
                [f"{r:.0%} ({lo:.0%} to {hi:.0%})" for r, lo, hi in
                 zip(mdt["rate"], mdt["ci_low"], mdt["ci_high"], strict=True)], hidden),
        })
        parts += [md_table(mdt_tab), "", ": MDT meeting attendance by profession, with "
                  "Wilson 95% intervals {#tbl-mdt}", ""]
        if prof.survey is not None:
            raw = prof.survey.to_frame()
            sv = raw.pivot(index="item", columns="wave", values="share")
            agree = raw.pivot(index="item", columns="wave", values="agree").reindex(sv.index)
            waves = [w for w in ("before", "after") if w in agree.columns]
            # the report's rules (the profile's, by default) decide which shares are hidden
            raw = raw.assign(hidden=raw["hidden"].to_numpy(bool) | share_hidden(
                raw["agree"], raw["respondents"], self.rules))
            hid = raw.pivot(index="item", columns="wave", values="hidden").reindex(sv.index)
            hide = {w: hid[w].to_numpy(bool) for w in waves}
            self.counts.record("staff agreeing with a survey statement",
                               hid[waves].to_numpy(bool).ravel())
            odds = {item: r.effects.iloc[0] for item, r in prof.survey_change.items()}
            alpha = prof.reliability.to_frame().set_index("wave")["alpha"] \
                if prof.reliability is not None else {}
            sv_tab = pd.DataFrame({
                "Survey statement": [i.replace("_", " ") for i in sv.index],
                "Agree before": self.counts.share(
                    [f"{v:.0%}" for v in sv.get("before", pd.Series(dtype=float))],
                    hide.get("before", [False] * len(sv))),
                "Agree after": self.counts.share(
                    [f"{v:.0%}" for v in sv.get("after", pd.Series(dtype=float))],
                    hide.get("after", [False] * len(sv))),
                "Odds ratio (95% CI)": [f"{odds[i]['estimate']:.2f} ({odds[i]['ci_low']:.2f}"
                                        f" to {odds[i]['ci_high']:.2f})" for i in sv.index]})
            parts += [md_table(sv_tab), "",
                      ": Staff agreeing (4 or 5 on a 1-5 scale) before and after the scheme "
                      "started; the odds ratio of a more favourable answer after, from "
                      "ordinal logistic regression {#tbl-survey}", "",
                      "@fig-likert shows the whole distribution of answers. "
                      + (f"The four statements form a scale with Cronbach's alpha "
                         f"{alpha.get('before', float('nan')):.2f} before and "
                         f"{alpha.get('after', float('nan')):.2f} after. "
                         if len(alpha) else "")
                      + "The survey is an uncontrolled before/after of different "
                        "respondents (Maryland level 1).", ""]
        if prof.maturity is not None:
            m = prof.maturity
            ov = m.overall.pivot(index="network", columns="wave", values="score")
            first, last = m.waves[0], m.waves[-1]
            parts += [f"Networks scored themselves on the ten building blocks of "
                      f"high-performing primary care (1 to 5; @fig-maturity shows the "
                      f"highest- and lowest-scoring networks). The mean network score went "
                      f"from {ov[first].mean():.2f} at {md_text(first)} to "
                      f"{ov[last].mean():.2f} at {md_text(last)} (@tbl-maturity).", ""]
            blocks = m.to_frame().groupby(["label", "wave"], sort=False)["score"].mean() \
                .unstack("wave")
            tab = pd.DataFrame({"Building block": blocks.index,
                                **{f"Mean score, {w}": blocks[w].map("{:.2f}".format)
                                   for w in m.waves},
                                "Change": (blocks[last] - blocks[first]).map(
                                    lambda v: format_number(v, "+.2f"))})
            parts += [md_table(tab), "",
                      f": Network maturity by building block: the mean over the "
                      f"{ov.shape[0]} networks' self-assessments (1 to 5) {{#tbl-maturity}}",
                      ""]
        if prof.continuity is not None:
            g = prof.continuity.groups.reset_index(drop=True)
            n = self.counts.counts(g["n_eligible"].astype(int), "patients (continuity)")
            hidden = self.counts.hidden(n)
            tab = pd.DataFrame({"Patients": g["group"], "n": n,
                                **{name: self.counts.share(g[col].map("{:.2f}".format), hidden)
                                   for name, col in (("UPC", "upc_mean"), ("COC", "coc_mean"),
                                                     ("SECON", "secon_mean"))}})
            parts += [md_table(tab), "",
                      ": Continuity of GP care: mean Usual Provider of Care (UPC), "
                      "Bice-Boxerman (COC) and Sequential Continuity (SECON) indices, "
                      "patients with two or more consultations {#tbl-continuity}", ""]
        if prof.dose_response is not None:
            r = prof.dose_response.effects.set_index("estimand").loc["dose_response_slope"]
            parts += [f"**Engagement and outcomes.** Across the scheme's units, each extra "
                      f"referral per 1,000 patients in the first year went with a change of "
                      f"{format_interval(r)} in {md_text(self.label(prof.outcome).lower())} "
                      f"({'%' if prof.outcome_unit == '%' else 'per 1,000 a month'}) after "
                      f"the start (@fig-dose). This is an association: practices that "
                      "engage more differ in size, staffing and population, so it does not "
                      "show that engagement caused the difference.", ""]
        return "\n".join(parts)

    def _dose_outcome(self) -> str:
        prof = self.engagement
        return "" if prof is None or prof.outcome is None else self.label(prof.outcome)
