"""The SQUIRE 2.0 and TREND checklist of an evidence summary, mapped to its sections.

SQUIRE 2.0 (Standards for QUality Improvement Reporting Excellence; Ogrinc G, Davies L,
Goodman D, et al., 2016, *BMJ Qual Saf* 25:986-992) has 18 items. TREND (Transparent
Reporting of Evaluations with Nonrandomized Designs; Des Jarlais DC, Lyles C, Crepaz N and
the TREND Group, 2004, *Am J Public Health* 94:361-366) has 22 and applies to the
non-randomised comparisons: it is listed when the scheme has a design with a comparison
group (anything beyond an uncontrolled before/after).

Each item gets a status, said honestly: ``reported``, ``partly reported``, ``not
reported`` or ``not applicable``, with the section of the report that addresses it (a
link to the section) or the reason it does not. The statuses follow from what the
scheme's evaluation holds (:class:`ChecklistFacts`), not from a fixed list.

Examples
--------
>>> facts = ChecklistFacts(comparison=False)
>>> c = checklist(facts)
>>> sorted(set(c.table["guideline"]))
['SQUIRE 2.0']
>>> c.table.loc[c.table["item"] == "Available knowledge", "status"].iloc[0]
'not reported'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from evalkit.report.summary import pipe_table

__all__ = ["SECTIONS", "STATUSES", "ChecklistFacts", "Checklist", "checklist",
           "checklist_facts", "section_link"]

#: The report's sections: identifier (without ``#``) and heading, in order.
SECTIONS = {
    "sec-summary": "Summary",
    "sec-scheme": "The scheme",
    "sec-design": "Data and design choices",
    "sec-engagement": "Engagement",
    "sec-outcomes": "Outcomes",
    "sec-costs": "Costs",
    "sec-robustness": "Robustness and sensitivity",
    "sec-limitations": "Limitations",
    "sec-glossary": "Appendix: glossary",
    "sec-checklist": "Appendix: SQUIRE 2.0 and TREND checklist",
    "sec-disclosure": "Appendix: counts and disclosure control",
    "sec-provenance": "Appendix: provenance",
}
#: The statuses an item can have.
STATUSES = ("reported", "partly reported", "not reported", "not applicable")


def section_link(key: str) -> str:
    """A Markdown link to a section, e.g. ``[The scheme](#sec-scheme)``."""
    return f"[{SECTIONS[key]}](#{key})"


@dataclass(frozen=True)
class ChecklistFacts:
    """What a scheme's evaluation holds, as the checklist needs it.

    Attributes
    ----------
    comparison
        Any design with a comparison group (TREND applies).
    engagement
        The engagement section has measures (referrals, MDT, care plans).
    costs
        There is an economic evaluation.
    matched
        A matched comparison (enrolled, matched and unmatched numbers).
    characteristics
        The scheme's context (nation, organisational form, population) is known.
    synthetic
        The data are synthetic.
    robustness
        The designs ran robustness checks (pre-trends, placebos, balance, sensitivity).
    staggered
        The scheme was rolled out in waves.
    """

    comparison: bool = True
    engagement: bool = True
    costs: bool = True
    matched: bool = False
    characteristics: bool = True
    synthetic: bool = True
    robustness: bool = True
    staggered: bool = False


_Resolve = Callable[[ChecklistFacts], tuple[str, str]]


def _links(*keys: str) -> str:
    return "; ".join(section_link(k) for k in keys)


def _fixed(status: str, *keys: str, note: str = "") -> _Resolve:
    def resolve(f: ChecklistFacts) -> tuple[str, str]:
        where = _links(*keys) if keys else ""
        return status, "; ".join(x for x in (where, note) if x)
    return resolve


def _context(f: ChecklistFacts) -> tuple[str, str]:
    if f.characteristics:
        return "reported", _links("sec-scheme") + " (nation, organisational form, population)"
    return "partly reported", _links("sec-scheme") + " (description only; no schemes.csv row)"


def _study_of_intervention(f: ChecklistFacts) -> tuple[str, str]:
    if f.engagement:
        return "reported", (_links("sec-engagement") + " (referrals, MDT attendance, care "
                            "plans, staff survey, network maturity)")
    return "not reported", "the spec declares no engagement data"


def _intervention(f: ChecklistFacts) -> tuple[str, str]:
    if f.costs:
        return "reported", _links("sec-scheme", "sec-costs") + " (staffing and set-up costs)"
    return "partly reported", _links("sec-scheme") + " (description; no costs)"


def _ethics(f: ChecklistFacts) -> tuple[str, str]:
    if f.synthetic:
        return "reported", ("synthetic data, no personal data (notice on every page); "
                            + _links("sec-disclosure"))
    return "partly reported", (_links("sec-disclosure")
                               + "; ethical approval and data-sharing agreements are not "
                                 "recorded in the spec")


def _funding(f: ChecklistFacts) -> tuple[str, str]:
    if f.synthetic:
        return "not applicable", "synthetic case study; " + _links("sec-provenance")
    return "not reported", "the spec records no funding or conflicts of interest"


def _robust(f: ChecklistFacts) -> tuple[str, str]:
    if f.robustness:
        return "reported", _links("sec-robustness")
    return "not reported", "the designs ran no robustness checks"


def _flow(f: ChecklistFacts) -> tuple[str, str]:
    if f.matched:
        return "partly reported", (_links("sec-design") + " (enrolled, matched and unmatched "
                                   "patients); no flow diagram")
    return "not reported", ("routine data on whole practices or areas; no participant flow "
                            "diagram")


def _recruitment(f: ChecklistFacts) -> tuple[str, str]:
    where = _links("sec-scheme")
    return "reported", where + (" (start date; roll-out waves in " + _links("sec-design") + ")"
                                if f.staggered else " (start date)")


def _equivalence(f: ChecklistFacts) -> tuple[str, str]:
    return "reported", (_links("sec-design", "sec-robustness")
                        + " (balance after matching, parallel pre-start trends, synthetic "
                          "control fit)")


#: SQUIRE 2.0 items: (number, item, resolver).
SQUIRE: tuple[tuple[str, str, _Resolve], ...] = (
    ("1", "Title", _fixed("reported", note="the title names the scheme and the evaluation")),
    ("2", "Abstract", _fixed("reported", "sec-summary")),
    ("3", "Problem description", _fixed("reported", "sec-scheme")),
    ("4", "Available knowledge", _fixed(
        "not reported", note="no review of earlier evidence; the comparative synthesis sets "
                             "schemes side by side")),
    ("5", "Rationale", _fixed("not reported", note="no programme theory or logic model is "
                                                    "recorded in the spec")),
    ("6", "Specific aims", _fixed("partly reported", "sec-summary", "sec-scheme",
                                  note="the outcomes evaluated; the scheme's own targets are "
                                       "not recorded")),
    ("7", "Context", _context),
    ("8", "Intervention(s)", _intervention),
    ("9", "Study of the intervention(s)", _study_of_intervention),
    ("10", "Measures", _fixed("reported", "sec-design", "sec-outcomes")),
    ("11", "Analysis", _fixed("reported", "sec-design", "sec-robustness")),
    ("12", "Ethical considerations", _ethics),
    ("13", "Results", _fixed("reported", "sec-summary", "sec-engagement", "sec-outcomes",
                             "sec-costs")),
    ("14", "Summary", _fixed("reported", "sec-summary")),
    ("15", "Interpretation", _fixed("reported", "sec-outcomes", "sec-limitations",
                                    note="certainty of each finding in the summary")),
    ("16", "Limitations", _fixed("reported", "sec-limitations")),
    ("17", "Conclusions", _fixed("partly reported", "sec-summary", "sec-outcomes",
                                 note="findings in words; no recommendations")),
    ("18", "Funding", _funding),
)

#: TREND items: (number, item, resolver).
TREND: tuple[tuple[str, str, _Resolve], ...] = (
    ("1", "Title and abstract", _fixed("reported", "sec-summary",
                                       note="the design of each finding is named")),
    ("2", "Background", _fixed("partly reported", "sec-scheme",
                               note="no theory of how the scheme works")),
    ("3", "Participants", _fixed("reported", "sec-scheme", "sec-design")),
    ("4", "Interventions", _intervention),
    ("5", "Objectives", _fixed("partly reported", "sec-summary",
                               note="no hypotheses are recorded in the spec")),
    ("6", "Outcomes", _fixed("reported", "sec-design", "sec-outcomes")),
    ("7", "Sample size", _fixed("not reported", note="no power calculation; the units "
                                                     "analysed are in the headline table")),
    ("8", "Assignment method", _fixed("reported", "sec-design", "sec-limitations",
                                      note="how units came into the scheme and the "
                                           "comparison group used")),
    ("9", "Blinding (masking)", _fixed("not applicable",
                                       note="routine data: no one was blinded")),
    ("10", "Unit of analysis", _fixed("reported", "sec-design")),
    ("11", "Statistical methods", _fixed("reported", "sec-design", "sec-robustness")),
    ("12", "Participant flow", _flow),
    ("13", "Recruitment", _recruitment),
    ("14", "Baseline data", _fixed("partly reported", "sec-outcomes", "sec-limitations",
                                   note="outcomes before the start; no table of baseline "
                                        "characteristics")),
    ("15", "Baseline equivalence", _equivalence),
    ("16", "Numbers analysed", _fixed("reported", "sec-outcomes",
                                      note="units in the headline table")),
    ("17", "Outcomes and estimation", _fixed("reported", "sec-outcomes",
                                             note="each effect with its 95% CI")),
    ("18", "Ancillary analyses", _robust),
    ("19", "Adverse events", _fixed("not reported",
                                    note="the data hold no adverse events; outcomes that "
                                         "worsened are reported as findings")),
    ("20", "Interpretation", _fixed("reported", "sec-limitations", "sec-outcomes")),
    ("21", "Generalizability", _fixed("partly reported", "sec-limitations",
                                      note="one scheme; the comparative synthesis compares "
                                           "schemes")),
    ("22", "Overall evidence", _fixed("reported", "sec-summary",
                                      note="certainty of the evidence for each finding")),
)


@dataclass(frozen=True)
class Checklist:
    """A reporting checklist with each item's status and where it is addressed.

    Attributes
    ----------
    table
        One row per item: ``guideline`` (``SQUIRE 2.0`` or ``TREND``), ``number``,
        ``item``, ``status`` (one of :data:`STATUSES`) and ``where`` (Markdown links to
        sections, and notes).
    facts
        What the checklist was resolved from.
    """

    table: pd.DataFrame
    facts: ChecklistFacts

    def to_frame(self) -> pd.DataFrame:
        """The checklist (a copy)."""
        return self.table.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """Items by guideline and status."""
        counts = self.table.groupby(["guideline", "status"], as_index=False).size()
        return {"items": self.table.copy(), "counts": counts}

    def summary(self) -> str:
        """How many items are reported, partly, not reported or not applicable."""
        lines = []
        for g, sub in self.table.groupby("guideline", sort=False):
            n = sub["status"].value_counts()
            lines.append(f"{g}: " + ", ".join(f"{int(n.get(s, 0))} {s}" for s in STATUSES))
        return "\n".join(lines)

    def markdown(self) -> str:
        """The checklist as one Markdown table per guideline, with captions."""
        out = []
        for g, sub in self.table.groupby("guideline", sort=False):
            tab = pd.DataFrame({"Item": sub["number"] + ". " + sub["item"],
                                "Status": sub["status"], "Where it is addressed": sub["where"]})
            label = "tbl-squire" if g.startswith("SQUIRE") else "tbl-trend"
            source = ("Ogrinc et al. 2016" if g.startswith("SQUIRE")
                      else "Des Jarlais et al. 2004")
            # "where" is evalkit's own Markdown (links to sections), from no spec or data
            out += [pipe_table(tab, {"Item": 26, "Status": 14, "Where it is addressed": 60},
                               markdown=["Where it is addressed"]),
                    "", f": {g} reporting items ({source}) and the section of this report "
                        f"that addresses each {{#{label}}}", ""]
        return "\n".join(out)


def checklist(facts: ChecklistFacts) -> Checklist:
    """Resolve the SQUIRE 2.0 (and, with a comparison group, TREND) checklist.

    Parameters
    ----------
    facts
        What the evaluation holds (see :func:`checklist_facts`).

    Returns
    -------
    Checklist
    """
    rows = []
    guides = [("SQUIRE 2.0", SQUIRE)] + ([("TREND", TREND)] if facts.comparison else [])
    for guideline, items in guides:
        for number, item, resolve in items:
            status, where = resolve(facts)
            rows.append({"guideline": guideline, "number": number, "item": item,
                         "status": status, "where": where})
    return Checklist(table=pd.DataFrame(rows, columns=["guideline", "number", "item",
                                                       "status", "where"]), facts=facts)


def checklist_facts(evaluation, *, characteristics: bool = True) -> ChecklistFacts:
    """The :class:`ChecklistFacts` of a scheme's evaluation."""
    designs = {a.design for a, _ in evaluation.results}
    controlled_its = any(a.design == "its" and r.effects.iloc[0]["diagnostics"].get("controlled")
                         for a, r in evaluation.results if len(r.effects))
    comparison = bool(designs - {"prepost", "its", "economic"}) or controlled_its or any(
        r.diagnostics.get("comparison") in ("did", "matched") for a, r in evaluation.results
        if a.design == "economic")
    prof = evaluation.engagement
    return ChecklistFacts(
        comparison=comparison,
        engagement=prof is not None and prof.indices is not None,
        costs="economic" in designs, matched="matched" in designs,
        characteristics=characteristics, synthetic=bool(evaluation.spec.synthetic),
        robustness=bool(designs & {"its", "staggered_did", "synthetic_control", "matched",
                                   "economic"}) or "prepost" in designs,
        staggered="staggered_did" in designs)
