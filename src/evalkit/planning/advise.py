"""The design advisor: which designs the data support, and which to lead with.

:func:`advise` reads data files (or the data of an evaluation spec), works out their shape
(:mod:`evalkit.planning.shape`) and lists the designs evalkit offers, each with the facts
that make it possible or not, the threats it addresses and those it leaves (selection at a
peak is checked on the data with :func:`evalkit.evidence.selection.selection_at_peak`), its
Maryland level, and what extra data would raise that level. It recommends a primary design
and secondary designs for triangulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.evidence.selection import SelectionCheck, selection_at_peak
from evalkit.planning.shape import Shape, Table, read_shape

__all__ = ["DesignOption", "Advice", "advise", "design_options"]

#: Preference among possible designs for the primary one (strongest first).
PREFERENCE = ("staggered_did", "synthetic_control", "its_controlled", "matched", "did", "its",
              "prepost")
LABELS = {
    "staggered_did": "Staggered difference-in-differences (Callaway-Sant'Anna)",
    "synthetic_control": "Synthetic control",
    "its_controlled": "Controlled interrupted time series",
    "matched": "Matched cohort (difference-in-differences on matched patients)",
    "did": "Difference-in-differences",
    "its": "Interrupted time series of the scheme's units alone",
    "prepost": "Before-and-after comparison of the scheme's units",
}
DESIGN = {"its_controlled": "its"}
#: Maryland Scientific Methods Scale levels
#: (as evalkit.evidence.maryland.maryland_level rates them):
#: (level if the checks pass, level otherwise).
LEVELS = {"staggered_did": (4, 3), "synthetic_control": (4, 3), "its_controlled": (4, 3),
          "matched": (4, 3), "did": (4, 3), "its": (3, 3), "prepost": (1, 1)}
ADDRESSES = {
    "staggered_did": ["trends shared with never-treated units", "bias of two-way fixed effects "
                      "when units start at different times", "fixed differences between units"],
    "synthetic_control": ["trends shared with a weighted combination of donor areas",
                          "differences in level and trend before the start"],
    "its_controlled": ["the pre-existing trend and seasonality", "shocks shared with the "
                       "comparison units (e.g. the pandemic, winter pressures)"],
    "matched": ["differences in measured characteristics", "selection on the measured "
                "pre-period outcomes (patients enrolled after a spell of heavy use)"],
    "did": ["fixed differences between the groups", "trends shared with the comparison"],
    "its": ["the pre-existing trend and seasonality"],
    "prepost": [],
}
LEAVES = {
    "staggered_did": ["trends that differ between early and late or never-treated units",
                      "anticipation before a unit's start"],
    "synthetic_control": ["shocks that hit only the treated area", "inference rests on "
                          "placebo areas (few donors: coarse p-values)"],
    "its_controlled": ["shocks that hit only the scheme's units", "differences in trend that "
                       "start with the scheme"],
    "matched": ["unmeasured differences (why these patients were enrolled)",
                "regression to the mean beyond what the pre-period captures"],
    "did": ["trends that differ between the groups", "selection at a peak"],
    "its": ["any other change at the same time (no comparison)"],
    "prepost": ["trends, seasonality, regression to the mean and every other change at the "
                "same time"],
}
RAISE = {
    "staggered_did": "a documented reason for the order of the waves that is unrelated to the "
                     "outcomes (or a randomised order, level 5)",
    "synthetic_control": "more donor areas and more years before the start, and the areas' "
                         "characteristics (age, deprivation) as predictors",
    "its_controlled": "a comparison chosen to match the scheme's units on their pre-period "
                      "trend, or a staggered roll-out with each unit's start date",
    "matched": "more pre-period measurements and the criteria used to enrol patients (e.g. the "
               "risk score), so that matching captures why they were chosen",
    "did": "matching the comparison units on their pre-period outcomes and characteristics",
    "its": "monthly data for units outside the scheme (a comparison group: level 4)",
    "prepost": "at least two years of monthly data before the start (ITS, level 3) and units "
               "outside the scheme (controlled designs, level 4)",
}


@dataclass
class DesignOption:
    """One design: whether the data support it, and why."""

    key: str
    possible: bool
    facts: list[str]
    table: str | None = None
    role: str = "not possible"
    selection: SelectionCheck | None = None
    threats_checked: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The design's name in words."""
        return LABELS[self.key]

    @property
    def design(self) -> str:
        """The evalkit design function that runs it."""
        return DESIGN.get(self.key, self.key)

    @property
    def level(self) -> int:
        """The Maryland level if its checks pass."""
        return LEVELS[self.key][0]


