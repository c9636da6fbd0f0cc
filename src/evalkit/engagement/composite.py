"""A transparent weighted engagement index per unit, and how much its ranking leans on weights.

:func:`composite_index` scales each measure, points it so that higher is better, and
takes the weighted sum; the weights are normalised to sum to 1 and reported beside the
scores. :func:`weight_sensitivity` re-ranks the units under perturbed weights (each
weight up and down by a share, and random weights drawn from a Dirichlet distribution
centred on the given ones) and reports each unit's range of ranks and the Spearman
correlation of every re-ranking with the original (OECD/JRC 2008, steps 4-7).

Scalings (``x`` one measure across units; ``lower`` measures are reversed):

``"rank"``
    ``(rank(x) - 1) / (n - 1)`` with average ranks for ties, 0 (worst) to 1 (best).
``"minmax"``
    ``(x - min) / (max - min)``, 0 to 1.
``"z"``
    ``(x - mean) / sd`` with the sample standard deviation (n - 1).

A measure that is the same for every unit carries no information: it scales to the
middle (0.5; 0 for ``"z"``) and a warning says so. Ranks are 1 for the highest
composite; tied units share the best rank of their tie (``"min"``).

References
----------
OECD, Joint Research Centre. *Handbook on Constructing Composite Indicators: Methodology
and User Guide*. Paris: OECD; 2008.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_choice, check_whole
from evalkit.data.inputs import takes_frame
from evalkit.engagement.indices import EngagementResult, need_columns
from evalkit.errors import DataError, DesignError

__all__ = ["composite_index", "weight_sensitivity", "CompositeResult", "WeightSensitivity",
           "SCALINGS"]

SCALINGS = ("rank", "minmax", "z")
DIRECTIONS = ("higher", "lower")


@dataclass(frozen=True)
class CompositeResult:
    """A composite index per unit.

    Attributes
    ----------
    scores
        One row per unit: the unit, each measure's scaled value (``<measure>_scaled``,
        higher = better), ``composite`` and ``rank`` (1 = highest).
    weights
        One row per measure: ``measure``, ``weight_given``, ``weight`` (normalised),
        ``direction``.
    scaling
        The scaling used.
    unit
        The unit column of ``scores``.
    warnings
        Plain-language warnings.
    """

    scores: pd.DataFrame
    weights: pd.DataFrame
    scaling: str
    unit: str
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """The weights and the top and bottom units, as plain text."""
        w = ", ".join(f"{m} {v:.0%} ({d} is better)" for m, v, d in
                      zip(self.weights["measure"], self.weights["weight"],
                          self.weights["direction"], strict=True))
        s = self.scores.sort_values("rank")
        lines = [f"Composite engagement index of {len(s)} units, {self.scaling} scaling; "
                 f"weights: {w}.",
                 s[[self.unit, "composite", "rank"]].to_string(index=False)]
        lines.extend(f"Warning: {x}" for x in self.warnings)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The scores (a copy)."""
        return self.scores.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """``scores`` and ``weights`` (copies)."""
        return {"scores": self.scores.copy(), "weights": self.weights.copy()}


