"""An evaluation plan from a spec: what :func:`plan` computes for ``evalkit plan``.

:func:`plan` reads an evaluation spec, asks the design advisor
(:func:`evalkit.planning.advise`) which designs its data support, and computes the
minimum detectable effect (MDE) of each analysis the spec will run with
:mod:`evalkit.power`, over follow-up lengths of 3 to 36 months. The report
``reports/evaluation-plan.qmd`` words it (:mod:`evalkit.planning.plan_report`); this
module holds the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.evaluation.spec import Analysis, Spec, load_spec
from evalkit.power.result import PowerResult

__all__ = ["PlannedPower", "EvaluationPlan", "plan", "TARGET_PERCENT", "FOLLOWUP"]

#: The target effect, in percent of the baseline, when the plan is not given one: a 5%
#: fall in emergency admissions is the size commissioners most often ask about.
TARGET_PERCENT = 5.0
#: The planned follow-up, in months.
FOLLOWUP = 12
#: Designs whose MDE the plan computes (a before/after comparison has none).
POWERED = ("its", "did", "staggered_did", "matched", "synthetic_control", "economic")
_NO_POWER = {
    "prepost": "a before/after comparison has no comparison group: its main error is bias "
               "(trends, regression to the mean), not chance, so no MDE is computed",
    "dose_response": "a dose-response analysis describes a gradient; no MDE is computed",
}


@dataclass(frozen=True)
class PlannedPower:
    """The MDE of one analysis of the spec for one outcome.

    Attributes
    ----------
    index
        The analysis's position in the spec (0-based).
    analysis
        The spec's analysis.
    outcome
        The outcome.
    result
        The power calculation, or None when it could not be made.
    reason
        Why there is no result ("" when there is one).
    """

    index: int
    analysis: Analysis
    outcome: str
    result: PowerResult | None
    reason: str = ""

    @property
    def design(self) -> str:
        """The analysis's design."""
        return self.analysis.design

    def months_needed(self, target: float) -> int | None:
        """The shortest follow-up (months) at which the MDE is at most ``target`` percent
        of the baseline; None if no follow-up of the curve reaches it."""
        if self.result is None:
            return None
        c = self.result.curve
        if "followup" not in c:
            return None
        ok = c[pd.to_numeric(c["percent"], errors="coerce") <= target]
        return int(ok["followup"].min()) if len(ok) else None


