"""Network maturity against the ten building blocks of high-performing primary care.

Bodenheimer and colleagues (2014) described ten building blocks of high-performing
primary care. evalkit uses them as adapted for primary care networks (names as in the
project's issue; Bodenheimer's own names in brackets):

=========================  ================================  ==============================
id                         label                             Bodenheimer et al. (2014)
=========================  ================================  ==============================
``leadership``             Leadership and vision             engaged leadership
``data``                   Data infrastructure               data-driven improvement
``resources_to_need``      Matching resources to need        empanelment
``team_based_care``        Team-based care                   team-based care
``person_centred``         Person-centred care               patient-team partnership
``population_health``      Population health management      population management
``continuity``             Continuity                        continuity of care
``flexibility``            Flexibility                       prompt access to care
``comprehensive_network``  A network of comprehensive care   comprehensiveness and care
                                                             coordination
``future_of_care``         Creating the future of care       template of the future
=========================  ================================  ==============================

:func:`maturity` takes assessments (one row per network, wave, block and rater, a score
on a declared scale, 1 to 5 by default) and returns the mean score per network, wave and
block, each network's overall mean (the mean of its block scores), the change since the
first wave, and each network's rank among networks in each wave (1 = most mature; ties
share the best rank). It refuses unknown blocks (naming them and the valid ones) and
scores off the scale, and warns about (or, with ``missing="refuse"``, refuses) a
network-wave that lacks some blocks: its overall mean is then over fewer blocks and is
flagged ``complete=False``.

Reference
---------
Bodenheimer T, Ghorob A, Willard-Grace R, Grumbach K. The 10 building blocks of
high-performing primary care. *Ann Fam Med* 2014;12:166-171.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.arguments import check_choice
from evalkit.data.inputs import takes_frame
from evalkit.engagement.indices import need_columns
from evalkit.engagement.survey import _check_scale
from evalkit.errors import DataError

__all__ = ["BUILDING_BLOCKS", "BODENHEIMER_NAMES", "maturity", "MaturityResult"]

#: The ten building blocks: short id -> label, in Bodenheimer et al.'s (2014) order.
BUILDING_BLOCKS: Mapping[str, str] = {
    "leadership": "Leadership and vision",
    "data": "Data infrastructure",
    "resources_to_need": "Matching resources to need",
    "team_based_care": "Team-based care",
    "person_centred": "Person-centred care",
    "population_health": "Population health management",
    "continuity": "Continuity",
    "flexibility": "Flexibility",
    "comprehensive_network": "A network of comprehensive care",
    "future_of_care": "Creating the future of care",
}

#: Bodenheimer et al.'s (2014) own name of each block.
BODENHEIMER_NAMES: Mapping[str, str] = {
    "leadership": "Engaged leadership",
    "data": "Data-driven improvement",
    "resources_to_need": "Empanelment",
    "team_based_care": "Team-based care",
    "person_centred": "Patient-team partnership",
    "population_health": "Population management",
    "continuity": "Continuity of care",
    "flexibility": "Prompt access to care",
    "comprehensive_network": "Comprehensiveness and care coordination",
    "future_of_care": "Template of the future",
}

MISSING = ("warn", "refuse")


@dataclass(frozen=True)
class MaturityResult:
    """Maturity scores per network, wave and block.

    Attributes
    ----------
    scores
        One row per network, wave and block: ``network``, ``wave``, ``block`` (id),
        ``label``, ``score`` (mean over raters), ``raters``, ``sd`` (between raters),
        ``rank`` (among networks for that block and wave, 1 = highest),
        ``change_from_first`` (the score less the network's first-wave score).
    overall
        One row per network and wave: ``score`` (mean of the block scores), ``blocks``
        (how many were assessed), ``complete``, ``rank`` (among networks in the wave),
        ``change_from_first``, ``strongest``, ``weakest`` (block ids; the first in block
        order when tied).
    change
        One row per network, block (and ``"overall"``) and later wave: ``from_wave``,
        ``to_wave``, ``from_score``, ``to_score``, ``change``.
    waves
        The waves in order (first = baseline).
    networks
        The networks, in order of first appearance.
    """

    scores: pd.DataFrame
    overall: pd.DataFrame
    change: pd.DataFrame
    waves: tuple[Any, ...]
    networks: tuple[Any, ...]
    scale: tuple[int, int] = (1, 5)
    warnings: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """Overall maturity per network and wave, with the change, as plain text."""
        o = self.overall.copy()
        o["score"] = o["score"].map(lambda v: f"{v:.2f}")
        o["change_from_first"] = o["change_from_first"].map(
            lambda v: "" if pd.isna(v) else f"{v:+.2f}")
        lines = [f"Network maturity on the ten building blocks ({self.scale[0]} to "
                 f"{self.scale[1]}), {len(self.networks)} network(s), "
                 f"{len(self.waves)} wave(s):",
                 o[["network", "wave", "score", "blocks", "rank", "change_from_first",
                    "strongest", "weakest"]].to_string(index=False)]
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The tidy table: block rows and an ``overall`` row per network and wave."""
        o = self.overall.assign(block="overall", label="Overall (mean of blocks)",
                                raters=np.nan, sd=np.nan)
        cols = ["network", "wave", "block", "label", "score", "raters", "sd", "rank",
                "change_from_first"]
        return pd.concat([self.scores[cols], o[cols]], ignore_index=True)

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """``scores``, ``overall`` and ``change`` (copies)."""
        return {"scores": self.scores.copy(), "overall": self.overall.copy(),
                "change": self.change.copy()}


def _block_ids(values: pd.Series, *, file: str | None, column: str) -> np.ndarray:
    """Map ids or labels (any case) to ids; refuse anything else."""
    lookup = {k: k for k in BUILDING_BLOCKS}
    lookup.update({v.lower(): k for k, v in BUILDING_BLOCKS.items()})
    lookup.update({v.lower(): k for k, v in BODENHEIMER_NAMES.items()
                   if v.lower() not in lookup})
    text = values.astype(str).str.strip()
    ids = text.str.lower().map(lookup)
    bad = ids.isna().to_numpy() | values.isna().to_numpy()
    if bad.any():
        unknown = pd.unique(text[bad])
        raise DataError(f"unknown building block(s): {', '.join(map(str, unknown[:5]))}",
                        file=file, column=column,
                        rows=[int(r) + 2 for r in np.flatnonzero(bad)],
                        fix="use one of " + ", ".join(BUILDING_BLOCKS)
                            + " (or their labels, e.g. 'Team-based care')")
    return ids.to_numpy(dtype=object)


def _wave_order(values: pd.Series, wave_order: Sequence | None, *, file, column) -> list:
    present = list(pd.unique(values))
    if wave_order is not None:
        order = list(wave_order)
        extra = [w for w in present if w not in order]
        if extra:
            raise DataError(f"wave(s) {', '.join(map(str, extra))} are not in wave_order",
                            file=file, column=column,
                            fix=f"list every wave in wave_order (present: "
                                f"{', '.join(map(str, present))})")
        return [w for w in order if w in present]
    if pd.api.types.is_numeric_dtype(values):
        return sorted(present)
    first = [w for w in present if str(w).lower() in ("before", "baseline")]
    return first + [w for w in present if w not in first]


@takes_frame
def maturity(assessments: pd.DataFrame, *, network: str = "network", wave: str = "wave",
             block: str = "block", score: str = "score", scale: tuple[int, int] = (1, 5),
             wave_order: Sequence | None = None, missing: str = "warn",
             file: str | None = None) -> MaturityResult:
    """Score networks on the ten building blocks, per wave, with change and ranks.

    Parameters
    ----------
    assessments
        One row per network, wave, block and rater: ``network``, ``wave``, ``block``
        (an id of :data:`BUILDING_BLOCKS` or its label) and ``score``. Several rows for
        one network, wave and block (several raters) are averaged.
    network, wave, block, score
        Column names.
    scale
        The lowest and highest possible scores; scores may be fractional (e.g. means of
        sub-questions) but not outside the scale.
    wave_order
        The waves in time order; default numeric order for numbers, otherwise
        ``before`` or ``baseline`` first and the others in order of first appearance.
    missing
        ``"warn"`` (default) or ``"refuse"`` when a network-wave lacks blocks.
    file
        The file to name in errors.

    Returns
    -------
    MaturityResult

    Raises
    ------
    DataError
        Missing columns, unknown blocks, scores off the scale or blank, blank networks
        or waves, missing blocks with ``missing="refuse"``.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"network": "North", "wave": [1] * 10 + [2] * 10,
    ...                   "block": list(BUILDING_BLOCKS) * 2,
    ...                   "score": [2] * 10 + [3] * 9 + [5]})
    >>> res = maturity(a)
    >>> res.overall[["wave", "score", "strongest"]].values.tolist()
    [[1, 2.0, 'leadership'], [2, 3.2, 'future_of_care']]
    >>> round(float(res.overall["change_from_first"].iloc[1]), 2)
    1.2
    """
    check_choice("missing", missing, MISSING)
    lo, hi = _check_scale(scale)
    need_columns(assessments, {network: "network", wave: "wave", block: "block",
                               score: "score"}, file=file, table="maturity assessments")
    if len(assessments) == 0:
        raise DataError("the maturity assessments table has no rows", file=file,
                        fix="give one row per network, wave, block (and rater)")
    for c in (network, wave):
        blank = assessments[c].isna().to_numpy()
        if blank.any():
            raise DataError(f"the {c} is blank", file=file, column=c,
                            rows=[int(r) + 2 for r in np.flatnonzero(blank)],
                            fix=f"fill in the {c} of every assessment")
    ids = _block_ids(assessments[block], file=file, column=block)
    raw = assessments[score]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < lo) | (values > hi)
    if bad.any():
        shown = ", ".join(pd.unique(raw[bad].astype(str))[:5])
        raise DataError(f"scores outside the scale {lo} to {hi} (found {shown})", file=file,
                        column=score, rows=[int(r) + 2 for r in np.flatnonzero(bad)],
                        fix="correct or fill in these scores, or declare the scale with "
                            "scale=(lowest, highest)")
    waves = _wave_order(assessments[wave], wave_order, file=file, column=wave)
    networks = list(pd.unique(assessments[network]))
    block_ids = list(BUILDING_BLOCKS)
    df = pd.DataFrame({"network": assessments[network].to_numpy(),
                       "wave": assessments[wave].to_numpy(), "block": ids, "value": values})
    g = df.groupby(["network", "wave", "block"], sort=False)["value"]
    scores = g.agg(score="mean", raters="size", sd="std").reset_index()
    w_pos = {w: i for i, w in enumerate(waves)}
    n_pos = {n: i for i, n in enumerate(networks)}
    b_pos = {b: i for i, b in enumerate(block_ids)}
    scores = scores.assign(_n=scores["network"].map(n_pos), _w=scores["wave"].map(w_pos),
                           _b=scores["block"].map(b_pos)).sort_values(["_n", "_w", "_b"])
    scores.insert(3, "label", scores["block"].map(BUILDING_BLOCKS))

    # Missing blocks for a network-wave.
    have = scores.groupby(["_n", "_w"])["block"].agg(set)
    gaps = [(networks[n], waves[w], [b for b in block_ids if b not in s])
            for (n, w), s in have.items() if len(s) < len(block_ids)]
    warns = []
    if gaps:
        text = "; ".join(f"{n} in wave {w} lacks {', '.join(b)}" for n, w, b in gaps[:5]) + \
            (f"; and {len(gaps) - 5} more network-wave(s)" if len(gaps) > 5 else "")
        if missing == "refuse":
            raise DataError(f"some networks were not assessed on every building block: {text}",
                            file=file, column=block,
                            fix="add the missing assessments, or pass missing='warn' to "
                                "average over the blocks assessed")
        msg = (f"not every block was assessed: {text}. Their overall scores average the "
               "blocks assessed (complete=False) and are not comparable with the others")
        warns.append(msg)
        _warnings.warn(msg, UserWarning, stacklevel=2)

    # Ranks, overall scores and change.
    scores["rank"] = scores.groupby(["_w", "block"])["score"].rank(ascending=False,
                                                                   method="min")
    first = scores[scores["_w"] == 0].set_index(["_n", "block"])["score"]
    key = pd.MultiIndex.from_frame(scores[["_n", "block"]])
    scores["change_from_first"] = np.where(scores["_w"] > 0,
                                           scores["score"].to_numpy()
                                           - first.reindex(key).to_numpy(), np.nan)
    og = scores.groupby(["_n", "_w"], sort=True)
    overall = og["score"].agg(score="mean", blocks="size").reset_index()
    best = scores.loc[og["score"].idxmax(), ["_n", "_w", "block"]]
    worst = scores.loc[og["score"].idxmin(), ["_n", "_w", "block"]]
    overall = (overall.merge(best.rename(columns={"block": "strongest"}), on=["_n", "_w"])
               .merge(worst.rename(columns={"block": "weakest"}), on=["_n", "_w"]))
    overall["complete"] = overall["blocks"] == len(block_ids)
    overall["rank"] = overall.groupby("_w")["score"].rank(ascending=False, method="min")
    base = overall[overall["_w"] == 0].set_index("_n")["score"]
    overall["change_from_first"] = np.where(overall["_w"] > 0, overall["score"].to_numpy()
                                            - base.reindex(overall["_n"]).to_numpy(), np.nan)
    overall.insert(0, "network", [networks[i] for i in overall["_n"]])
    overall.insert(1, "wave", [waves[i] for i in overall["_w"]])

    later = scores[(scores["_w"] > 0) & scores["change_from_first"].notna()]
    ch_blocks = pd.DataFrame({"network": later["network"].to_numpy(),
                              "block": later["block"].to_numpy(),
                              "from_wave": waves[0], "to_wave": later["wave"].to_numpy(),
                              "to_score": later["score"].to_numpy(),
                              "change": later["change_from_first"].to_numpy()})
    ch_blocks["from_score"] = ch_blocks["to_score"] - ch_blocks["change"]
    ol = overall[(overall["_w"] > 0) & overall["change_from_first"].notna()]
    ch_overall = pd.DataFrame({"network": ol["network"].to_numpy(), "block": "overall",
                               "from_wave": waves[0], "to_wave": ol["wave"].to_numpy(),
                               "to_score": ol["score"].to_numpy(),
                               "change": ol["change_from_first"].to_numpy()})
    ch_overall["from_score"] = ch_overall["to_score"] - ch_overall["change"]
    change = pd.concat([ch_blocks, ch_overall], ignore_index=True)[
        ["network", "block", "from_wave", "to_wave", "from_score", "to_score", "change"]]

    scores = scores.drop(columns=["_n", "_w", "_b"]).reset_index(drop=True)
    scores["rank"] = scores["rank"].astype(int)
    overall = overall.drop(columns=["_n", "_w"])[
        ["network", "wave", "score", "blocks", "complete", "rank", "change_from_first",
         "strongest", "weakest"]]
    overall["rank"] = overall["rank"].astype(int)
    return MaturityResult(scores=scores, overall=overall, change=change, waves=tuple(waves),
                          networks=tuple(networks), scale=(lo, hi), warnings=tuple(warns),
                          options={"missing": missing, "wave_order": wave_order})
