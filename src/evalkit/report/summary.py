"""The one-page summary at the front of an evidence summary.

:func:`evidence_summary` gives the scheme in three sentences (what it is, where and for
whom, since when: from the spec and ``schemes.csv``) and a findings table by Quadruple Aim
domain (Bodenheimer and Sinsky, 2014, *Ann Fam Med* 12:573-576): patient experience,
population health outcomes, cost per capita and staff experience, with engagement
alongside. Each finding states the effect with its 95% confidence interval, the design,
its Maryland level and its GRADE-style certainty with the reason, in plain English. The
certainty comes from :func:`evalkit.evidence.certainty.rate_certainty` and the wording from
:func:`evalkit.evidence.findings.finding`; nothing is re-estimated. A domain with no measured
outcome says so rather than disappearing.

Which outcome belongs to which domain
    An outcome whose spec ``domain`` is ``cost`` is cost per capita. The outcomes in
    :data:`PATIENT_EXPERIENCE` (patients' ratings of their practice, continuity of care,
    dying at home rather than in hospital) are patient experience. Every other outcome
    (admissions, bed days, A&E attendances, quality-adjusted life years) is population
    health. Staff experience is the staff survey of the engagement block; engagement is
    the share of units taking part, referral rates, MDT attendance and care plans.

Examples
--------
>>> quadruple_aim_domain("emergency_admissions", {"domain": "outcome"})
'Population health outcomes'
>>> quadruple_aim_domain("cost", {"domain": "cost"})
'Cost per capita'
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import DataError
from evalkit.evidence.certainty import CertaintyResult, design_name, rate_certainty
from evalkit.evidence.findings import finding
from evalkit.evidence.narrative import (
    format_effect,
    format_gbp,
    p_text,
)
from evalkit.evidence.selection import variant_words, window_text
from evalkit.report.markdown_text import md_text

__all__ = ["QUADRUPLE_AIM", "ENGAGEMENT", "PATIENT_EXPERIENCE", "quadruple_aim_domain",
           "scheme_characteristics", "scheme_sentences", "design_phrase", "certainty_why",
           "EvidenceSummary", "evidence_summary", "pipe_table", "auto_widths", "PAGE_CHARACTERS",
           "HEADLINE_RULE", "headline_choice_markdown"]

#: The Quadruple Aim's domains, in the order the summary shows them.
QUADRUPLE_AIM = ("Patient experience", "Population health outcomes", "Cost per capita",
                 "Staff experience")
#: Shown alongside the four domains.
ENGAGEMENT = "Engagement"
#: Outcomes that measure patients' experience of care.
PATIENT_EXPERIENCE = frozenset({"patient_experience", "continuity", "deaths_at_home",
                                "satisfaction", "experience"})

_FORMS = {"PCN": "a Primary Care Network", "cluster": "a GP cluster",
          "federation": "a GP federation", "super-partnership": "a GP super-partnership"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_NOT_MEASURED = {
    "Patient experience": "Not measured in this evaluation: no outcome in the spec measures "
                          "patients' experience of care.",
    "Population health outcomes": "Not measured in this evaluation: the spec declares no "
                                  "health outcome.",
    "Cost per capita": "Not measured in this evaluation: the spec declares no cost outcome "
                       "or economic evaluation.",
    "Staff experience": "Not measured in this evaluation: the spec declares no staff survey.",
    ENGAGEMENT: "Not measured in this evaluation: the spec declares no engagement data.",
}
_START_WHY = {
    5: "randomised, so it starts at high certainty",
    4: "its checks passed, so it starts at moderate certainty",
    3: "other changes at the same time are not ruled out, so it starts at low certainty",
    2: "no comparison group, so it starts at very low certainty",
    1: "no comparison group, so it starts at very low certainty",
}


def quadruple_aim_domain(outcome: str, entry: Mapping[str, Any] | None = None) -> str:
    """The Quadruple Aim domain of a spec outcome (see the module notes)."""
    entry = entry or {}
    if entry.get("domain") == "cost":
        return "Cost per capita"
    if outcome in PATIENT_EXPERIENCE:
        return "Patient experience"
    return "Population health outcomes"


def scheme_characteristics(spec, *, table: str | Path | pd.DataFrame | None = None
                           ) -> dict[str, Any] | None:
    """The scheme's row of ``schemes.csv`` (beside the scheme folders) as a dict, or None.

    Parameters
    ----------
    spec
        The scheme's :class:`~evalkit.evaluation.spec.Spec`.
    table
        The characteristics table or its path (default ``<spec folder>/../schemes.csv``).

    Raises
    ------
    DataError
        If the table has no ``scheme`` column, or names the scheme more than once.
    """
    if isinstance(table, pd.DataFrame):
        frame, file = table, None
    else:
        path = Path(table) if table is not None else spec.folder.parent / "schemes.csv"
        if not path.is_file():
            return None
        frame, file = pd.read_csv(path), str(path)
    if "scheme" not in frame.columns:
        raise DataError("the characteristics table has no 'scheme' column", file=file,
                        column="scheme", fix="add a 'scheme' column naming each scheme")
    hits = np.flatnonzero(frame["scheme"].astype(str).to_numpy() == spec.scheme)
    if len(hits) > 1:
        raise DataError(f"the scheme '{spec.scheme}' is listed more than once", file=file,
                        column="scheme", rows=(hits + 2).tolist(),
                        fix="keep one row per scheme")
    if not len(hits):
        return None
    row = frame.iloc[int(hits[0])].to_dict()
    return {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}


def _month(start: Any) -> str:
    text = str(start)
    try:
        year, month = text[:4], int(text[5:7])
        return f"{_MONTHS[month - 1]} {year}"
    except (ValueError, IndexError):
        return text


def _first_sentence(text: str) -> str:
    text = " ".join(str(text).split())
    if not text:
        return ""
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]


def _spec_start(spec) -> str | None:
    for a in spec.analyses:
        start = a.options.get("start")
        if isinstance(start, str) and len(start) >= 7 and start[4] == "-":
            return start
    start = spec.engagement.get("start") if spec.engagement else None
    return str(start) if start else None


def scheme_sentences(spec, characteristics: Mapping[str, Any] | None = None
                     ) -> tuple[str, str, str]:
    """The scheme in three sentences: what it is, where and for whom, since when.

    Parameters
    ----------
    spec
        The scheme's spec (its ``title`` and ``description``).
    characteristics
        Its row of ``schemes.csv`` (:func:`scheme_characteristics`): ``nation``,
        ``organisational_form``, ``unit_kind``, ``units_in_scheme``, ``start``,
        ``population_covered``, ``scheme_cost_first_year`` and ``funding_per_head``.
        Without it the sentences use the spec alone.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> spec = SimpleNamespace(title="Virtual wards", description="Teams care for people "
    ...     "at home. More text.", analyses=(), engagement={})
    >>> scheme_sentences(spec, {"nation": "England", "organisational_form": "PCN",
    ...     "unit_kind": "practice", "units_in_scheme": 30, "start": "2019-10",
    ...     "population_covered": 397788, "scheme_cost_first_year": 832141,
    ...     "funding_per_head": 2.09})[1]
    'It runs in 30 practices in England, organised as a Primary Care Network, which serve 397,788 people.'
    """  # noqa: E501
    c = dict(characteristics or {})
    what = _first_sentence(spec.description) or f"{spec.title}."
    word = what.split(" ", 1)[0]
    if word == "A" or (len(word) > 1 and word[1:].islower()):
        what = what[0].lower() + what[1:]
    what = f"{spec.title}: {what}"
    if c.get("units_in_scheme") and c.get("nation"):
        kind = str(c.get("unit_kind") or "unit")
        n = int(c["units_in_scheme"])
        where = f"It runs in {n} {kind}{'s' if n != 1 else ''} in {c['nation']}"
        form = c.get("organisational_form")
        if form:
            where += f", organised as {_FORMS.get(str(form), 'a ' + str(form))}"
        if c.get("population_covered"):
            where += f", which serve {float(c['population_covered']):,.0f} people"
        where += "."
    else:
        where = "Where it runs and whom it serves are not recorded beyond the description."
    start = c.get("start") or _spec_start(spec)
    since = f"It started in {_month(start)}" if start else "Its start date is not recorded"
    if c.get("scheme_cost_first_year"):
        since += (f" and cost {format_gbp(float(c['scheme_cost_first_year']))} in its first "
                  "year")
        if c.get("funding_per_head"):
            since += f" (£{float(c['funding_per_head']):.2f} per head of population covered)"
    return what, where, since + "."


def design_phrase(record: Mapping[str, Any]) -> str:
    """The design of an effect record in words, e.g. "interrupted time series against a
    comparison series".

    Examples
    --------
    >>> design_phrase({"design": "prepost", "estimand": "before_after", "diagnostics": {}})
    'uncontrolled before/after comparison'
    """
    design, estimand = record.get("design"), str(record.get("estimand", ""))
    d = record.get("diagnostics") or {}
    d = d if isinstance(d, Mapping) else {}
    if design == "prepost":
        return ("before/after comparison adjusted for regression to the mean"
                if estimand == "before_after_rtm_adjusted"
                else "uncontrolled before/after comparison")
    if design == "its":
        return ("interrupted time series against a comparison series" if d.get("controlled")
                else "single interrupted time series")
    if design == "staggered_did":
        group = {"never": "never-treated", "notyet": "not-yet-treated"}.get(
            str(d.get("control_group")), str(d.get("control_group", "")))
        return (f"difference-in-differences across roll-out waves (Callaway and Sant'Anna), "
                f"against {group} units")
    if design == "did":
        return "difference-in-differences against units outside the scheme"
    if design == "matched":
        return ("matched comparison (propensity score) with difference-in-differences"
                if estimand.startswith("att_did") else "matched comparison after the start")
    if design == "synthetic_control":
        return ("synthetic difference-in-differences" if d.get("method") == "sdid"
                else "synthetic control")
    if design == "economic":
        return {"matched": "economic evaluation against matched patients",
                "did": "economic evaluation, difference-in-differences against all other "
                       "patients",
                "before_after": "economic evaluation, before/after with no comparison group"
                }.get(str(d.get("comparison")), "economic evaluation")
    if design == "likert_change":
        return "uncontrolled before/after survey of different staff"
    return str(design).replace("_", " ")


def _concerns(record: Mapping[str, Any]) -> list[str]:
    """Failed checks on a record, in words (whether or not they lowered its level)."""
    d = record.get("diagnostics") or {}
    out = []
    p = d.get("pretrend_p")
    if p is not None and not (isinstance(p, float) and math.isnan(p)) and float(p) < 0.05:
        out.append(f"trends differed before the start ({p_text(float(p))})")
    if d.get("balance_ok") is False:
        out.append("matching did not balance the groups")
    if d.get("fit_ok") is False:
        out.append("the synthetic control fits poorly before the start")
    if (record.get("design") == "prepost" and record.get("estimand") == "before_after"
            and d.get("rtm_selected_on_baseline")):
        out.append("units chosen at a peak (regression to the mean)")
    return out


def certainty_why(row: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """Why a rating is what it is, in a clause: the design's starting point, what rated it
    down and any failed check.

    Parameters
    ----------
    row
        A row of :attr:`evalkit.evidence.certainty.CertaintyResult.table`.
    record
        Its headline effect record.

    Examples
    --------
    >>> certainty_why({"evidence_level": 3, "downgrades": ["imprecision"]},
    ...               {"ci_low": 0.9, "ci_high": 1.1, "diagnostics": {}})
    'other changes at the same time are not ruled out, so it starts at low certainty; rated down: the 95% CI includes no effect'
    """  # noqa: E501
    level = int(row["evidence_level"])
    parts = [_START_WHY.get(level, "the design")]
    downs = list(row.get("downgrades") or [])
    lo = record.get("ci_low")
    why_down = []
    if "imprecision" in downs:
        has_ci = lo is not None and np.isfinite(float(lo))
        why_down.append("the 95% CI includes no effect" if has_ci else "no confidence interval")
    if "inconsistency" in downs:
        why_down.append("the designs disagree")
    if "risk of bias" in downs and "selection at a peak" in str(row.get("reasons", "")):
        why_down.append("units chosen at a peak, which leaving the peak out removes only in "
                        "part" if variant_words(record.get("diagnostics")) else
                        "units chosen at a peak, which the comparison does not remove")
    if why_down:
        parts.append("rated down: " + " and ".join(why_down))
    parts.extend(_concerns(record))
    return "; ".join(parts)


def _cell_text(value: Any) -> str:
    """A table cell's text as printed: one line, blank for a missing value."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    return " ".join(str(value).split())


