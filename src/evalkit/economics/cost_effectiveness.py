"""Cost-effectiveness: incremental ratios with dominance, net benefit, CEAC and EVPI.

Strategies are compared on a mean cost and a mean effect (QALYs, or a natural unit such
as admissions avoided). The functions here take either one row per strategy (point
estimates) or many rows per strategy, one per *draw* (bootstrap replicates or a
probabilistic sensitivity analysis), in long form: ``strategy, cost, effect, draw``.

ICER frontier (:func:`icer`)
    Strategies are ordered by effect (then cost). A strategy is *dominated* when another
    costs no more and gains at least as much, one of the two strictly (Drummond et al.,
    2015). Among the rest, a strategy is *extendedly dominated* when its ICER against
    the previous strategy on the frontier is higher than the next strategy's ICER
    against it: a mix of its neighbours would give more effect for the same cost
    (Cantor, 1994). Removing it and recomputing until the ICERs rise along the frontier
    gives the efficiency frontier. The first strategy on the frontier (the least costly
    non-dominated one) is the reference.
Two-strategy ratio (:func:`incremental`)
    ``ICER = delta_cost / delta_effect``. With no difference in effect it is undefined
    (reported as NaN with the reason), never infinite. The quadrant of the
    cost-effectiveness plane names what the ratio means: ``dominant`` (saves money and
    gains health), ``dominated``, ``north-east`` (costs more, gains more: the ICER is a
    cost per unit gained) or ``south-west`` (saves money, loses health: the ICER is a
    saving per unit lost).
Net monetary benefit (:func:`nmb`)
    ``NMB = lambda * effect - cost`` at a willingness to pay ``lambda`` per unit of
    effect; the strategy with the highest expected NMB is optimal (Stinnett and Mullahy,
    1998). NICE's thresholds are 20,000 and 30,000 pounds per QALY (:data:`NICE_WTP`).
CEAC (:func:`ceac`)
    The probability that each strategy has the highest NMB, over the draws, at each
    willingness to pay; the *frontier* flag marks the strategy with the highest expected
    NMB (the acceptability frontier, Fenwick et al., 2001).
EVPI (:func:`evpi`)
    ``E_draws[max_k NMB_k] - max_k E_draws[NMB_k]`` per person (Claxton, 1999), times the
    population affected if given.

References
----------
Drummond MF, Sculpher MJ, Claxton K, Stoddart GL, Torrance GW. *Methods for the Economic
Evaluation of Health Care Programmes*, 4th ed. Oxford University Press; 2015.
Cantor SB. Cost-effectiveness analysis, extended dominance, and ethics: a quantitative
assessment. *Med Decis Making* 1994;14:259-265.
Stinnett AA, Mullahy J. Net health benefits: a new framework for the analysis of
uncertainty in cost-effectiveness analysis. *Med Decis Making* 1998;18:S68-S80.
Fenwick E, Claxton K, Sculpher M. Representing uncertainty: the role of
cost-effectiveness acceptability curves. *Health Econ* 2001;10:779-787.
Claxton K. The irrelevance of inference: a decision-making approach to the stochastic
evaluation of health care technologies. *J Health Econ* 1999;18:341-364.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.arguments import check_whole
from evalkit.data.contract import nearest
from evalkit.data.inputs import takes_frame
from evalkit.economics.bootstrap import (
    Seed,
    _check_values,
    _cluster_cells,
    _cluster_codes,
    _cluster_df,
    _cluster_resampled_means,
    _group_codes,
    _make_cells,
    _resampled_means,
    _rng,
    _t_factor,
    _widen,
)
from evalkit.errors import DataError, DesignError, format_rows

__all__ = ["NICE_WTP", "WTP_GRID", "icer", "incremental", "nmb", "ceac", "evpi",
           "draws_matrix", "ce_bootstrap"]

#: NICE's willingness-to-pay thresholds, pounds per QALY (NICE manual PMG36, 2022).
NICE_WTP = (20_000.0, 30_000.0)
#: The default grid of willingness to pay for a CEAC: 0 to 50,000 in steps of 1,000.
WTP_GRID = tuple(float(x) for x in range(0, 50_001, 1_000))

STATUSES = ("reference", "frontier", "dominated", "extended_dominated")


# --------------------------------------------------------------------------- input


def _column(frame: pd.DataFrame, name: str, what: str, file: str | None) -> None:
    if name not in frame.columns:
        guess = nearest(str(name), map(str, frame.columns))
        raise DataError(f"the {what} column '{name}' is missing", file=file, column=str(name),
                        fix=f"did you mean '{guess}'?" if guess else
                        f"name the {what} column with {what}=...")


def _numbers(frame: pd.DataFrame, name: str, file: str | None) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"'{name}' has missing or non-numeric values in "
                        f"{format_rows(np.flatnonzero(bad) + 2)}", file=file, column=name,
                        fix="give every strategy a numeric mean cost and effect")
    return values


def _strategies(data: Any, strategy: str, cost: str, effect: str, file: str | None
                ) -> pd.DataFrame:
    """One row per strategy: strategy, cost, effect (names checked unique)."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, dict):
        frame = pd.DataFrame([{strategy: k, cost: v[0], effect: v[1]} for k, v in data.items()])
    else:
        raise DesignError(f"strategies must be a DataFrame, not {type(data).__name__}",
                          fix=f"pass a table with columns '{strategy}', '{cost}', '{effect}'")
    for name, what in ((strategy, "strategy"), (cost, "cost"), (effect, "effect")):
        _column(frame, name, what, file)
    if frame.empty:
        raise DataError("there are no strategies to compare", file=file,
                        fix="give at least two strategies")
    names = frame[strategy].astype(str)
    dup = names[names.duplicated()].unique().tolist()
    if dup:
        raise DataError(f"strategy names appear more than once: {', '.join(dup[:5])}",
                        file=file, column=strategy,
                        fix="give one row per strategy (average draws first, or use ceac/evpi "
                            "for draws)")
    return pd.DataFrame({"strategy": names.to_numpy(), "cost": _numbers(frame, cost, file),
                         "effect": _numbers(frame, effect, file)})