@dataclass
class Advice:
    """What :func:`advise` found: the designs, the recommendation, and the data's shape.

    ``str(advice)`` is the plain text the command line prints.
    """

    shape: Shape = field(repr=False)
    options: list[DesignOption]

    @property
    def primary(self) -> DesignOption | None:
        """The recommended primary design (None if nothing is possible)."""
        return next((o for o in self.options if o.role == "primary"), None)

    @property
    def secondary(self) -> list[DesignOption]:
        """Designs for triangulation."""
        return [o for o in self.options if o.role == "secondary"]

    def to_frame(self) -> pd.DataFrame:
        """One row per design: role, possible, Maryland level, facts, threats, data."""
        return pd.DataFrame([{
            "design": o.design, "label": o.label, "role": o.role, "possible": o.possible,
            "maryland_level": o.level if o.possible else np.nan, "data": o.table,
            "facts": "; ".join(o.facts), "addresses": "; ".join(ADDRESSES[o.key]),
            "leaves": "; ".join(LEAVES[o.key] + o.threats_checked),
            "selection_at_peak": (o.selection.fired if o.selection is not None else None),
            "raise_level": RAISE[o.key]} for o in self.options])

    def summary(self) -> str:
        """The advice as plain text."""
        lines = []
        p = self.primary
        lines.append(f"Recommended primary design: {p.label} (data '{p.table}', Maryland level "
                     f"up to {p.level})" if p else "No design is possible with these data "
                     "yet; see the facts below.")
        if self.secondary:
            lines.append("Secondary designs for triangulation: "
                         + "; ".join(o.label for o in self.secondary))
        for o in self.options:
            lines.append("")
            head = {"primary": "PRIMARY", "secondary": "secondary"}.get(
                o.role, "possible" if o.possible else "not possible")
            lines.append(f"{o.label} [{head}]"
                         + (f", Maryland level up to {o.level}" if o.possible else ""))
            lines += [f"  - {f}" for f in o.facts]
            if o.possible:
                if ADDRESSES[o.key]:
                    lines.append("  addresses: " + "; ".join(ADDRESSES[o.key]))
                lines.append("  leaves: " + "; ".join(LEAVES[o.key] + o.threats_checked))
                lines.append("  to raise the level: " + RAISE[o.key])
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _selection(t: Table, start: str | None) -> tuple[SelectionCheck | None, str]:
    """Selection at a peak, checked on each outcome of the panel: the clearest rise (and
    the outcome's name), or None."""
    if start is None or not t.outcomes or not t.treated or not t.treated.value:
        return None, ""
    periods = t.frame[t.time.value].astype(str)
    labels = np.sort(pd.unique(periods))
    if start not in set(labels):
        return None, ""
    code = pd.Series(np.arange(len(labels)), index=labels)
    ever = t.units(t.treated.value)
    treated = t.frame[t.unit.value].map(ever == 1).to_numpy(bool)
    keep = np.ones(len(t.frame), bool)
    if t.comparison is not None:
        comp = t.frame[t.unit.value].map(t.units(t.comparison.value) == 1).to_numpy(bool)
        keep = treated | comp
    f = t.frame[keep]
    best: tuple[SelectionCheck | None, str] = (None, "")
    for o in t.outcomes:
        ratio = o.family != "gaussian"
        chk = selection_at_peak(
            f[o.name], unit=f[t.unit.value], period=code[periods[keep]].to_numpy(),
            treated=treated[keep], start=int(code[start]),
            denominator=f[o.denominator] if ratio and o.denominator else None,
            scale="ratio" if ratio else "difference",
            label=lambda k: str(labels[k]) if 0 <= k < len(labels) else str(k))
        if chk is not None and (best[0] is None or (chk.fired, chk.z) > (best[0].fired,
                                                                          best[0].z)):
            best = (chk, o.name)
    return best