@dataclass
class EvaluationPlan:
    """What :func:`plan` found: the spec, the advice and the MDE of each analysis.

    ``str(plan)`` is a plain-text summary; :meth:`to_frame` the MDE table.
    """

    spec: Spec
    advice: Any
    advice_error: str
    power: list[PlannedPower]
    target: float = TARGET_PERCENT
    followup: int = FOLLOWUP
    parameters: dict = field(default_factory=dict)

    @property
    def primary(self) -> PlannedPower | None:
        """The MDE of the primary analysis: the spec's analysis that runs the advisor's
        recommended design (else the first analysis with an MDE)."""
        key = self.primary_design
        with_result = [p for p in self.power if p.result is not None]
        match = [p for p in with_result if p.design == key]
        return (match or with_result or [None])[0]

    @property
    def primary_design(self) -> str | None:
        """The design (an evalkit design name) the advisor recommends, if any."""
        p = getattr(self.advice, "primary", None) if self.advice is not None else None
        return p.design if p is not None else None

    def to_frame(self) -> pd.DataFrame:
        """One row per analysis and outcome: the MDE at the planned follow-up (percent of
        the baseline, and on the analysis scale), the follow-up needed for the target, and
        why there is none where there is none."""
        rows = []
        for p in self.power:
            row = {"analysis": p.index + 1, "design": p.design, "outcome": p.outcome,
                   "followup": self.followup, "mde": np.nan, "percent": np.nan,
                   "scale": None, "months_needed": p.months_needed(self.target),
                   "method": "", "reason": p.reason}
            if p.result is not None:
                r = p.result
                at = _row_at(r, self.followup)
                row.update(followup=_months(at),
                           mde=float(at["mde"]), percent=float(at["percent"]),
                           scale=r.scale, method=r.method)
            rows.append(row)
        return pd.DataFrame(rows, columns=["analysis", "design", "outcome", "followup", "mde",
                                           "percent", "scale", "months_needed", "method",
                                           "reason"])

    def summary(self) -> str:
        """The plan in a few plain-text lines."""
        lines = [f"Evaluation plan: {self.spec.title} ({self.spec.scheme})"]
        if self.advice is not None and self.advice.primary is not None:
            lines.append(f"Recommended primary design: {self.advice.primary.label}")
        for p in self.power:
            if p.result is None:
                lines.append(f"  {p.design} / {p.outcome}: no MDE ({p.reason})")
                continue
            at = _row_at(p.result, self.followup)
            need = p.months_needed(self.target)
            when = f" at {_months(at)} months" if _months(at) else ""
            lines.append(f"  {p.design} / {p.outcome}: MDE {float(at['percent']):.1f}%{when}"
                         f"; the target of "
                         f"{self.target:g}% "
                         + (f"after {need} months" if need else "not within 36 months"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _months(row: pd.Series) -> int | None:
    """The row's follow-up in months, or None (a calculation with no follow-up curve)."""
    v = pd.to_numeric(pd.Series([row.get("followup")]), errors="coerce").iloc[0]
    return int(v) if np.isfinite(v) else None


def _row_at(result: PowerResult, followup: int) -> pd.Series:
    """The curve's row at ``followup``, else the nearest shorter one, else the first."""
    c = result.curve
    if "followup" not in c or len(c) == 1 or c["followup"].isna().all():
        return c.iloc[0]
    ok = c[c["followup"] <= followup]
    return (ok.iloc[-1] if len(ok) else c.iloc[0])


def _read(spec: Spec, name: str) -> pd.DataFrame:
    from evalkit.data.io import read

    src = spec.data[name]
    if src.kind == "records":
        raise EvalkitError("patient-level records: aggregate them first (evalkit aggregate)")
    return read(src.path, sheet=src.sheet)


def _after_start(frame: pd.DataFrame, o: dict) -> pd.DataFrame:
    """Rows in the follow-up (``time`` at or after ``start``, or ``after``), for costs."""
    time, start = o.get("time"), o.get("start", o.get("after"))
    if time not in frame or start is None:
        return frame
    t = pd.to_numeric(frame[time], errors="coerce")
    s = pd.to_numeric(pd.Series([start]), errors="coerce").iloc[0]
    return frame[t >= s] if np.isfinite(s) and t.notna().all() else frame


def power_for(spec: Spec, analysis: Analysis, outcome: str, *, followup: int = FOLLOWUP,
              n_sims: int = 100, seed: int = 20260701) -> PowerResult:
    """The power calculation for one analysis of a spec and one of its outcomes, with
    the design family's function in :mod:`evalkit.power`.

    Raises
    ------
    EvalkitError
        When the data do not allow one (e.g. too few periods before the start).
    """
    from evalkit import power

    o = dict(analysis.options)
    entry = spec.outcomes.get(outcome, {})
    family = str(entry.get("family", "gaussian"))
    denominator = entry.get("denominator")
    frame = _read(spec, analysis.data)
    design = analysis.design
    if entry.get("domain") == "cost" and design in ("did", "economic"):
        treated = o.get("treated")
        if treated is None:
            raise EvalkitError("the cost analysis names no treated column")
        return power.cost_mde(_after_start(frame, o), cost=outcome, treated=treated,
                              cluster=o.get("cluster"), seed=seed)
    if design == "its":
        return power.its_mde(frame, outcome=outcome, time=o["time"], start=o["start"],
                             family=family if family in ("gaussian", "poisson") else
                             "quasipoisson", denominator=denominator,
                             seasonality=o.get("seasonality"), treated=o.get("treated"),
                             control=o.get("control"), followup=followup, n_sims=n_sims,
                             seed=seed)
    if design in ("did", "staggered_did"):
        return power.did_mde(frame, outcome=outcome, unit=o["unit"], time=o["time"],
                             start=o.get("start"), treated=o.get("treated"),
                             cohort=o.get("cohort"), denominator=denominator,
                             followup=followup, seed=seed)
    if design == "matched":
        return power.matched_mde(frame, outcome=outcome, treated=o["treated"],
                                 pre=o.get("pre"), seed=seed)
    if design == "synthetic_control":
        opts = {k: v for k, v in o.items() if k not in ("placebos",)}
        res = power.synth_mde(frame, outcome=outcome, followup=followup, **opts)
        return res
    raise EvalkitError(_NO_POWER.get(design, f"no power calculation for {design}"))


def plan(spec: str | Path | Spec, *, target: float = TARGET_PERCENT,
         followup: int = FOLLOWUP, n_sims: int = 100, seed: int = 20260701
         ) -> EvaluationPlan:
    """Plan an evaluation from its spec: the designs the data support and what each
    analysis could detect.

    Parameters
    ----------
    spec
        An evaluation spec (path or loaded).
    target
        The target effect, in percent of the baseline (default 5%).
    followup
        The planned follow-up, in months (default 12).
    n_sims
        Replications a follow-up length for the ITS simulation.
    seed
        Random seed: the plan's numbers are reproducible.

    Returns
    -------
    EvaluationPlan
        ``.summary()``, ``.to_frame()`` (the MDE table), ``.power`` and ``.advice``.

    Examples
    --------
    >>> import evalkit as ek
    >>> p = ek.plan("data/synthetic/dementia-service/spec.yaml")  # doctest: +SKIP
    >>> p.to_frame()[["design", "outcome", "percent"]]  # doctest: +SKIP
    """
    from evalkit.planning.advise import advise

    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    if not target > 0:
        raise EvalkitError(f"the target effect must be a positive percentage, not {target}",
                           fix="give e.g. 5 for a 5% fall")
    try:
        advice, advice_error = advise(spec.path), ""
    except EvalkitError as err:
        advice, advice_error = None, err.one_line()
    rows: list[PlannedPower] = []
    seen: set[tuple[str, str]] = set()
    for a in spec.analyses:
        # one outcome a block of the spec's analyses: its first (the primary outcome)
        key = (a.design, a.data, a.label)
        if key in seen:
            continue
        seen.add(key)
        i = len(seen) - 1
        if a.design not in POWERED:
            rows.append(PlannedPower(i, a, a.outcome, None, _NO_POWER.get(
                a.design, f"no power calculation for {a.design}")))
            continue
        try:
            res = power_for(spec, a, a.outcome, followup=followup, n_sims=n_sims, seed=seed)
        except (EvalkitError, KeyError, ValueError) as err:
            reason = err.one_line() if isinstance(err, EvalkitError) else str(err)
            rows.append(PlannedPower(i, a, a.outcome, None, reason))
        else:
            rows.append(PlannedPower(i, a, a.outcome, res))
    return EvaluationPlan(spec, advice, advice_error, rows, target=target, followup=followup,
                          parameters={"spec": str(spec.path), "target": target,
                                      "followup": followup, "n_sims": n_sims, "seed": seed})