def draws_matrix(draws: pd.DataFrame, *, strategy: str = "strategy", cost: str = "cost",
                 effect: str = "effect", draw: str = "draw", file: str | None = None
                 ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Costs and effects of every strategy in every draw, as ``(draws, strategies)`` arrays.

    ``draws`` is long (``strategy, cost, effect, draw``: one row per strategy and draw),
    or the two-strategy increments of a bootstrap (columns ``inc_cost`` and
    ``inc_effect``, one row per replicate), which become the strategies ``"comparator"``
    (0, 0) and ``"scheme"``.

    Returns
    -------
    names, costs, effects
        Strategy names (in order of first appearance) and two ``(n_draws, n_strategies)``
        arrays.
    """
    if not isinstance(draws, pd.DataFrame):
        raise DesignError(f"draws must be a DataFrame, not {type(draws).__name__}",
                          fix="pass long draws (strategy, cost, effect, draw)")
    if {"inc_cost", "inc_effect"} <= set(draws.columns) and strategy not in draws.columns:
        dc, de = _numbers(draws, "inc_cost", file), _numbers(draws, "inc_effect", file)
        zeros = np.zeros_like(dc)
        return ["comparator", "scheme"], np.c_[zeros, dc], np.c_[zeros, de]
    for name, what in ((strategy, "strategy"), (cost, "cost"), (effect, "effect"),
                       (draw, "draw")):
        _column(draws, name, what, file)
    c, e = _numbers(draws, cost, file), _numbers(draws, effect, file)
    names = pd.unique(draws[strategy].astype(str)).tolist()
    s_code = pd.Categorical(draws[strategy].astype(str), categories=names).codes
    d_values, d_code = np.unique(draws[draw].to_numpy(), return_inverse=True)
    n_d, n_s = d_values.size, len(names)
    counts = np.zeros((n_d, n_s), dtype=int)
    np.add.at(counts, (d_code, s_code), 1)
    if (counts != 1).any():
        bad = np.argwhere(counts != 1)[:5]
        example = ", ".join(f"draw {d_values[i]} x {names[j]} ({counts[i, j]} rows)"
                            for i, j in bad)
        raise DataError(f"every draw needs exactly one row per strategy; not so for {example}",
                        file=file, column=draw,
                        fix="give each draw one cost and effect for every strategy")
    costs, effects = np.empty((n_d, n_s)), np.empty((n_d, n_s))
    costs[d_code, s_code] = c
    effects[d_code, s_code] = e
    return names, costs, effects


def _wtp(values: Any, name: str = "wtp") -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise DesignError(f"{name} must be one or more non-negative amounts, not {values!r}",
                          fix="e.g. wtp=[20000, 30000] (pounds per unit of effect)")
    return arr


# --------------------------------------------------------------------------- ratios


def incremental(delta_cost: float, delta_effect: float) -> dict[str, Any]:
    """The ICER of one strategy against another, with its quadrant.

    Parameters
    ----------
    delta_cost, delta_effect
        Cost and effect of the strategy minus those of its comparator.

    Returns
    -------
    dict
        ``icer`` (NaN when undefined or meaningless), ``quadrant`` (``"north-east"``,
        ``"south-west"``, ``"dominant"``, ``"dominated"``, ``"no difference in effect"``)
        and ``note``, a sentence saying how to read it.

    Examples
    --------
    >>> incremental(1000.0, 0.05)["icer"]
    20000.0
    >>> incremental(500.0, 0.0)["quadrant"]
    'no difference in effect'
    """
    dc, de = float(delta_cost), float(delta_effect)
    if not (np.isfinite(dc) and np.isfinite(de)):
        raise DesignError("the cost and effect differences must be finite numbers",
                          fix="check the estimates passed to incremental()")
    if de == 0.0:
        return {"icer": float("nan"), "quadrant": "no difference in effect",
                "note": "the ICER is undefined: the strategies have the same effect, so the "
                        "decision rests on cost alone"}
    if de > 0 and dc <= 0:
        return {"icer": float("nan"), "quadrant": "dominant",
                "note": "dominant: gains more and costs no more, so no ratio is needed"}
    if de < 0 and dc >= 0:
        return {"icer": float("nan"), "quadrant": "dominated",
                "note": "dominated: gains less and costs no less"}
    ratio = dc / de
    if de > 0:
        return {"icer": ratio, "quadrant": "north-east",
                "note": "costs more and gains more: the ICER is the cost per unit gained"}
    return {"icer": ratio, "quadrant": "south-west",
            "note": "saves money and loses effect: the ICER is the saving per unit lost, "
                    "acceptable only if above the willingness to pay"}


@takes_frame
def icer(strategies: pd.DataFrame, *, strategy: str = "strategy", cost: str = "cost",
         effect: str = "effect", file: str | None = None) -> pd.DataFrame:
    """Incremental cost-effectiveness ratios along the efficiency frontier.

    Parameters
    ----------
    strategies
        One row per strategy with its mean cost and mean effect.
    strategy, cost, effect
        Column names.
    file
        The file the table came from, for messages.

    Returns
    -------
    pandas.DataFrame
        One row per strategy in order of effect (then cost): ``strategy, cost, effect,
        status, inc_cost, inc_effect, icer, compared_with, note``. ``status`` is
        ``reference`` (the least costly non-dominated strategy), ``frontier``,
        ``dominated`` or ``extended_dominated``. Increments and ICERs of frontier
        strategies are against the previous frontier strategy; they are NaN for the
        reference and for dominated strategies.

    Examples
    --------
    The HERC example (as in the R package dampack):

    >>> t = pd.DataFrame({"strategy": ["UC", "B", "A", "C", "D", "E"],
    ...                   "cost": [5000, 10000, 12000, 25000, 35000, 55000],
    ...                   "effect": [1, 2, 1.5, 3, 4, 5]})
    >>> out = icer(t)
    >>> dict(zip(out["strategy"], out["status"]))  # doctest: +NORMALIZE_WHITESPACE
    {'UC': 'reference', 'A': 'dominated', 'B': 'frontier', 'C': 'extended_dominated',
     'D': 'frontier', 'E': 'frontier'}
    >>> out.set_index("strategy")["icer"].dropna().tolist()
    [5000.0, 12500.0, 20000.0]
    """
    table = _strategies(strategies, strategy, cost, effect, file)
    order = np.lexsort((table["cost"].to_numpy(), table["effect"].to_numpy()))
    table = table.iloc[order].reset_index(drop=True)
    c, e = table["cost"].to_numpy(), table["effect"].to_numpy()
    names = table["strategy"].tolist()
    n = len(table)
    status = np.array(["frontier"] * n, dtype=object)
    note = [""] * n
    # strict (strong) dominance; exact ties keep the first strategy in effect/cost order
    for i in range(n):
        better = (c <= c[i]) & (e >= e[i]) & ((c < c[i]) | (e > e[i]))
        same = (c == c[i]) & (e == e[i]) & (np.arange(n) < i)
        if better.any():
            j = int(np.flatnonzero(better)[np.argmin(c[better])])
            status[i] = "dominated"
            note[i] = (f"dominated by {names[j]}: costs {c[i] - c[j]:,.6g} more and gains "
                       f"{e[j] - e[i]:,.6g} less")
        elif same.any():
            j = int(np.flatnonzero(same)[0])
            status[i] = "dominated"
            note[i] = f"the same cost and effect as {names[j]}; listed once on the frontier"
    # extended dominance, removing one strategy at a time until the ICERs rise
    while True:
        live = np.flatnonzero(status == "frontier")
        if live.size < 3:
            break
        ratios = np.diff(c[live]) / np.diff(e[live])  # effects strictly increase here
        falls = np.flatnonzero(ratios[:-1] > ratios[1:])
        if falls.size == 0:
            break
        k = live[falls[0] + 1]
        lo, hi = live[falls[0]], live[falls[0] + 2]
        status[k] = "extended_dominated"
        note[k] = (f"extendedly dominated: a mix of {names[lo]} and {names[hi]} gains more "
                   f"for the same cost (ICER {ratios[falls[0]]:,.0f} against {names[lo]} is "
                   f"above {names[hi]}'s {ratios[falls[0] + 1]:,.0f} against it)")
    inc_c, inc_e, ratio = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    compared = [""] * n
    live = np.flatnonzero(status == "frontier")
    status[live[0]] = "reference"
    note[live[0]] = "reference: the least costly strategy that is not dominated"
    for prev, cur in zip(live[:-1], live[1:], strict=True):
        inc_c[cur], inc_e[cur] = c[cur] - c[prev], e[cur] - e[prev]
        ratio[cur] = inc_c[cur] / inc_e[cur]
        compared[cur] = names[prev]
        note[cur] = f"on the frontier: {ratio[cur]:,.0f} per unit of effect over {names[prev]}"
    table["status"] = status.astype(str)
    table["inc_cost"], table["inc_effect"], table["icer"] = inc_c, inc_e, ratio
    table["compared_with"] = compared
    table["note"] = note
    return table


# --------------------------------------------------------------------------- net benefit


@takes_frame
def nmb(strategies: pd.DataFrame, *, wtp: Any = NICE_WTP, strategy: str = "strategy",
        cost: str = "cost", effect: str = "effect", draw: str | None = None,
        reference: str | None = None, conf_level: float = 0.95,
        file: str | None = None) -> pd.DataFrame:
    """Net monetary benefit ``wtp * effect - cost`` of each strategy at each threshold.

    Parameters
    ----------
    strategies
        One row per strategy (means), or long draws with a ``draw`` column (bootstrap or
        PSA), or bootstrap increments (``inc_cost``, ``inc_effect``).
    wtp
        Willingness to pay per unit of effect; NICE's 20,000 and 30,000 per QALY by
        default.
    draw
        The draw column when ``strategies`` holds draws.
    reference
        The strategy incremental NMB is measured against; by default the first strategy
        (in the input's order).
    conf_level
        For the interval of the NMB over draws.

    Returns
    -------
    pandas.DataFrame
        ``wtp, strategy, cost, effect, nmb, inc_nmb, optimal`` (the highest expected NMB
        at that threshold), and with draws also ``inc_nmb_low``, ``inc_nmb_high`` (the
        percentile interval of the incremental NMB over the draws) and
        ``prob_cost_effective`` (the share of draws in which the strategy has the
        highest NMB).
    """
    lam = _wtp(wtp)
    with_draws = draw is not None or (isinstance(strategies, pd.DataFrame)
                                      and {"inc_cost", "inc_effect"} <= set(strategies.columns))
    if with_draws:
        names, C, E = draws_matrix(strategies, strategy=strategy, cost=cost, effect=effect,
                                   draw=draw or "draw", file=file)
    else:
        table = _strategies(strategies, strategy, cost, effect, file)
        names = table["strategy"].tolist()
        C, E = table["cost"].to_numpy()[None, :], table["effect"].to_numpy()[None, :]
    ref = 0 if reference is None else _position(names, reference)
    alpha = 1 - conf_level
    rows = []
    for lv in lam:
        nb = lv * E - C                        # (draws, strategies)
        mean_nb = nb.mean(axis=0)
        best = int(np.argmax(mean_nb))
        inc = nb - nb[:, [ref]]
        winner = np.bincount(np.argmax(nb, axis=1), minlength=len(names)) / nb.shape[0]
        for k, name in enumerate(names):
            row = {"wtp": lv, "strategy": name, "cost": C[:, k].mean(),
                   "effect": E[:, k].mean(), "nmb": mean_nb[k], "inc_nmb": inc[:, k].mean(),
                   "optimal": k == best}
            if with_draws:
                lo, hi = np.quantile(inc[:, k], [alpha / 2, 1 - alpha / 2])
                row.update(inc_nmb_low=lo, inc_nmb_high=hi, prob_cost_effective=winner[k])
            rows.append(row)
    return pd.DataFrame(rows)


def _position(names: Sequence[str], name: str) -> int:
    if str(name) not in names:
        guess = nearest(str(name), names)
        raise DesignError(f"there is no strategy '{name}'",
                          fix=f"use one of {', '.join(names)}"
                          + (f" (did you mean '{guess}'?)" if guess else ""))
    return list(names).index(str(name))


@takes_frame
def ceac(draws: pd.DataFrame, *, wtp: Any = WTP_GRID, strategy: str = "strategy",
         cost: str = "cost", effect: str = "effect", draw: str = "draw",
         file: str | None = None) -> pd.DataFrame:
    """Cost-effectiveness acceptability curves, with the acceptability frontier.

    Parameters
    ----------
    draws
        Long draws (``strategy, cost, effect, draw``) from a bootstrap or PSA, or bootstrap
        increments (``inc_cost``, ``inc_effect``).
    wtp
        The thresholds; 0 to 50,000 in steps of 1,000 by default.

    Returns
    -------
    pandas.DataFrame
        ``wtp, strategy, probability, frontier``: the share of draws in which the strategy
        has the highest NMB (ties go to the first strategy) and whether it has the highest
        expected NMB at that threshold.
    """
    lam = _wtp(wtp)
    names, C, E = draws_matrix(draws, strategy=strategy, cost=cost, effect=effect, draw=draw,
                               file=file)
    n_d, n_s = C.shape
    prob = np.empty((lam.size, n_s))
    best = np.empty(lam.size, dtype=int)
    step = max(1, 4_000_000 // max(n_d * n_s, 1))
    for start in range(0, lam.size, step):
        block = lam[start:start + step, None, None]
        nb = block * E[None] - C[None]                     # (wtp, draws, strategies)
        winners = np.argmax(nb, axis=2)
        prob[start:start + step] = (winners[..., None] == np.arange(n_s)).mean(axis=1)
        best[start:start + step] = np.argmax(nb.mean(axis=1), axis=1)
    return pd.DataFrame({"wtp": np.repeat(lam, n_s), "strategy": np.tile(names, lam.size),
                         "probability": prob.ravel(),
                         "frontier": (best[:, None] == np.arange(n_s)).ravel()})


@takes_frame
def evpi(draws: pd.DataFrame, *, wtp: Any = NICE_WTP, population: float | None = None,
         strategy: str = "strategy", cost: str = "cost", effect: str = "effect",
         draw: str = "draw", file: str | None = None) -> pd.DataFrame:
    """Expected value of perfect information, per person and for a population.

    ``EVPI = mean over draws of the best NMB - the best mean NMB``: what removing all
    uncertainty about the inputs would be worth, at each willingness to pay.

    Parameters
    ----------
    draws
        Long draws or bootstrap increments, as for :func:`ceac`.
    wtp
        Thresholds (NICE's by default).
    population
        The number of people the decision affects over its lifetime (already discounted
        if it spans years); the population EVPI is ``population * EVPI``.

    Returns
    -------
    pandas.DataFrame
        ``wtp, evpi_per_person, evpi_population, optimal`` (the strategy with the highest
        expected NMB).
    """
    lam = _wtp(wtp)
    if population is not None and (not np.isfinite(population) or population < 0):
        raise DesignError(f"population must be a non-negative number, not {population!r}",
                          fix="give the number of people affected, or leave it out")
    names, C, E = draws_matrix(draws, strategy=strategy, cost=cost, effect=effect, draw=draw,
                               file=file)
    rows = []
    for lv in lam:
        nb = lv * E - C
        mean_nb = nb.mean(axis=0)
        value = float(nb.max(axis=1).mean() - mean_nb.max())
        value = max(value, 0.0)  # rounding can make a certain decision a hair negative
        rows.append({"wtp": lv, "evpi_per_person": value,
                     "evpi_population": value * population if population is not None
                     else float("nan"),
                     "optimal": names[int(np.argmax(mean_nb))]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- bootstrap


@takes_frame
def ce_bootstrap(data: pd.DataFrame, *, group: str, cost: str, effect: str,
                 reference: Any = None, n_resamples: int = 2000, seed: Seed = None,
                 strata: str | None = None, cluster: str | None = None,
                 file: str | None = None) -> pd.DataFrame:
    """Bootstrap replicates of the incremental cost and effect between two arms.

    Patients are resampled with replacement within each arm (and stratum), keeping each
    patient's cost and effect together, so the replicates carry their correlation
    (Briggs, Wonderling and Mooney, 1997). With ``cluster`` (the patients' practice)
    whole practices are resampled instead, within the kinds of practice the arms make
    (see :mod:`evalkit.economics.bootstrap`), keeping each practice's costs and effects
    together. The result feeds the cost-effectiveness plane,
    :func:`ceac`, :func:`nmb` and :func:`evpi`.

    Parameters
    ----------
    data
        One row per patient.
    group
        The arm column (two values); ``reference`` names the comparator (by default the
        first label in sorted order).
    cost, effect
        Patient-level cost and effect (e.g. QALYs) columns.
    n_resamples, seed
        Replicates and the seed of the random generator.
    strata
        Resample within strata as well as arms.
    cluster
        The practice (cluster) column when patients are nested in practices: practices
        are resampled whole, and the replicates' deviations from the observed increments
        are scaled by the small-sample factor ``t_{df, 0.975} / z_{0.975}``
        (:func:`evalkit.economics.bootstrap.cluster_t_factor`, ``df`` = practices less
        resampling strata), so that 95% percentile intervals, net-benefit intervals and
        the CEAC read from them allow for few practices. Not with ``strata``.

    Returns
    -------
    pandas.DataFrame
        ``replicate, inc_cost, inc_effect``; ``attrs`` hold the observed ``inc_cost``,
        ``inc_effect``, the ``groups`` (reference first), ``n`` per arm and, with
        ``cluster``, ``n_clusters`` (practices holding each arm), ``df`` and
        ``t_factor`` (the factor applied).

    References
    ----------
    Briggs AH, Wonderling DE, Mooney CZ. Pulling cost-effectiveness analysis up by its
    bootstraps: a non-parametric approach to confidence interval estimation. *Health
    Econ* 1997;6:327-340.
    """
    check_whole("n_resamples", n_resamples, 1)
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"data must be a DataFrame, not {type(data).__name__}",
                          fix="pass one row per patient")
    for name, what in ((group, "group"), (cost, "cost"), (effect, "effect")):
        _column(data, name, what, file)
    if strata is not None:
        _column(data, strata, "strata", file)
    if cluster is not None:
        _column(data, cluster, "cluster", file)
        if strata is not None:
            raise DesignError("give strata or cluster, not both",
                              fix="with practices, drop strata (arms are kept apart anyway)")
    values = np.c_[_check_values(data[cost], cost), _check_values(data[effect], effect)]
    codes, labels = _group_codes(data[group].to_numpy(), len(data), reference)
    observed = np.array([values[codes == g].mean(axis=0) for g in (0, 1)])
    extra: dict[str, Any] = {}
    if cluster is None:
        cells = _make_cells(values, codes, labels,
                            None if strata is None else data[strata].to_numpy())
        means = _resampled_means(cells, n_resamples, _rng(seed))   # (B, 2, 2)
    else:
        c_codes, c_names = _cluster_codes(data[cluster], len(data), cluster, file)
        ccells = _cluster_cells(values, codes, labels, c_codes, c_names, name=cluster)
        means = _cluster_resampled_means(ccells, n_resamples, _rng(seed))
        df = _cluster_df(ccells)
        extra.update(n_clusters=list(ccells.n_clusters), df=df,
                     t_factor=_t_factor(df, 0.95))
    inc = _widen(means[:, 1] - means[:, 0], observed[1] - observed[0],
                 extra.get("t_factor", 1.0))
    out = pd.DataFrame({"replicate": np.arange(1, n_resamples + 1),
                        "inc_cost": inc[:, 0], "inc_effect": inc[:, 1]})
    out.attrs.update(inc_cost=float(observed[1, 0] - observed[0, 0]),
                     inc_effect=float(observed[1, 1] - observed[0, 1]),
                     groups=[str(x) for x in labels],
                     n=[int((codes == g).sum()) for g in (0, 1)], **extra)
    return out