def pipe_table(frame: pd.DataFrame, widths: Mapping[str, int], *,
               markdown: Collection[str] = ()) -> str:
    """A left-aligned Pandoc pipe table whose relative column widths follow ``widths``.

    Pandoc (and Quarto) size the columns of a pipe table with long rows by the number of
    dashes under each header, so a wide text column can be given most of the page.

    Every header and cell is text and is shown as it is
    (:func:`evalkit.report.markdown_text.md_text`
    escapes ``|`` and any markup), except the cells of the columns named in ``markdown``:
    Markdown built by evalkit, its text already escaped, put in as it is (one line).

    Examples
    --------
    >>> print(pipe_table(pd.DataFrame({"a": ["x|y"], "b": ["z"]}), {"a": 4, "b": 6}))
    | a | b |
    |:---|:-----|
    | x\\|y | z |
    """
    def cell(v: Any, trusted: bool = False) -> str:
        return _cell_text(v) if trusted else md_text(_cell_text(v))

    trusted = [c in markdown for c in frame.columns]
    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join(":" + "-" * max(3, int(widths.get(c, 10)) - 1)
                          for c in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v, t) for v, t in zip(row, trusted, strict=True)) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


#: The width of a page of table text, in characters (A4 or Letter at a table's font size).
PAGE_CHARACTERS = 90