def _why_not(n_c: int, pre: int, staggered: bool, start: str | None) -> str:
    """Why a single-start comparative design is not possible ('' if it is)."""
    if staggered:
        return (": the units start at different times, so a single-start design would mix "
                "the waves (use staggered DiD, or give --treated and --start for one wave)")
    if start is None:
        return ": the start is not known (give --start)"
    if n_c < 2:
        return ": fewer than two comparison units"
    if pre < 8:
        return ": fewer than 8 periods before the start"
    return ""


def _pre_periods(t: Table, start: str | None) -> int:
    if start is None:
        return 0
    periods = pd.unique(t.frame[t.time.value].astype(str))
    return int(sum(p < start for p in periods))


def design_options(shape: Shape) -> list[DesignOption]:
    """Every design with the facts for and against it, roles assigned."""
    panel, loc, coh = shape.panel, shape.localities, shape.cohort
    start = shape.start.value
    opts: dict[str, DesignOption] = {}
    # panel designs
    if panel is not None and panel.treated and panel.treated.value:
        n_t = panel.n_treated
        n_c = (int((panel.units(panel.comparison.value) == 1).sum()) if panel.comparison
               else panel.n_units - n_t)
        pre = _pre_periods(panel, start)
        tv = panel.time.value
        who = f"{n_t} scheme {panel.unit.value}s and {n_c} others"
        before = f"{pre} {tv}s before the start" if start else "no start date yet"
        staggered = len(shape.starts) > 1
        if staggered:
            waves = ", ".join(shape.starts)
            f = [f"start dates differ across {len(shape.starts)} waves ({waves})"
                 + (f" and column '{panel.cohort.value}' gives each unit's wave"
                    if panel.cohort else "")]
            ok = panel.cohort is not None and n_c > 0
            if panel.cohort is None:
                f.append("no cohort column: add one giving each unit's start (0 for never)")
            opts["staggered_did"] = DesignOption("staggered_did", ok, f, panel.name)
        else:
            opts["staggered_did"] = DesignOption("staggered_did", False, [
                "every scheme unit starts at the same time: a single start, so there are no "
                "waves to compare"], panel.name)
        ok = n_c >= 2 and pre >= 8 and not staggered and start is not None
        why_not = _why_not(n_c, pre, staggered, start)
        opts["its_controlled"] = DesignOption("its_controlled", ok and panel.comparison
                                              is not None,
                                              [f"{who} with {before}"
                                               + (": controlled ITS and DiD are possible"
                                                  if ok else why_not)], panel.name)
        if ok and panel.comparison is None:
            opts["its_controlled"].facts.append("no 0/1 comparison column: add one flagging "
                                                "the comparison units")
        opts["did"] = DesignOption("did", ok, [f"{who} with {before}" + why_not], panel.name)
        opts["its"] = DesignOption("its", pre >= 8 and start is not None and not staggered,
                                   [f"{before} (at least 8 are needed; 24 monthly points are "
                                    "better)" + (why_not if staggered else "")], panel.name)
        opts["prepost"] = DesignOption("prepost", pre >= 1,
                                       [f"{n_t} scheme {panel.unit.value}s with {before}"],
                                       panel.name)
        sel, what = _selection(panel, start if not staggered else None)
        for key in ("its_controlled", "did", "prepost", "its"):
            if sel is not None:
                opts[key].selection = sel
            if sel is not None and sel.fired:
                opts[key].threats_checked.append("checked on the data: " + sel.describe(
                    f"'{what}'"))
        if sel is not None and not sel.fired:
            z = 0.0 if abs(sel.z) < 0.05 else sel.z
            opts["its_controlled"].facts.append(
                f"no sign of selection at a peak (largest z = {z:.1f}, '{what}', from "
                f"{sel.reference_window[0]} to {sel.baseline_window[1]})")
    else:
        why = ("no panel with a treated flag" if panel is None or not panel.treated
               else "the panel's treated flag is not decided")
        for key in ("staggered_did", "its_controlled", "did", "its", "prepost"):
            opts[key] = DesignOption(key, False, [why])
    if loc is not None:
        donors = loc.n_units - 1
        treated = loc.units(loc.treated.value)
        name = str(treated.index[treated == 1][0])
        pre = _pre_periods(loc, start)
        opts["synthetic_control"] = DesignOption(
            "synthetic_control", donors >= 2 and pre >= 8,
            [f"one treated {loc.unit.value} ({name!r}) and {donors} donors in '{loc.name}' "
             f"with {pre} {loc.time.value}s before the start: synthetic control"], loc.name)
    else:
        opts["synthetic_control"] = DesignOption("synthetic_control", False, [
            "no panel with exactly one treated area and several untreated ones"])
    if coh is not None:
        n = int((pd.to_numeric(coh.frame[coh.treated.value]) == 1).sum())
        pre = sorted({c for v in coh.pre.values() for c in v})
        opts["matched"] = DesignOption("matched", n > 0 and len(coh.covariates) > 0, [
            f"a patient cohort '{coh.name}': {n} enrolled and {len(coh.frame) - n} others, with "
            f"characteristics ({', '.join(coh.covariates)}) and pre-period measures "
            f"({', '.join(pre)}): matched cohorts"], coh.name)
    else:
        opts["matched"] = DesignOption("matched", False, [
            "no patient cohort (one row per patient with an enrolment flag and measures in "
            "several periods)"])
    ordered = [opts[k] for k in PREFERENCE]
    possible = [o for o in ordered if o.possible]
    for i, o in enumerate(possible):
        o.role = "primary" if i == 0 else "possible"
    # triangulation: other designs of level 3 or more; a single-group ITS only when no
    # controlled design of the same panel is possible (it adds nothing beside one)
    controlled = opts["its_controlled"].possible or opts["did"].possible
    for o in possible[1:]:
        if o.level >= 3 and not (o.key == "its" and controlled):
            o.role = "secondary"
    if possible and possible[0].key != "prepost" and len(possible) == 1:
        possible[0].facts.append("no second design to triangulate with")
    return ordered


