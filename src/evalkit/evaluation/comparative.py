"""Comparing schemes: every scheme's evaluation, side by side, ready for synthesis.

:func:`collect_schemes` runs (or takes) the evaluation of each scheme and returns a
:class:`SchemeSet`: the evaluations, every effect record with its scheme, and one row of
characteristics per scheme (the structural ones from ``schemes.csv`` beside the engagement
each scheme's own data measure). :meth:`SchemeSet.common_effects` picks, for one outcome,
one comparable effect per scheme for a meta-analysis: effects on one scale only, the
strongest design first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evalkit.data.io import read
from evalkit.errors import EvalkitError
from evalkit.evaluation.pipeline import Evaluation, run_spec
from evalkit.evidence.selection import variant_words
from evalkit.results import headline_effects

__all__ = ["SchemeSet", "collect_schemes", "ENGAGEMENT_MODERATORS", "COMMON_ESTIMANDS"]

#: Which headline estimand stands for a design when schemes are compared (first found).
COMMON_ESTIMANDS = ("effect_at_12", "rate_ratio", "att_simple", "att_did", "att_sdid",
                    "gap_mean", "att_twfe", "level_change", "before_after_rtm_adjusted",
                    "before_after", "difference_in_means", "difference_in_proportions")

#: Measured engagement joined to each scheme's characteristics, by effect estimand.
ENGAGEMENT_MODERATORS = {"share_referring": "gp_engagement_share_referring",
                         "per_1000": "referrals_per_1000",
                         "attendance_rate": "mdt_attendance"}


@dataclass
class SchemeSet:
    """The evaluations of several schemes (see :func:`collect_schemes`)."""

    evaluations: Mapping[str, Evaluation]
    characteristics: pd.DataFrame
    failures: Mapping[str, str] = field(default_factory=dict)

    @property
    def schemes(self) -> list[str]:
        """The schemes evaluated, in order."""
        return list(self.evaluations)

    def effects(self) -> pd.DataFrame:
        """Every effect record of every scheme (the ``scheme`` column names it)."""
        frames = [ev.effects.assign(scheme=name) for name, ev in self.evaluations.items()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def common_effects(self, outcome: str, *, scale: str = "ratio",
                       designs: Sequence[str] | None = None) -> pd.DataFrame:
        """One effect per scheme on ``outcome``: the strongest design's headline estimate.

        Parameters
        ----------
        outcome
            The outcome column shared by the schemes, e.g. ``emergency_admissions``.
        scale
            Keep only records on this scale (``ratio`` or ``difference``), so that a
            meta-analysis never pools effects on different scales.
        designs
            Designs to choose from (default: every design with headline estimands).

        Returns
        -------
        pandas.DataFrame
            Effect records, one per scheme that has one, joined to the scheme's
            characteristics; ``design_strength`` is the Maryland level as a label. Within
            the strongest design the estimand is the first of :data:`COMMON_ESTIMANDS`
            (an ITS gives its effect at 12 months). Variants robust to selection at a
            peak (:mod:`evalkit.evaluation.robust_variant`) are left out: the designs as specified
            are pooled.
        """
        eff = self.effects()
        if eff.empty:
            return eff
        eff = headline_effects(eff)
        # the designs as specified: a variant robust to selection at a peak is not pooled
        keep = (eff["outcome"] == outcome) & (eff["scale"] == scale) & \
            ~eff["diagnostics"].map(lambda d: bool(variant_words(d))).astype(bool)
        if designs is not None:
            keep &= eff["design"].isin(list(designs))
        eff = eff[keep]
        order = {e: i for i, e in enumerate(COMMON_ESTIMANDS)}
        eff = eff.assign(_rank=[order.get(e, 99) for e in eff["estimand"]])
        eff = eff.sort_values(["scheme", "evidence_level", "_rank"],
                              ascending=[True, False, True], kind="stable")
        best = eff.groupby("scheme", sort=False).head(1).drop(columns="_rank")
        best = best.assign(design_strength=best["evidence_level"].map(
            lambda v: f"Maryland level {int(v)}"))
        out = best.merge(self.characteristics, on="scheme", how="left")
        return out.set_index("scheme").loc[[s for s in self.schemes
                                            if s in set(out["scheme"])]].reset_index()


def _measured_engagement(ev: Evaluation) -> dict[str, float]:
    prof = ev.engagement
    if prof is None:
        return {}
    e = prof.effects.set_index("estimand")["estimate"]
    return {col: float(e[est]) for est, col in ENGAGEMENT_MODERATORS.items() if est in e}


def collect_schemes(root: str | Path = "data/synthetic", *,
                    schemes: Sequence[str] | None = None,
                    evaluations: Mapping[str, Evaluation] | None = None,
                    characteristics: str | Path | pd.DataFrame | None = None,
                    progress: bool = False) -> SchemeSet:
    """Evaluate several schemes and gather them for comparison.

    Parameters
    ----------
    root
        The folder holding one sub-folder per scheme, each with a ``spec.yaml``, and
        ``schemes.csv`` (one row of characteristics per scheme).
    schemes
        Which schemes (default: every folder with a ``spec.yaml``, in name order).
    evaluations
        Evaluations already run, by scheme (the others are run here).
    characteristics
        A characteristics table or its path (default ``<root>/schemes.csv``, if present).
    progress
        Show a progress bar.

    Returns
    -------
    SchemeSet
        A scheme whose spec fails is left out and its one-line error kept in
        ``failures``; the others go on.
    """
    from tqdm import tqdm

    root = Path(root)
    names = list(schemes) if schemes is not None else sorted(
        p.parent.name for p in root.glob("*/spec.yaml"))
    if not names:
        raise EvalkitError("no schemes to compare", file=str(root),
                           fix="give a folder with one sub-folder per scheme, each with a "
                               "spec.yaml")
    done = dict(evaluations or {})
    failures: dict[str, str] = {}
    for name in tqdm(names, desc="schemes", unit="scheme", disable=not progress):
        if name in done:
            continue
        try:
            done[name] = run_spec(root / name / "spec.yaml")
        except EvalkitError as err:
            failures[name] = err.one_line()
    done = {n: done[n] for n in names if n in done}
    if isinstance(characteristics, pd.DataFrame):
        chars = characteristics.copy()
    else:
        path = Path(characteristics) if characteristics is not None else root / "schemes.csv"
        chars = read(path) if path.exists() else pd.DataFrame({"scheme": names})
    if "scheme" not in chars.columns:
        raise EvalkitError("the characteristics table has no 'scheme' column",
                           column="scheme", fix="add a 'scheme' column naming each scheme")
    measured = pd.DataFrame([{"scheme": n, **_measured_engagement(ev)}
                             for n, ev in done.items()])
    chars = chars[chars["scheme"].isin(done)].merge(measured, on="scheme", how="left")
    return SchemeSet(evaluations=done, characteristics=chars.reset_index(drop=True),
                     failures=failures)