def auto_widths(frame: pd.DataFrame, page: int = PAGE_CHARACTERS) -> dict[str, int]:
    """Relative column widths for :func:`pipe_table`, as a browser lays out a table.

    Each column gets at least its longest word (split after hyphens, where text may break;
    the bold header's words a fifth wider) and at most its longest cell, plus three
    characters for the cell's padding; when the longest cells
    do not fit on ``page`` characters, what is left after the words is shared in
    proportion to how much more each column would take. Without this, Pandoc sizes a
    column by its longest cell alone, and next to a column of long sentences a short one
    ("Maryland level") shrinks to a letter's width.

    Examples
    --------
    >>> auto_widths(pd.DataFrame({"Level": ["4"], "Finding": ["word " * 60]}))
    {'Level': 9, 'Finding': 81}
    """
    least, most = {}, {}
    for column in frame.columns:
        texts = [_cell_text(column)] + [_cell_text(v) for v in frame[column]]
        # The header is bold, so its words count a fifth wider.
        words = [len(w) * (1.2 if i == 0 else 1.0) for i, t in enumerate(texts)
                 for w in re.split(r"\s+|(?<=-)", t) if w]
        least[column] = max(words, default=1) + 3
        most[column] = max(max(len(t) for t in texts) + 3, least[column])
    if sum(most.values()) <= page:
        return {c: round(most[c]) for c in frame.columns}
    spare = max(0, page - sum(least.values()))
    extra = {c: most[c] - least[c] for c in frame.columns}
    total = sum(extra.values()) or 1
    return {c: max(1, round(least[c] + spare * extra[c] / total)) for c in frame.columns}