@dataclass(frozen=True)
class WeightSensitivity:
    """How units' ranks move when the composite's weights change.

    Attributes
    ----------
    ranks
        One row per unit: the unit, ``base_rank``, ``min_rank``, ``max_rank``,
        ``rank_range`` (max - min) and ``median_rank`` over all scenarios.
    scenarios
        One row per scenario: ``scenario`` (e.g. ``"referrals x1.5"``, ``"dirichlet 17"``),
        ``kind`` (``"one_at_a_time"`` or ``"dirichlet"``), ``spearman`` (the scenario's
        ranking against the base one), ``max_rank_change`` and the scenario's normalised
        weights (``w_<measure>``).
    base
        The :class:`CompositeResult` with the given weights.
    """

    ranks: pd.DataFrame
    scenarios: pd.DataFrame
    base: CompositeResult
    options: Mapping[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """The weakest agreement and the units whose rank moves most."""
        sc = self.scenarios
        r = self.ranks.sort_values("rank_range", ascending=False)
        unit = self.base.unit
        top = r.iloc[0]
        return (f"{len(sc)} weight scenarios: Spearman correlation with the base ranking "
                f"from {sc['spearman'].min():.2f} to {sc['spearman'].max():.2f} (median "
                f"{sc['spearman'].median():.2f}); the largest rank range is "
                f"{int(top['rank_range'])} places ({top[unit]}: ranks {int(top['min_rank'])}"
                f" to {int(top['max_rank'])}).")

    def to_frame(self) -> pd.DataFrame:
        """The per-unit rank ranges (a copy)."""
        return self.ranks.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """``ranks`` and ``scenarios`` (copies)."""
        return {"ranks": self.ranks.copy(), "scenarios": self.scenarios.copy()}


def _prepare(by_unit_frame, measures, direction, scaling, unit, file):
    if isinstance(by_unit_frame, EngagementResult):
        unit = by_unit_frame.options["unit"] if unit is None else unit
        by_unit_frame = by_unit_frame.by_unit
    check_choice("scaling", scaling, SCALINGS)
    if not isinstance(measures, Mapping) or not measures:
        raise DesignError("measures must map each measure (column) to its weight",
                          fix="e.g. measures={'per_1000': 2, 'mdt_attendance': 1}")
    names = [str(m) for m in measures]
    need_columns(by_unit_frame, {m: "measure" for m in names}, file=file, table="by-unit")
    if unit is not None:
        need_columns(by_unit_frame, {unit: "unit"}, file=file, table="by-unit")
    given = np.array([measures[m] for m in measures], dtype=float)
    if (~np.isfinite(given)).any() or (given < 0).any() or given.sum() <= 0:
        raise DesignError(f"weights must be non-negative numbers with a positive sum, not "
                          f"{dict(measures)}", fix="give each measure a weight of 0 or more")
    direction = dict(direction or {})
    unknown = sorted(set(map(str, direction)) - set(names))
    if unknown:
        raise DesignError(f"direction names measures not in measures: {', '.join(unknown)}",
                          fix=f"give directions for {', '.join(names)} only")
    dirs = [direction.get(m, "higher") for m in names]
    for m, d in zip(names, dirs, strict=True):
        if d not in DIRECTIONS:
            raise DesignError(f"direction of '{m}' must be 'higher' or 'lower', not {d!r}",
                              fix="say whether a higher value of the measure is better")
    X = by_unit_frame[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(X)
    if bad.any():
        col = names[int(np.flatnonzero(bad.any(0))[0])]
        rows = np.flatnonzero(bad[:, names.index(col)])
        raise DataError(f"measure '{col}' is missing or not a number for "
                        f"{rows.size} unit(s)", file=file, column=col,
                        rows=[int(r) + 2 for r in rows],
                        fix="fill the values (e.g. a never-referring unit's time to first "
                            "referral as the window length + 1), drop those units, or "
                            "leave the measure out")
    if len(X) < 2:
        raise DataError("a composite needs at least two units", file=file,
                        fix="give one row per unit")
    labels = (by_unit_frame[unit].to_numpy() if unit is not None
              else by_unit_frame.index.to_numpy())
    return X, names, given, np.array(dirs), labels, unit or "unit"


def _scale(X: np.ndarray, dirs: np.ndarray, scaling: str) -> tuple[np.ndarray, list[int]]:
    """Scale each column (higher = better); also the indices of constant columns."""
    sign = np.where(dirs == "lower", -1.0, 1.0)
    Xs = X * sign
    n = X.shape[0]
    constant = np.ptp(X, axis=0) == 0
    if scaling == "rank":
        S = (stats.rankdata(Xs, axis=0) - 1) / (n - 1)
    elif scaling == "minmax":
        lo, span = Xs.min(0), np.ptp(Xs, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            S = np.where(constant, 0.5, (Xs - lo) / np.where(constant, 1.0, span))
    else:
        sd = Xs.std(axis=0, ddof=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            S = np.where(constant, 0.0, (Xs - Xs.mean(0)) / np.where(constant, 1.0, sd))
    return S, list(np.flatnonzero(constant))


_EXPECTS = "a pandas DataFrame (one row per unit) or an engagement result"


def _is_result(value: Any) -> bool:
    """An :class:`~evalkit.engagement.EngagementResult` (its ``by_unit`` is used)."""
    return isinstance(value, EngagementResult)


def _ranks(composite: np.ndarray) -> np.ndarray:
    """Rank 1 for the highest; ties share the best rank ("min"). Works on 2-D (by row)."""
    return stats.rankdata(-np.round(composite, 12), method="min", axis=-1).astype(int)


@takes_frame(also=(_is_result, _EXPECTS))
def composite_index(by_unit_frame: pd.DataFrame | EngagementResult, *,
                    measures: Mapping[str, float], direction: Mapping[str, str] | None = None,
                    scaling: str = "rank", unit: str | None = "practice",
                    file: str | None = None) -> CompositeResult:
    """A weighted composite of engagement measures per unit.

    Parameters
    ----------
    by_unit_frame
        One row per unit with the measures as columns (e.g. ``engagement(...).by_unit``,
        or the result itself).
    measures
        Measure (column) -> weight. Weights are normalised to sum to 1.
    direction
        Measure -> ``"higher"`` or ``"lower"`` (which is better); default ``"higher"``.
    scaling
        ``"rank"``, ``"minmax"`` or ``"z"`` (see the module notes).
    unit
        The unit column; None to use the frame's index. Taken from an
        :class:`~evalkit.engagement.EngagementResult` when one is passed.
    file
        The file to name in errors.

    Returns
    -------
    CompositeResult

    Raises
    ------
    DataError
        A missing measure column, a missing or non-numeric value (rows named), fewer
        than two units.
    DesignError
        Negative weights or a zero sum, an unknown direction or scaling.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"practice": ["A", "B", "C"], "per_1000": [1.0, 4.0, 2.0],
    ...                    "time_to_first_referral": [3.0, 1.0, 2.0]})
    >>> res = composite_index(df, measures={"per_1000": 3, "time_to_first_referral": 1},
    ...                       direction={"time_to_first_referral": "lower"},
    ...                       scaling="minmax")
    >>> res.scores["rank"].tolist()
    [3, 1, 2]
    """
    if isinstance(by_unit_frame, EngagementResult) and unit == "practice":
        unit = None
    X, names, given, dirs, labels, unit_name = _prepare(by_unit_frame, measures, direction,
                                                        scaling, unit, file)
    S, constant = _scale(X, dirs, scaling)
    w = given / given.sum()
    comp = S @ w
    scores = pd.DataFrame({unit_name: labels})
    for j, m in enumerate(names):
        scores[f"{m}_scaled"] = S[:, j]
    scores["composite"] = comp
    scores["rank"] = _ranks(comp)
    weights = pd.DataFrame({"measure": names, "weight_given": given, "weight": w,
                            "direction": dirs})
    warns = tuple(f"measure '{names[j]}' is the same for every unit; it does not change the "
                  "ranking" for j in constant)
    return CompositeResult(scores=scores, weights=weights, scaling=scaling, unit=unit_name,
                           warnings=warns)


@takes_frame(also=(_is_result, _EXPECTS))
def weight_sensitivity(by_unit_frame: pd.DataFrame | EngagementResult, *,
                       measures: Mapping[str, float],
                       direction: Mapping[str, str] | None = None, scaling: str = "rank",
                       unit: str | None = "practice", perturbation: float = 0.5,
                       n_draws: int = 1000, concentration: float = 1.0, seed: int = 0,
                       file: str | None = None) -> WeightSensitivity:
    """Re-rank units under perturbed weights.

    Scenarios: each weight multiplied by ``1 + perturbation`` and by
    ``1 - perturbation`` in turn (the others unchanged, then renormalised), and
    ``n_draws`` weight vectors from a Dirichlet distribution with parameters
    ``concentration * m * w`` (``w`` the normalised weights, ``m`` the number of
    measures; with equal weights and ``concentration=1`` every weighting is equally
    likely; larger values keep draws closer to ``w``).

    Parameters
    ----------
    by_unit_frame, measures, direction, scaling, unit, file
        As :func:`composite_index`.
    perturbation
        The one-at-a-time change, a share in (0, 1]: 0.5 is +/-50%.
    n_draws
        Number of Dirichlet draws (0 for none).
    concentration
        Dirichlet concentration (see above).
    seed
        Seed of the random draws.

    Returns
    -------
    WeightSensitivity

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"practice": list("ABCD"), "per_1000": [1.0, 4.0, 2.0, 3.0],
    ...                    "mdt_attendance": [0.9, 0.2, 0.5, 0.6]})
    >>> ws = weight_sensitivity(df, measures={"per_1000": 1, "mdt_attendance": 1},
    ...                         n_draws=200, seed=1)
    >>> int(ws.ranks["rank_range"].max()) >= 1
    True
    """
    if not 0 < float(perturbation) <= 1:
        raise DesignError(f"perturbation must be in (0, 1], not {perturbation}",
                          fix="use e.g. 0.5 for +/-50%")
    check_whole("n_draws", n_draws, 0)
    if not float(concentration) > 0:
        raise DesignError("concentration must be positive", fix="use e.g. 1")
    base = composite_index(by_unit_frame, measures=measures, direction=direction,
                           scaling=scaling, unit=unit, file=file)
    if isinstance(by_unit_frame, EngagementResult) and unit == "practice":
        unit = None
    X, names, given, dirs, labels, unit_name = _prepare(by_unit_frame, measures, direction,
                                                        scaling, unit, file)
    S, _ = _scale(X, dirs, scaling)
    w0 = given / given.sum()
    m = len(names)
    factors = np.ones((2 * m, m))
    factors[np.arange(m), np.arange(m)] = 1 + perturbation
    factors[m + np.arange(m), np.arange(m)] = 1 - perturbation
    oat = factors * w0
    oat = oat / oat.sum(1, keepdims=True)
    labels_s = [f"{n} x{1 + perturbation:g}" for n in names] + \
        [f"{n} x{1 - perturbation:g}" for n in names]
    kinds = ["one_at_a_time"] * (2 * m)
    W = oat
    if n_draws and m > 1:
        rng = np.random.default_rng(seed)
        alpha = np.maximum(concentration * m * w0, 1e-6)
        W = np.vstack([oat, rng.dirichlet(alpha, size=n_draws)])
        labels_s += [f"dirichlet {i + 1}" for i in range(n_draws)]
        kinds += ["dirichlet"] * n_draws
    base_rank = base.scores["rank"].to_numpy()
    R = _ranks(W @ S.T)                      # scenarios x units
    all_r = np.vstack([base_rank, R])
    spearman = _spearman_rows(R, base_rank)
    ranks = pd.DataFrame({unit_name: labels, "base_rank": base_rank,
                          "min_rank": all_r.min(0), "max_rank": all_r.max(0),
                          "rank_range": all_r.max(0) - all_r.min(0),
                          "median_rank": np.median(all_r, axis=0)})
    scen = pd.DataFrame({"scenario": labels_s, "kind": kinds, "spearman": spearman,
                         "max_rank_change": np.abs(R - base_rank).max(1)})
    for j, n in enumerate(names):
        scen[f"w_{n}"] = W[:, j]
    return WeightSensitivity(ranks=ranks, scenarios=scen, base=base,
                             options={"perturbation": perturbation, "n_draws": n_draws,
                                      "concentration": concentration, "seed": seed,
                                      "scaling": scaling})


def _spearman_rows(R: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``R`` with ``base``.

    Pearson's correlation of average ranks, as ``scipy.stats.spearmanr``, for every row
    at once. A ranking with every unit tied has no correlation (NaN).
    """
    a = stats.rankdata(R, axis=1)
    b = stats.rankdata(base)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a @ b) / np.sqrt((a**2).sum(axis=1) * (b**2).sum())