def advise(data: str | Path | list[str | Path], *, unit: str | None = None,
           time: str | None = None, treated: str | None = None, start: str | None = None,
           cohort: str | None = None) -> Advice:
    """Advise on the designs that the data support.

    Parameters
    ----------
    data
        Data files, a folder holding them, or an evaluation spec (``spec.yaml``): then its
        data files are read and its first panel analysis's unit, time, treated flag and
        start are used.
    unit, time, treated, start, cohort
        Column names (and the start period) that override the guesses.

    Returns
    -------
    Advice
        ``.summary()`` (plain text), ``.to_frame()``, ``.primary`` and ``.secondary``.

    Examples
    --------
    >>> import evalkit as ek
    >>> advice = ek.advise("data/synthetic/federation-mdt/panel.csv")  # doctest: +SKIP
    >>> advice.primary.design  # doctest: +SKIP
    'staggered_did'
    """
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    if len(items) == 1 and Path(items[0]).suffix.lower() in (".yaml", ".yml"):
        from evalkit.evaluation.spec import load_spec

        spec = load_spec(items[0])
        items = sorted({s.path for s in spec.data.values() if s.kind != "records"})
        for a in spec.analyses:
            if spec.data[a.data].kind == "panel" and "treated" in a.options:
                unit = unit or a.options.get("unit")
                time = time or a.options.get("time")
                treated = treated or a.options.get("treated")
                start = start or (str(a.options["start"]) if "start" in a.options else None)
                break
    shape = read_shape(items, unit=unit, time=time, treated=treated, start=start,
                       cohort=cohort)
    return Advice(shape, design_options(shape))