@dataclass(frozen=True)
class EvidenceSummary:
    """The one-page summary of a scheme's evidence.

    Attributes
    ----------
    scheme
        The scheme's name.
    sentences
        The scheme in three sentences: what, where and for whom, since when.
    table
        One row per finding: ``domain`` (a Quadruple Aim domain or engagement),
        ``measure``, ``outcome``, ``design``, ``estimand``, ``evidence_level``,
        ``certainty`` (``None`` when not measured or not rated), ``effect`` (the
        estimate with its 95% CI, as the headline table prints it) and ``finding`` (the
        plain-English statement).
    certainty
        The certainty rating of the outcomes
        (from :func:`~evalkit.evidence.certainty.rate_certainty`).
    """

    scheme: str
    sentences: tuple[str, str, str]
    table: pd.DataFrame
    certainty: CertaintyResult | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The findings table (a copy)."""
        return self.table.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The findings, and the certainty ratings behind them."""
        out = {"findings": self.table.copy()}
        if self.certainty is not None:
            out["certainty"] = self.certainty.to_frame()
        return out

    def summary(self) -> str:
        """The three sentences and one line per finding, as plain text."""
        lines = [" ".join(self.sentences), ""]
        lines += [f"{r.domain} / {r.measure}: {r.finding}" for r in self.table.itertuples()]
        return "\n".join(lines)

    def markdown(self) -> str:
        """The summary as Markdown: the sentences, the findings table and how to read it."""
        measured = self.table["outcome"].notna()
        found = [f"**{md_text(m)}.** {md_text(f)}" if ok else md_text(f) for m, f, ok in
                 zip(self.table["measure"], self.table["finding"], measured, strict=True)]
        shown = pd.DataFrame({"Domain": self.table["domain"], "What we found": found})
        shown.loc[shown["Domain"].duplicated(), "Domain"] = ""
        return "\n".join([
            md_text(" ".join(self.sentences)), "",
            pipe_table(shown, {"Domain": 17, "What we found": 83},
                       markdown=["What we found"]), "",
            ": What the scheme did, by Quadruple Aim domain with engagement alongside: each "
            "effect with its 95% CI, design, Maryland level (1 weak to 5 randomised) and "
            "GRADE-style certainty {#tbl-summary}", ""])


