"""Data and design choices in an evidence summary: the data used, and why each comparison.

:func:`comparison_groups` says, for every analysis the spec ran, which comparison group the
design actually used (none, units outside the scheme, matched patients, a synthetic
control's donor pool, units not yet or never treated) and why that comparison, in the
scheme's own terms: its units, its dates and the checks the design ran. It reads the
analyses' options and diagnostics; nothing is re-estimated. :func:`data_sources` lists the
data files the spec declares, with what each holds.

Counts of people (patients enrolled, matched or left out) go through the report's
:class:`~evalkit.evidence.published.ReportCounts`.

Examples
--------
>>> unit_words("practice"), unit_words("patient_id"), unit_words("locality")
(('practice', 'practices'), ('patient', 'patients'), ('locality', 'localities'))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from evalkit.evaluation.pipeline import people_analysis
from evalkit.evidence.maryland import LEVEL_TEXT
from evalkit.evidence.narrative import (
    p_text,
)
from evalkit.evidence.published import ReportCounts
from evalkit.evidence.selection import variant_words, window_text
from evalkit.naming import (
    column_label,
    column_words,
    design_label,
)
from evalkit.report.markdown_text import md_text
from evalkit.report.summary import (
    headline_choice_markdown,
    pipe_table,
)

__all__ = ["DATA_KIND_TEXT", "unit_words", "window_words", "in_sentence", "data_sources",
           "data_sources_markdown", "comparison_groups", "comparison_markdown"]

#: What each kind of data table holds, for the report.
DATA_KIND_TEXT = {
    "panel": "activity and list sizes by unit and period",
    "cohort": "one row per patient: characteristics and costs before and after enrolment",
    "referrals": "referrals to the scheme by unit and month",
    "mdt": "invitations to and attendance at multidisciplinary team meetings",
    "survey": "staff survey answers on a 1 to 5 scale, before and after the start",
    "patient_costs": "resource use, costs and quality of life by patient and year",
    "scheme_costs": "the scheme's staffing and set-up costs",
    "care_plans": "care plans due and completed by unit and month",
    "maturity": "network maturity self-assessments on ten building blocks",
    "consultations": "GP consultations by patient (for continuity of care)",
}

_IRREGULAR = {"locality": "localities", "family": "families", "county": "counties",
              "patient_id": "patients", "person_id": "people", "person": "people"}


def unit_words(unit: Any) -> tuple[str, str]:
    """A unit column's name as a reader's word, singular and plural."""
    name = str(unit or "unit")
    plural = _IRREGULAR.get(name)
    single = {"patient_id": "patient", "person_id": "person"}.get(name, name)
    single = single.replace("_", " ")
    return single, plural or (single if single.endswith("s") else f"{single}s")


def data_sources(spec) -> pd.DataFrame:
    """The data files a spec declares: name, file, kind and what each holds."""
    rows = [{"Data": column_label(name), "File": src.path.name, "Kind": column_words(src.kind),
             "What it holds": DATA_KIND_TEXT.get(src.kind, src.kind)}
            for name, src in spec.data.items()]
    return pd.DataFrame(rows, columns=["Data", "File", "Kind", "What it holds"])


def data_sources_markdown(spec) -> str:
    """The data sources as a Markdown table with a caption."""
    return "\n".join([pipe_table(data_sources(spec), {"Data": 18, "File": 21, "Kind": 16,
                                                      "What it holds": 45}), "",
                      ": The data the evaluation used, as declared in the scheme's spec "
                      "{#tbl-data}", ""])


def window_words(w: Any, time: Any = None) -> str:
    """A window of periods in words: "2018-10 to 2019-09", or "year 2" for one period."""
    if not isinstance(w, (list, tuple)) or len(w) != 2:
        return str(w)
    if str(w[0]) == str(w[1]):
        return f"{time} {w[0]}" if time and str(w[0]).isdigit() else str(w[0])
    return f"{w[0]} to {w[1]}"


def in_sentence(label: str) -> str:
    """A label inside a sentence: lower-case first letter unless it starts an acronym."""
    word = label.split(" ", 1)[0]
    if word and (len(word) == 1 or word[1:].islower()):
        return label[:1].lower() + label[1:]
    return label


def _prepost(ev, a, r, d, counts) -> tuple[str, str]:
    one, many = unit_words(a.options.get("unit"))
    time = a.options.get("time")
    before = window_words(d.get("baseline_window"), time)
    after = window_words(d.get("followup_window"), time)
    comparison = f"None: the scheme's own {many} in {before} against {after}."
    why = ("A before/after is the one comparison available for every unit; it shows what "
           "changed, not why, because anything else that changed over the same time counts "
           "as the scheme's effect.")
    if d.get("rtm_population_units"):
        n = d["rtm_population_units"]
        n = (counts.count(n, f"{many} in the population") if counts is not None
             and people_analysis(ev, a) else f"{int(n):,}")
        why += (f" The adjustment for regression to the mean uses all {n} {many} (the "
                f"scheme's and the others) from {window_words(d.get('rtm_reference_window'), time)}"
                " only to estimate the change common to every unit, not as a comparison "
                "group.")
    if a.options.get("selected_on_baseline"):
        why += (f" The scheme chose its {many} for high values, so the unadjusted change "
                "overstates what it did.")
    return comparison, why


def _its(ev, a, r, d, counts) -> tuple[str, str]:
    one, many = unit_words(ev.spec.engagement.get("unit") if ev.spec.engagement else None)
    start = ", ".join(d.get("interruptions", [])) or str(a.options.get("start"))
    n = int(d.get("n_points", 0)) // (2 if d.get("controlled") else 1)
    if d.get("controlled"):
        comparison = (f"The {many} outside the scheme (column '{a.options.get('control')}'), "
                      f"added up into one comparison series over the same {n} "
                      f"{a.options.get('time', 'period')}s.")
        p = d.get("pretrend_p")
        why = (f"They lived through the same seasons, coding changes and national policies as "
               f"the scheme's {many}, so comparing the two series removes changes common to "
               f"both around {start}. This relies on the two series having moved in parallel "
               "before the start")
        why += (f": the test gives {p_text(p)}, "
                + ("so they did not, and the evidence level is held at 3." if p < 0.05
                   else "with no evidence that they did not.")
                if p is not None else ".")
        return comparison, why
    comparison = ("None: the scheme's own series; the counterfactual is its trend and "
                  "seasonality before the start, projected forward.")
    why = (f"No units outside the scheme were named for this outcome. {n} periods of history "
           f"let the model learn the trend before {start}; a change at the same time as the "
           "start would still be credited to the scheme.")
    return comparison, why


def _staggered(ev, a, r, d, counts) -> tuple[str, str]:
    one, many = unit_words(a.options.get("unit"))
    cohorts = ", ".join(d.get("cohorts", []))
    if d.get("control_group") == "notyet":
        comparison = (f"{many.capitalize()} that had not yet joined: each wave ({cohorts}) is "
                      f"compared with {many} joining later, until they join.")
    else:
        comparison = (f"The {d.get('never_treated_units', 'never-treated')} {many} that never "
                      f"joined, for each wave ({cohorts}).")
    p = d.get("pretrend_p")
    why = (f"The scheme was rolled out in waves, so {many} are compared at the same calendar "
           "time, which removes shocks common to all; it assumes joining and comparison "
           f"{many} would have moved in parallel")
    why += (f" (pre-adoption effects jointly zero: {p_text(p)})." if p is not None else ".")
    if d.get("honest_breakdown_mbar") is not None:
        why += (" How far that assumption can fail before the conclusion changes is in the "
                "robustness section.")
    return comparison, why


def _did(ev, a, r, d, counts) -> tuple[str, str]:
    one, many = unit_words(a.options.get("unit"))
    comparison = (f"All {many} not in the scheme (column '{a.options.get('treated')}' = 0)"
                  + (f", in {d['clusters'] - d['treated_clusters']} "
                     f"{unit_words(a.options.get('cluster'))[1]} outside the scheme"
                     if d.get("clusters") and d.get("treated_clusters") is not None else "")
                  + ".")
    why = (f"The change in the other {many} over the same years removes changes common to "
           "both groups (prices, coding, national policy); differences in level are allowed, "
           "differences in trend are not.")
    return comparison, why


def _matched(ev, a, r, d, counts) -> tuple[str, str]:
    one, many = unit_words(a.options.get("unit") or ("patient" if people_analysis(ev, a) else None))
    people = people_analysis(ev, a)

    def n(v: Any, what: str) -> str:
        return counts.count(v, what) if people and counts is not None else f"{int(v):,}"

    on = [column_words(c) for c in
          list(a.options.get("covariates") or []) + list(a.options.get("pre") or [])]
    method = {"nearest": "nearest-neighbour propensity-score matching",
              "ipw": "inverse probability weighting",
              "entropy": "entropy balancing"}.get(d.get("method"), str(d.get("method")))
    used = d.get("n_controls_used", d.get("n_control"))
    comparison = (f"{n(used, 'comparison patients matched')} {many} not in the scheme, "
                  f"chosen by {method} on {', '.join(on)}.")
    why = (f"Enrolment was targeted, so {many} outside the scheme differ from enrolled ones "
           "from the start; matching makes them alike on what was measured before enrolment "
           "(largest standardised difference after matching "
           f"{d.get('max_abs_smd_after', float('nan')):.2f}"
           + (", balanced" if d.get("balance_ok") else ", not balanced: the level is held "
              "at 3") + "), not on what was not measured.")
    if d.get("n_unmatched_treated"):
        why += (f" {n(d['n_unmatched_treated'], 'enrolled patients unmatched')} of "
                f"{n(d['n_treated'], 'enrolled patients')} enrolled {many} had no close match "
                "and were left out.")
    return comparison, why


def _synth(ev, a, r, d, counts) -> tuple[str, str]:
    one, many = unit_words(a.options.get("unit"))
    if d.get("method") == "sdid":
        comparison = (f"The {d.get('n_donors')} other {many}, weighted (synthetic "
                      "difference-in-differences).")
        why = (f"Few {many} were treated; the weights make the comparison track them before "
               "the start, and the difference-in-differences allows a constant gap.")
        return comparison, why
    comparison = (f"A weighted average of {d.get('n_nonzero_weights')} of the "
                  f"{d.get('n_donors')} other {many} (the donor pool) for {d.get('treated_unit')}.")
    why = (f"One {one} was treated, too few for a group comparison. The weights are chosen so "
           f"that the synthetic {one} tracks {d.get('treated_unit')} over the "
           f"{d.get('pre_periods')} periods before the start (prediction error "
           f"{d.get('pre_rmspe', float('nan')):.3g}, "
           + ("a good fit" if d.get("fit_ok") else "a poor fit: the level is held at 3")
           + f"); {many} with schemes of their own should be left out of the pool.")
    return comparison, why


def _economic(ev, a, r, d, counts) -> tuple[str, str]:
    def n(v: Any, what: str) -> str:
        return counts.count(v, what) if counts is not None else f"{int(v):,}"

    kind = d.get("comparison")
    if kind == "matched":
        comparison = (f"{n(d.get('n_matched_pairs', 0), 'matched pairs')} pairs of enrolled and "
                      f"non-enrolled patients, matched on "
                      f"{', '.join(column_words(c) for c in d.get('matched_on', []))}.")
        why = ("Patients were enrolled after costly years, so their costs would have fallen "
               "anyway; patients with the same costs and quality of life before show that "
               "fall.")
    elif kind == "did":
        comparison = (f"All {n(d.get('n_comparison', 0), 'comparison patients')} patients not "
                      "enrolled.")
        why = ("The change in other patients' costs over the same years removes changes "
               "common to both (prices, services); the groups may still differ in trend.")
    else:
        comparison = "None: enrolled patients in the year before against the year after."
        why = ("No comparison patients were available; if patients were enrolled after a "
               "costly year, part of the fall in their costs would have happened anyway.")
    return comparison, why


_WHY = {"prepost": _prepost, "its": _its, "staggered_did": _staggered, "did": _did,
        "matched": _matched, "synthetic_control": _synth, "economic": _economic}


def comparison_groups(evaluation, counts: ReportCounts | None = None) -> pd.DataFrame:
    """The comparison group of every analysis and why it was used.

    Parameters
    ----------
    evaluation
        The scheme's :class:`~evalkit.evaluation.pipeline.Evaluation`.
    counts
        The report's disclosure control for counts of people (none: shown as they are).

    Returns
    -------
    pandas.DataFrame
        One row per analysis block (an analysis run on several outcomes is one row):
        ``analysis`` (its label), ``design``, ``outcomes``, ``comparison`` and ``why``.
    """
    rows: list[dict[str, Any]] = []
    seen: dict[tuple, int] = {}
    main: dict[tuple, int] = {}
    for analysis, res in evaluation.results:
        key = (analysis.design, analysis.data, analysis.label)
        label = evaluation.spec.outcome_label(analysis.outcome)
        d = res.effects.iloc[0]["diagnostics"] if len(res.effects) else {}
        d = d if isinstance(d, Mapping) else {}
        if variant_words(d):  # the robust variant: the same comparison, said with the main
            at = main.get((analysis.design, analysis.data))
            note = (" The scheme's units were chosen at a peak, so a variant of this "
                    f"comparison leaves {window_text(d.get('variant_window'))} out "
                    "of the pre-period (see the robustness section).")
            if at is not None and note not in rows[at]["why"]:
                rows[at]["why"] += note
            continue
        if key in seen:
            rows[seen[key]]["outcomes"] += f", {in_sentence(label)}"
            continue
        how = _WHY.get(analysis.design)
        comparison, why = how(evaluation, analysis, res, d, counts) if how else (
            "As the design defines it.", "")
        seen[key] = main[(analysis.design, analysis.data)] = len(rows)
        rows.append({"analysis": analysis.label or analysis.data, "design": analysis.design,
                     "outcomes": label, "comparison": comparison, "why": why})
    return pd.DataFrame(rows, columns=["analysis", "design", "outcomes", "comparison", "why"])


def comparison_markdown(evaluation, counts: ReportCounts | None = None) -> str:
    """Why each comparison group, as a Markdown list (one item per analysis)."""
    frame = comparison_groups(evaluation, counts)
    items = [f"- **{md_text(r.outcomes)}** ({md_text(r.analysis)}). *Comparison:* "
             f"{md_text(r.comparison)} *Why:* {md_text(r.why)}" for r in frame.itertuples()]
    return "\n".join(items) + "\n"


def covariate_names(d: dict) -> list[str]:
    """Up to four covariates still out of balance after matching, in words."""
    return [column_words(c) for c in d.get("imbalanced_covariates", [])[:4]]


def units_word(n: int, *, again: bool = False) -> str:
    """A count of units in words: "no unit", "1 unit", "3 units" (``again``: the noun is
    left out after its first use, "and 2 fewer", "and none fewer")."""
    if again:
        return "none" if n == 0 else f"{n:,}"
    return "no unit" if n == 0 else f"{n:,} unit" + ("" if n == 1 else "s")


def _plain_count(value, what: str) -> str:
    """A count as it is (the default when no disclosure control is given)."""
    return f"{int(value):,}"


def _how_prepost(first: pd.Series, d: dict, show=_plain_count, time: str | None = None
                 ) -> str:
    # A one-period window is that period ("baseline year 2"), never "2 to 2".
    how = (f"baseline {window_words(d['baseline_window'], time or 'period')}, "
           f"follow-up {window_words(d['followup_window'], time or 'period')}; "
           f"{show(first['n_units'], 'units')} units")
    if d.get("baseline_events") is not None and d.get("followup_events") is not None:
        how += (f"; {show(d['baseline_events'], 'events')} events in the baseline and "
                f"{show(d['followup_events'], 'events')} in the follow-up")
    return how


def _how_its(first: pd.Series, d: dict, show=_plain_count) -> str:
    how = (("controlled, against a comparison series" if d.get("controlled")
            else "single series")
           + f"; {d['n_points'] // (2 if d.get('controlled') else 1)} periods"
           + (" in each series" if d.get("controlled") else "") + ", start "
           f"{', '.join(d['interruptions'])}; {d['method']}; autocorrelation: "
           f"{d['remedy_reason']}")
    if d.get("controlled"):
        how += (f"; parallel pre-trends test {p_text(d['pretrend_p'])}"
                + (" (failed: level lowered)" if d["pretrend_p"] < 0.05 else ""))
    return how


def _how_staggered(first: pd.Series, d: dict, show=_plain_count) -> str:
    return (f"cohorts {', '.join(d['cohorts'])}; {d['control_group']}-treated "
            f"controls; {d['units']} units; {d['inference']}; pre-treatment "
            f"effects jointly zero: {p_text(d['pretrend_p'])}")


def _how_did(first: pd.Series, d: dict, show=_plain_count) -> str:
    return (f"{show(first['n_units'], 'units')} units, "
            f"{show(d['observations'], 'observations')} observations; "
            f"{first['pre_periods']} periods before the first treated period and "
            f"{first['post_periods']} from it; {d['inference']}")


def _how_matched(first: pd.Series, d: dict, show=_plain_count) -> str:
    method = {"nearest": f"nearest-neighbour propensity-score matching ({d.get('ratio', 1)}:1"
                         + (", with replacement" if d.get("replace") else "")
                         + (f", caliper {d['caliper']} SD of the {d['distance']} score"
                            if d.get("caliper") else "") + ")",
              "ipw": "inverse probability weighting",
              "entropy": "entropy balancing"}.get(d.get("method"), str(d.get("method")))
    n_t = d.get("n_matched_treated", d.get("n_treated"))
    how = (f"{method}; {show(n_t, 'treated units kept')} of "
           f"{show(d['n_treated'], 'treated units')} treated units kept, "
           f"{show(d.get('n_controls_used', d.get('n_control')), 'comparison units used')} "
           f"comparison units used; largest "
           f"|standardised mean difference| after matching "
           f"{d['max_abs_smd_after']:.3f} ("
           + ("balanced" if d.get("balance_ok") else "not balanced: level lowered") + ")")
    if d.get("pre_outcomes"):
        how += ("; difference-in-differences on "
                + ", ".join(column_words(c) for c in d["pre_outcomes"]))
    return how


def _how_synth(first: pd.Series, d: dict, show=_plain_count) -> str:
    if d.get("method") == "sdid":
        return (f"synthetic difference-in-differences; {len(d['treated_units'])} treated "
                f"and {d['n_donors']} comparison units; {d['pre_periods']} periods before "
                f"the start; placebo standard error")
    top = ", ".join(f"{u} {w:.2f}" for u, w in d.get("top_weights", [])[:4])
    how = (f"{d['method']} synthetic control of {d['treated_unit']} from {d['n_donors']} "
           f"donors ({d['n_nonzero_weights']} with weight"
           + (f": {top}" if top else "") + f"); {d['pre_periods']} periods before the "
           f"start; pre-period RMSPE {d['pre_rmspe']:.3g} ("
           + ("good fit" if d.get("fit_ok") else "poor fit: level held at 3") + ")")
    if d.get("method") == "augmented":
        how += (f"; ridge bias correction (penalty {d['ridge_lambda']:.3g}, "
                f"{d['n_negative_weights']} negative weight(s))")
    if d.get("rank") is not None:
        how += (f"; ranked {d['rank']} of {d['n_placebos'] + 1} on the post/pre RMSPE ratio "
                f"(placebo {p_text(d['p_value'])})")
    return how


def _how_economic(first: pd.Series, d: dict, show=_plain_count) -> str:
    how = (f"{ECONOMIC_COMPARISONS[d['comparison']]}; "
           f"{show(d['n_enrolled'], 'enrolled patients')} enrolled patients"
           + (f", {show(d['n_matched_pairs'], 'matched pairs')} matched pairs"
              if d.get("n_matched_pairs") else "")
           + f"; scheme cost spread over {show(d['patients_served'], 'patients served')} "
             "patients a year; "
           f"{d['n_resamples']:,} bootstrap replicates"
           + ({"practice": ", practices resampled whole", "area": ", areas resampled whole",
               None: ""}.get(d.get("cluster"), ", clusters resampled whole")))
    if d["comparison"] == "matched":
        how += (f"; largest |SMD| after matching {d['max_abs_smd_after']:.3f} ("
                + ("balanced" if d.get("balance_ok") else "not balanced: level held at 3")
                + ")")
    return how


#: How each design is described in the report's design section.
_DESCRIBE = {"prepost": _how_prepost, "its": _how_its, "staggered_did": _how_staggered,
             "did": _how_did,
             "matched": _how_matched, "synthetic_control": _how_synth,
             "economic": _how_economic}


def describe_design(design: str, first: pd.Series, show=None, *, time: str | None = None
                    ) -> str:
    """One line on how a design was applied, from its first effect record's diagnostics.

    ``show(count, what)`` formats each count of people or events (default: as it is; a
    report passes :meth:`evalkit.evidence.published.ReportCounts.count`); ``time`` names
    the period (``"year"``) for a before/after window of one period.
    """
    show = show or _plain_count
    how = _DESCRIBE.get(design)
    d = first["diagnostics"]
    if design == "prepost":
        return _how_prepost(first, d, show, time)
    return how(first, d, show) if how else f"{show(first['n_units'], 'units')} units"


class DesignSection:
    """The design choices part of :class:`~evalkit.report.context.ReportContext` (a mixin: it
    reads the context's ``evaluation``, ``spec``, ``counts`` and helpers)."""

    def comparison_markdown(self) -> str:
        """Why each comparison group: the one each design used, in the scheme's terms."""
        return comparison_markdown(self.evaluation, self.counts)

    def design_markdown(self) -> str:
        """The designs used and their strength of evidence."""
        out = []
        for analysis, res in self.evaluation.results:
            levels = sorted(set(res.effects["evidence_level"]))
            how = describe_design(analysis.design, res.effects.iloc[0],
                                  self._show(people_analysis(self.evaluation, analysis)),
                                  time=analysis.options.get("time"))
            out.append(f"- **{md_text(self.label(analysis.outcome))}**: "
                       f"{md_text(design_label(analysis.design))} "
                       f"({md_text(analysis.label or analysis.data)}): {md_text(how)}. "
                       f"Maryland level"
                       f"{'s' if len(levels) > 1 else ''} {' and '.join(map(str, levels))}.")
        levels = sorted(set(self.evaluation.effects["evidence_level"]))
        out.append("")
        out.append("**Strength of evidence.** " + " ".join(LEVEL_TEXT[lv] for lv in levels))
        out.append("")
        out.append(headline_choice_markdown(self.findings_summary.certainty,
                                            {o: self.label(o) for o in self.spec.outcomes}))
        return "\n".join(out) + "\n"


#: How each economic comparison is described.
ECONOMIC_COMPARISONS = {
    "before_after": "the change in enrolled patients from the year before enrolment to the "
                    "year after (no comparison group)",
    "did": "the change in enrolled patients against the change in all other patients "
           "(difference-in-differences)",
    "matched": "the change in enrolled patients against the change in patients matched on "
               "their costs and quality of life before enrolment (matched "
               "difference-in-differences)",
}