def _units(spec, outcome: str, record: Mapping[str, Any]) -> str | None:
    if record.get("scale") == "ratio":
        return None
    label = spec.outcome_label(outcome)
    d = record.get("diagnostics") or {}
    if label.rstrip().endswith("(%)"):
        return "percentage points"
    per = d.get("rate_per") if isinstance(d, Mapping) else None
    if per:
        return f"per {float(per):,.0f} patients a month"
    return None


def _outcome_rows(evaluation, cert: CertaintyResult) -> list[dict]:
    spec = evaluation.spec
    table = cert.table.reset_index(drop=True)
    rows = []
    for outcome, entry in spec.outcomes.items():
        hit = np.flatnonzero(table["outcome"].to_numpy() == outcome)
        if not len(hit):
            continue
        i = int(hit[0])
        row, rec = table.iloc[i].to_dict(), cert.records.iloc[i].to_dict()
        tri = cert.triangulations[i]
        label = spec.outcome_label(outcome)
        units = _units(spec, outcome, rec)
        text = finding(rec, row["certainty"], label=label, consistent_designs=tri,
                       units=units)
        domain = quadruple_aim_domain(outcome, entry)
        text += _detectable(rec, entry.get("better"), units,
                            money=domain == "Cost per capita")
        text += _design_sentence(row, rec) + _lead_sentence(evaluation, row, rec)
        if rec["design"] == "economic" and domain == "Cost per capita":
            text += _net_cost(evaluation)
        rows.append({"domain": domain, "measure": label,
                     "outcome": outcome, "design": rec["design"], "estimand": rec["estimand"],
                     "evidence_level": int(rec["evidence_level"]),
                     "certainty": row["certainty"], "effect": format_effect(rec),
                     "finding": text})
    return rows


def _detectable(rec: Mapping[str, Any], better: str | None, units: str | None, *,
                money: bool = False) -> str:
    """For an effect whose interval includes no effect: the smallest effect the analysis
    could have detected (80% power, two-sided 5%, from the standard error it achieved), so
    that "no change was detected" is not read as "no change" (issue 26). A cost outcome
    (``money``, the Cost per capita domain) states the smallest difference in pounds."""
    from evalkit.power.null_findings import mde_from_se, null_finding_text

    se, scale = rec.get("se"), str(rec.get("scale"))
    if (se is None or not np.isfinite(se) or se <= 0
            or (scale != "ratio" and not units and not money)):
        return ""
    text = null_finding_text(rec, mde_from_se(se, scale), units=units or "", money=money,
                             improvement="increase" if better == "higher" else "decrease")
    return f" {text}" if text else ""


def _design_sentence(row: Mapping[str, Any], rec: Mapping[str, Any]) -> str:
    phrase = design_phrase(rec)
    return (f" {phrase[0].upper()}{phrase[1:]} (Maryland level {int(rec['evidence_level'])}):"
            f" {certainty_why(row, rec)}.")


def _lead_sentence(evaluation, row: Mapping[str, Any], rec: Mapping[str, Any]) -> str:
    """Why the headline design leads where a rule other than the Maryland level chose it,
    and, for a variant robust to selection at a peak, the estimate as designed beside it."""
    d = rec.get("diagnostics") or {}
    if variant_words(d):
        eff = evaluation.effects
        same = eff[(eff["outcome"] == rec["outcome"]) & (eff["design"] == rec["design"])
                   & (eff["estimand"] == rec["estimand"])]
        main = [r for _, r in same.iterrows() if not variant_words(r["diagnostics"])]
        span = window_text(d.get("variant_window"))
        lead = (" It leads, as the units were chosen at a peak: this estimate leaves "
                f"{span} out of the pre-period")
        return lead + (f"; with them in, as designed: {format_effect(main[0])}." if main
                       else ".")
    if rec.get("design") == "staggered_did" and "rolled out in" in str(row.get("chosen")):
        return (" It leads because the scheme was rolled out in waves: each wave is compared "
                "with units outside the scheme at the same time.")
    return ""


#: The rule that chooses each outcome's headline design, for the report's design section.
HEADLINE_RULE = (
    "Where the data support several designs, the summary leads with the one that best "
    "meets the threats they pose: a staggered difference-in-differences for a scheme rolled "
    "out in waves (every wave, each compared with units outside the scheme at the same "
    "time); a synthetic control, or a controlled interrupted time series, for one treated "
    "area; and where the scheme's units were chosen at a peak, the variant of the design "
    "that leaves the months just before the start out of the pre-period, with the estimate "
    "as designed beside it. Otherwise the design with the highest Maryland level leads, and "
    "a before/after never leads over a design with a comparison. Whether the other designs "
    "agree with it is stated beside each finding.")


def headline_choice_markdown(cert: CertaintyResult | None, labels: Mapping[str, str]) -> str:
    """The headline rule and, for each outcome, which design leads and whether the others
    agree (Markdown, text escaped)."""
    out = [f"**Which design leads.** {md_text(HEADLINE_RULE)}"]
    if cert is None:
        return out[0] + "\n"
    items = []
    for (_, row), tri in zip(cert.table.iterrows(), cert.triangulations, strict=True):
        if row["outcome"] not in labels:
            continue
        why = str(row["chosen"]).split(": ", 1)[-1].split("; other designs:")[0]
        agree = f" {md_text(tri.statement)}" if tri.n_designs >= 2 else ""
        items.append(f"- {md_text(labels[row['outcome']])}: "
                     f"{md_text(design_name(row['design']))}, because {md_text(why)}.{agree}")
    return "\n".join([out[0], "", *items]) + "\n"


def _net_cost(evaluation) -> str:
    for analysis, res in evaluation.results:
        if analysis.design != "economic":
            continue
        e = res.effects.set_index("estimand")
        if not {"incremental_cost", "scheme_cost_per_patient"} <= set(e.index):
            return ""
        inc, per = e.loc["incremental_cost"], e.loc["scheme_cost_per_patient", "estimate"]
        return (f" Net of the scheme's own cost ({format_gbp(per)} per patient served): "
                f"{format_gbp(inc['estimate'])} per patient (95% CI "
                f"{format_gbp(inc['ci_low'])} to {format_gbp(inc['ci_high'])}; negative is a "
                "saving).")
    return ""


def _staff_row(profile) -> tuple[dict | None, CertaintyResult | None]:
    if profile is None or not profile.survey_change:
        return None, None
    eff = pd.concat([r.effects for r in profile.survey_change.values()], ignore_index=True)
    cert = rate_certainty(eff)
    lo, hi = eff["ci_low"].to_numpy(float), eff["ci_high"].to_numpy(float)
    up, clear_up, clear_down = int((eff["estimate"] > 1).sum()), int((lo > 1).sum()), \
        int((hi < 1).sum())
    best = int(np.argmax(np.abs(np.log(eff["estimate"].to_numpy(float)))))
    rec = eff.iloc[best].to_dict()
    row = cert.table.iloc[best].to_dict()
    item = str(rec["outcome"]).replace("_", " ")
    cert_word = row["certainty"]
    text = ("The evidence is very uncertain: staff" if cert_word == "very low" else "Staff")
    text += (f" answered more favourably after the start on {up} of {len(eff)} survey "
             f"statements (odds ratios {eff['estimate'].min():.2f} to "
             f"{eff['estimate'].max():.2f}; 95% CI above 1 for {clear_up}, below 1 for "
             f"{clear_down}), most of all on '{item}' (odds ratio {rec['estimate']:.2f}, 95% "
             f"CI {rec['ci_low']:.2f} to {rec['ci_high']:.2f}); {cert_word} certainty."
             + _design_sentence(row, rec))
    return ({"domain": "Staff experience", "measure": "Staff survey (agreement, 1-5 scale)",
             "outcome": str(rec["outcome"]), "design": "likert_change",
             "estimand": str(rec["estimand"]), "evidence_level": int(rec["evidence_level"]),
             "certainty": row["certainty"],
             "effect": f"{rec['estimate']:.2f} (95% CI {rec['ci_low']:.2f} to "
                       f"{rec['ci_high']:.2f})", "finding": text}, cert)


def _engagement_row(profile) -> dict | None:
    if profile is None or profile.indices is None:
        return None
    e = profile.effects.set_index("estimand")
    d = profile.indices.diagnostics
    unit = str(d.get("unit") or profile.unit)
    parts, effect = [], ""

    def pct(name: str) -> str:
        r = e.loc[name]
        if pd.isna(r["estimate"]):  # withheld by disclosure control
            return "* (not shown: small numbers)"
        ci = (f" (95% CI {r['ci_low']:.0f}% to {r['ci_high']:.0f}%)"
              if pd.notna(r["ci_low"]) else "")
        return f"{r['estimate']:.0f}%{ci}"

    if "share_referring" in e.index:
        effect = pct("share_referring")
        parts.append(f"{effect} of the {int(d['n_units'])} scheme {unit}s referred patients in "
                     f"their first {d['window']} {d['period_word']}s")
    if "per_1000" in e.index:
        r = e.loc["per_1000"]
        parts[-1:] = [", ".join(parts[-1:] + [
            f"{r['estimate']:.2f} referrals per 1,000 registered patients (95% CI "
            f"{r['ci_low']:.2f} to {r['ci_high']:.2f})"])]
    if "attendance_rate" in e.index:
        parts.append(f"MDT meetings were attended {pct('attendance_rate')} of the time")
    if "completion_share" in e.index:
        parts.append(f"{pct('completion_share')} of eligible patients had a completed care "
                     "plan")
    if not parts:
        return None
    text = ("; ".join(parts) + ". Descriptive (Maryland level 1): how much units took part, "
            "not an effect, so not rated for certainty.")
    return {"domain": ENGAGEMENT, "measure": "Referrals, MDT attendance, care plans",
            "outcome": "engagement", "design": "engagement", "estimand": "share_referring",
            "evidence_level": 1, "certainty": None, "effect": effect,
            "finding": text[0].upper() + text[1:]}


def _missing_row(domain: str) -> dict:
    return {"domain": domain, "measure": "Not measured", "outcome": None, "design": None,
            "estimand": None, "evidence_level": None, "certainty": None, "effect": "",
            "finding": _NOT_MEASURED[domain]}


def evidence_summary(evaluation, *, characteristics: Mapping[str, Any] | None = None
                     ) -> EvidenceSummary:
    """The one-page summary of a scheme's evaluation.

    Parameters
    ----------
    evaluation
        An :class:`~evalkit.evaluation.pipeline.Evaluation` (from :func:`evalkit.run_spec`).
    characteristics
        The scheme's row of ``schemes.csv``; by default read with
        :func:`scheme_characteristics`.

    Returns
    -------
    EvidenceSummary

    Examples
    --------
    >>> import evalkit as ek  # doctest: +SKIP
    >>> ev = ek.run_spec("data/synthetic/frailty-inequalities/spec.yaml")  # doctest: +SKIP
    >>> evidence_summary(ev).to_frame()["domain"].unique().tolist()  # doctest: +SKIP
    ['Patient experience', 'Population health outcomes', 'Cost per capita', ...]
    """
    spec = evaluation.spec
    chars = characteristics if characteristics is not None else scheme_characteristics(spec)
    eff = evaluation.effects
    eff = eff[np.isfinite(pd.to_numeric(eff["estimate"], errors="coerce"))]
    cert = rate_certainty(eff) if len(eff) else None
    rows = _outcome_rows(evaluation, cert) if cert is not None else []
    profile = evaluation.engagement
    staff, _ = _staff_row(profile)
    if staff is not None:
        rows.append(staff)
    engagement_row = _engagement_row(profile)
    ordered = []
    for domain in (*QUADRUPLE_AIM, ENGAGEMENT):
        mine = [r for r in rows if r["domain"] == domain]
        if domain == ENGAGEMENT:
            mine = [engagement_row] if engagement_row is not None else []
        ordered += mine or [_missing_row(domain)]
    table = pd.DataFrame(ordered, columns=["domain", "measure", "outcome", "design",
                                           "estimand", "evidence_level", "certainty",
                                           "effect", "finding"])
    return EvidenceSummary(scheme=spec.scheme, sentences=scheme_sentences(spec, chars),
                           table=table, certainty=cert)


def md_table(frame: pd.DataFrame, markdown=()) -> str:
    """A pipe table whose columns are sized as a browser would (:func:`auto_widths`); its
    cells are text, but for the columns named in ``markdown`` (see :func:`pipe_table`)."""
    return pipe_table(frame, auto_widths(frame), markdown=markdown)
