"""Age- and sex-standardised rates: direct (DSR) and indirect (SMR/SIR and ISR).

Units differ in who they serve: a practice with an older list has more admissions
whatever it does. Standardisation compares them as if they had the same make-up.

Direct standardisation
    With ``O_gs`` events and ``n_gs`` people (or person-years) in group ``g`` and
    stratum ``s`` (e.g. age band by sex) and standard population weights ``w_s``::

        DSR_g = sum_s(w_s * O_gs / n_gs) / sum_s(w_s)                (times the multiplier)
        var_g = sum_s(O_gs * (w_s / n_gs)^2) / sum_s(w_s)^2

    The interval is Dobson et al.'s (1991): with ``O = sum_s O_gs`` and ``(O_L, O_U)`` a
    Poisson interval for ``O``::

        DSR_L = DSR + sqrt(var / O) * (O_L - O),   DSR_U = DSR + sqrt(var / O) * (O_U - O)

    By default ``(O_L, O_U)`` are the exact Poisson limits (chi-square quantiles, as
    Dobson et al. propose); ``count_limits="byar"`` uses Byar's approximation, as the
    PHEindicatormethods function ``phe_dsr`` and the PHE technical guide do. PHE does
    not publish a DSR from fewer than 10 events (Morris et al., 2018); such groups get a
    warning here. The default standard is the pooled population of all groups in each
    stratum; pass ``standard=`` for e.g. the 2013 European Standard Population.

Indirect standardisation
    With standard (reference) stratum rates ``R_s = X_s / N_s``, the expected count is
    ``E_g = sum_s(n_gs * R_s)``, the standardised ratio (SMR, SIR) is ``O_g / E_g`` and
    the indirectly standardised rate is ``O_g / E_g * sum_s(X_s) / sum_s(N_s)``
    (times the multiplier). The interval divides a Poisson interval for ``O_g`` by
    ``E_g``. Following PHE (technical guide; ``calculate_ISRate`` in
    PHEindicatormethods), ``count_limits="phe"`` (the default here) uses Byar's
    approximation (Breslow & Day, 1987) for 10 or more events and the exact limits
    below 10::

        Byar:  O_L = O * (1 - 1/(9 O) - z / (3 sqrt(O)))^3
               O_U = (O + 1) * (1 - 1/(9 (O + 1)) + z / (3 sqrt(O + 1)))^3
        exact: O_L = chi2.ppf(a/2, 2 O) / 2,  O_U = chi2.ppf(1 - a/2, 2 O + 2) / 2

    The default standard is the pooled rates of all groups.

References
----------
Dobson AJ, Kuulasmaa K, Eberle E, Scherer J (1991). Confidence intervals for weighted
sums of Poisson parameters. *Statistics in Medicine* 10:457-462.
Breslow NE, Day NE (1987). *Statistical Methods in Cancer Research, Volume II: The
Design and Analysis of Cohort Studies*. IARC Scientific Publications No. 82, Lyon.
Public Health England (2018). *Technical Guide: Confidence Intervals* (Appendix 1,
Byar's method; Appendix 2, exact method; Appendix 4, Dobson's method).
Eayres D (2008). *Commonly used public health statistics and their confidence
intervals*. APHO Technical Briefing 3.
Fox G, et al. PHEindicatormethods: common public health statistics and their confidence
intervals (R package; functions ``phe_dsr``, ``calculate_ISRate``, ``byars_lower``,
``byars_upper``).
Morris JK, Tan J, Fryers P, Bestwick J (2018). Evaluation of stability of directly
standardized rates for sparse data using simulation methods. *Population Health
Metrics* 16:19.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.data.arguments import check_choice, check_conf_level
from evalkit.data.inputs import takes_frame
from evalkit.errors import DataError, DesignError
from evalkit.results import ReadOnlyOptions
from evalkit.variation.funnel import _counts, _labels, _require_columns, _rows

__all__ = ["StandardisedRates", "standardised_rates", "poisson_limits", "METHODS",
           "COUNT_LIMITS"]

METHODS = ("direct", "indirect")
#: Poisson intervals for a count: exact, Byar's, or PHE's rule (exact below 10 events).
COUNT_LIMITS = ("exact", "byar", "phe")
_PHE_MIN_EVENTS = 10


def poisson_limits(count, conf_level: float = 0.95, *, method: str = "exact"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Confidence limits for a Poisson count (vectorised).

    Parameters
    ----------
    count
        Observed counts (non-negative).
    conf_level
        Two-sided confidence level.
    method
        ``"exact"`` (chi-square quantiles), ``"byar"`` (Byar's approximation, Breslow &
        Day 1987) or ``"phe"`` (exact below 10 events, Byar's from 10, as PHE).

    Returns
    -------
    (lower, upper)
        Arrays of limits on the count scale; the lower limit of a zero count is 0.

    Examples
    --------
    >>> lo, hi = poisson_limits([0, 10], 0.95)
    >>> lo.round(3).tolist(), hi.round(3).tolist()
    ([0.0, 4.795], [3.689, 18.39])
    """
    check_choice("count_limits", method, COUNT_LIMITS)
    check_conf_level(conf_level)
    x = np.atleast_1d(np.asarray(count, dtype=float))
    a = 1 - conf_level
    with np.errstate(divide="ignore", invalid="ignore"):
        ex_lo = np.where(x > 0, stats.chi2.ppf(a / 2, 2 * x) / 2, 0.0)
        ex_hi = stats.chi2.ppf(1 - a / 2, 2 * x + 2) / 2
        z = stats.norm.ppf(1 - a / 2)
        by_lo = np.where(x > 0, x * (1 - 1 / (9 * x) - z / (3 * np.sqrt(x))) ** 3, 0.0)
        by_hi = (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * np.sqrt(x + 1))) ** 3
    by_lo = np.maximum(by_lo, 0.0)
    if method == "exact":
        return ex_lo, ex_hi
    if method == "byar":
        return by_lo, by_hi
    small = x < _PHE_MIN_EVENTS
    return np.where(small, ex_lo, by_lo), np.where(small, ex_hi, by_hi)


@dataclass(frozen=True)
class StandardisedRates(ReadOnlyOptions):
    """Standardised rates by group.

    Attributes
    ----------
    rates
        One row per group. Direct: ``group``, ``events``, ``population``, ``crude_rate``,
        ``rate`` (the DSR), ``ci_low``, ``ci_high``, ``conf_level``, ``ci_method``.
        Indirect: ``group``, ``observed``, ``expected``, ``ratio`` (SMR/SIR),
        ``ratio_ci_low``, ``ratio_ci_high``, ``population``, ``crude_rate``,
        ``reference_rate``, ``rate`` (the ISR), ``ci_low``, ``ci_high``, ``conf_level``,
        ``ci_method``. Rates are per ``multiplier``.
    strata
        The stratum-level table the rates were built from (group, strata, events,
        population, and the standard's weight or rate).
    standard
        The standard used: strata with ``weight`` (direct) or ``events``,
        ``population`` and ``rate`` (indirect).
    method
        ``"direct"`` or ``"indirect"``.
    """

    rates: pd.DataFrame
    strata: pd.DataFrame
    standard: pd.DataFrame
    method: str
    multiplier: float
    conf_level: float
    standard_source: str = "pooled"
    warnings: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The rates table (a copy)."""
        return self.rates.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The frames a plot would draw: ``rates`` and ``strata`` (copies)."""
        return {"rates": self.rates.copy(), "strata": self.strata.copy()}

    def summary(self) -> str:
        """Plain text: one line per group with its rate and interval."""
        per = f"per {self.multiplier:,g}"
        level = f"{self.conf_level:.0%}" if self.conf_level * 100 == round(
            self.conf_level * 100) else f"{self.conf_level * 100:g}%"
        r = self.rates
        if self.method == "direct":
            head = (f"Directly standardised rates {per} ({self.standard_source} standard, "
                    f"{len(self.standard)} strata), {level} Dobson intervals:")
            body = [f"  {g}: {v:.4g} ({lo:.4g} to {hi:.4g}); {int(e)} events, crude "
                    f"{c:.4g}" for g, v, lo, hi, e, c in
                    zip(r["group"], r["rate"], r["ci_low"], r["ci_high"], r["events"],
                        r["crude_rate"], strict=True)]
        else:
            head = (f"Indirectly standardised ratios and rates {per} "
                    f"({self.standard_source} standard, {len(self.standard)} strata), "
                    f"{level} intervals:")
            body = [f"  {g}: ratio {s:.3f} ({slo:.3f} to {shi:.3f}), observed {int(o)}, "
                    f"expected {e:.1f}; rate {v:.4g} ({lo:.4g} to {hi:.4g}) [{m}]"
                    for g, s, slo, shi, o, e, v, lo, hi, m in
                    zip(r["group"], r["ratio"], r["ratio_ci_low"], r["ratio_ci_high"],
                        r["observed"], r["expected"], r["rate"], r["ci_low"], r["ci_high"],
                        r["ci_method"], strict=True)]
        lines = [head, *body]
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<StandardisedRates {self.method}: {len(self.rates)} groups>"


def _as_list(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise DesignError(f"strata must name one or more columns, not {value!r}",
                      fix='use e.g. strata=["age_band", "sex"]')


def _stratum_keys(frame: pd.DataFrame, strata: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[strata].astype(object))


def _show_stratum(key, strata: list[str]) -> str:
    key = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{s}={k}" for s, k in zip(strata, key, strict=True))


def _read_standard(standard: pd.DataFrame, strata: list[str], needs: list[str], *,
                   file: str | None) -> pd.DataFrame:
    """Check a user's standard table: strata present once each, counts valid."""
    _require_columns(standard, strata + needs, file=None, what="standard")
    for s in strata:
        _labels(standard, s, file=None, what=f"the stratum '{s}' in the standard")
    keys = _stratum_keys(standard, strata)
    dup = keys.duplicated(keep=False)
    if dup.any():
        raise DataError("a stratum appears more than once in the standard",
                        column=", ".join(strata), rows=_rows(dup),
                        fix="give each stratum one row in the standard")
    out = standard[strata].copy()
    for col in needs:
        out[col] = _counts(standard, col, file=None, what=f"'{col}' in the standard")
    return out


@takes_frame
def standardised_rates(data: pd.DataFrame, *, events: str, population: str, group: str,
                       strata: str | Sequence[str], method: str = "direct",
                       standard: pd.DataFrame | None = None, multiplier: float = 100_000,
                       conf_level: float = 0.95, count_limits: str | None = None,
                       file: str | None = None) -> StandardisedRates:
    """Directly or indirectly standardised rates per group, with confidence intervals.

    Parameters
    ----------
    data
        One row per group and stratum (rows repeating a group and stratum are summed).
    events, population
        Columns of event counts and of people (or person-years) at risk.
    group
        The column of the units compared (practice, PCN, period).
    strata
        The standardising columns, e.g. ``["age_band", "sex"]``.
    method
        ``"direct"`` (DSR with Dobson intervals) or ``"indirect"`` (SMR/SIR and ISR).
    standard
        Direct: a table of the strata with the standard population in a column named
        like ``population`` (or ``standard_population``); default the pooled population
        of all groups. Indirect: a table of the strata with reference ``events`` and
        ``population`` columns (named as in ``data``), or with published standard rates
        in a column ``rate`` (per ``multiplier`` people) and, if known, ``population``;
        default the pooled counts of all groups. Without the standard's populations its
        crude rate is unknown, so only the ratios are computed.
    multiplier
        Rates are per this many people (default 100,000).
    conf_level
        Two-sided confidence level.
    count_limits
        The Poisson interval for the observed count: ``"exact"``, ``"byar"`` or
        ``"phe"`` (exact below 10 events, Byar's from 10). Default ``"exact"`` for direct
        (Dobson et al., 1991) and ``"phe"`` for indirect.
    file
        The data's file name, for error messages.

    Returns
    -------
    StandardisedRates

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"practice": ["A", "A", "B", "B"], "age": ["<65", "65+"] * 2,
    ...                    "admissions": [20, 60, 40, 30], "patients": [4000, 1000, 6000, 500]})
    >>> res = standardised_rates(df, events="admissions", population="patients",
    ...                          group="practice", strata="age", multiplier=1000)
    >>> res.rates["rate"].round(2).tolist()
    [12.17, 13.62]
    """
    check_choice("method", method, METHODS)
    check_conf_level(conf_level)
    if count_limits is None:
        count_limits = "exact" if method == "direct" else "phe"
    check_choice("count_limits", count_limits, COUNT_LIMITS)
    if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float, np.number)) \
            or not np.isfinite(multiplier) or multiplier <= 0:
        raise DesignError(f"multiplier must be a positive number, not {multiplier!r}",
                          fix="use e.g. 100000 for rates per 100,000")
    strata = _as_list(strata)
    if group in strata or len(set(strata)) < len(strata) \
            or set(strata) & {"group", "events", "population", "weight", "rate", "_row"}:
        raise DesignError(f"the strata {strata!r} repeat the group or use a reserved name",
                          fix="name each stratum column once, apart from the group, and not "
                              "'group', 'events', 'population', 'weight' or 'rate'")
    _require_columns(data, [group, *strata, events, population], file=file)
    options = {"events": events, "population": population, "group": group, "strata": strata,
               "method": method, "multiplier": multiplier, "conf_level": conf_level,
               "count_limits": count_limits, "file": file}
    if len(data) == 0:
        raise DataError("the data have no rows", file=file, fix="give one row per group and "
                                                                "stratum")
    groups = _labels(data, group, file=file, what="the group")
    for s in strata:
        _labels(data, s, file=file, what=f"the stratum '{s}'")
    x = _counts(data, events, file=file, what="the number of events")
    n = _counts(data, population, file=file, what="the population")
    over = x > n
    if over.any():
        raise DataError("there are more events than people", file=file, column=events,
                        rows=_rows(over), fix=f"check that '{events}' and '{population}' are "
                                              "not swapped, and that the population covers "
                                              "the events")

    frame = pd.DataFrame({"group": groups.to_numpy()})
    for s in strata:
        frame[s] = data[s].to_numpy()
    frame["events"], frame["population"] = x, n
    frame["_row"] = np.arange(len(data))
    cells = (frame.groupby(["group", *strata], sort=False, observed=True)
             .agg(events=("events", "sum"), population=("population", "sum"),
                  _row=("_row", "min")).reset_index())
    warnings: list[str] = []
    if len(cells) < len(frame):
        warnings.append(f"{len(frame) - len(cells)} row(s) repeated a group and stratum and "
                        "were summed")
    cell_keys = _stratum_keys(cells, strata)

    if method == "direct":
        if standard is None:
            std = cells.groupby(strata, sort=False, observed=True)["population"].sum()
            std = std.rename("weight").reset_index()
            source = "pooled"
        else:
            columns = getattr(standard, "columns", ())
            col = "standard_population" if population not in columns \
                and "standard_population" in columns else population
            std = _read_standard(standard, strata, [col], file=file).rename(
                columns={col: "weight"})
            source = "given"
            zero = std["weight"].to_numpy() == 0
            if zero.any():
                raise DataError("a stratum has zero standard population", column=col,
                                rows=_rows(zero), fix="give every stratum a positive standard "
                                                      "population, or drop the stratum from "
                                                      "both tables")
        return _direct(cells, cell_keys, std, strata, multiplier, conf_level, count_limits,
                       source, warnings, file=file,
                       options=options)
    if standard is None:
        std = (cells.groupby(strata, sort=False, observed=True)[["events", "population"]]
               .sum().reset_index())
        source = "pooled"
        zero = std["population"].to_numpy() == 0
        if zero.any():
            empty = cell_keys.isin(_stratum_keys(std.loc[zero], strata))
            raise DataError("a stratum has no population in any group, so it has no "
                            "reference rate", file=file, column=population,
                            rows=_cell_rows(cells, empty),
                            fix="drop the stratum, or correct its population")
    else:
        std = _indirect_standard(standard, strata, events, population, multiplier)
        source = "given"
    return _indirect(cells, cell_keys, std, strata, multiplier, conf_level, count_limits,
                     source, warnings, file=file,
                     options=options)


def _indirect_standard(standard: pd.DataFrame, strata: list[str], events: str,
                       population: str, multiplier: float) -> pd.DataFrame:
    """A user's indirect standard: reference counts, or published rates per multiplier.

    Returns the strata with ``rate`` (per person) and, where known, ``events`` and
    ``population``.
    """
    columns = set(getattr(standard, "columns", ()))
    if {events, population} <= columns:
        std = _read_standard(standard, strata, [events, population], file=None).rename(
            columns={events: "events", population: "population"})
        over = std["events"].to_numpy() > std["population"].to_numpy()
        if over.any():
            raise DataError("the standard has more events than people", column=events,
                            rows=_rows(over), fix="check the standard's columns")
    elif "rate" in columns:
        extra = [population] if population in columns else []
        std = _read_standard(standard, strata, ["rate", *extra], file=None).rename(
            columns={population: "population"})
        std["rate"] = std["rate"] / multiplier
        if extra:
            std["events"] = std["rate"] * std["population"]
    else:
        _require_columns(standard, [events, population], file=None, what="standard")
        raise AssertionError("unreachable")  # pragma: no cover
    if "population" in std:
        zero = std["population"].to_numpy() == 0
        if zero.any():
            raise DataError("a stratum has zero standard population", column=population,
                            rows=_rows(zero), fix="give every stratum a positive standard "
                                                  "population, or drop the stratum")
    if "events" in std and "rate" not in std:
        std["rate"] = std["events"] / std["population"]
    return std


def _cell_rows(cells: pd.DataFrame, mask: np.ndarray) -> list[int]:
    """Spreadsheet rows of the data (first row of each aggregated cell) under ``mask``."""
    return [int(r) + 2 for r in np.sort(cells["_row"].to_numpy()[mask])[:20]]


def _match_standard(cells: pd.DataFrame, cell_keys: pd.MultiIndex, std: pd.DataFrame,
                    strata: list[str], *, file: str | None) -> np.ndarray:
    """Position of each cell's stratum in the standard; refuse strata it lacks."""
    pos = _stratum_keys(std, strata).get_indexer(cell_keys)
    missing = pos < 0
    if missing.any():
        first = sorted({_show_stratum(k, strata) for k in cell_keys[missing]})
        raise DataError(f"stratum {first[0]} is not in the standard"
                        + (f" (nor {len(first) - 1} other(s))" if len(first) > 1 else ""),
                        file=file, column=", ".join(strata),
                        rows=_cell_rows(cells, missing),
                        fix="add the stratum to the standard, or use the same stratum labels "
                            "in both tables")
    return pos


def _direct(cells, cell_keys, std, strata, multiplier, conf_level, count_limits, source,
            warnings, *, file, options) -> StandardisedRates:
    pos = _match_standard(cells, cell_keys, std, strata, file=file)
    zero = cells["population"].to_numpy() == 0
    if zero.any():
        raise DataError("a group has zero population in a stratum, so its rate there is "
                        "undefined", file=file, column=options["population"],
                        rows=_cell_rows(cells, zero),
                        fix="merge sparse strata (e.g. wider age bands), or drop the group")
    # every group needs every stratum of the standard
    n_std = len(std)
    group_codes, group_names = pd.factorize(cells["group"], sort=False)
    have = np.zeros((len(group_names), n_std), dtype=bool)
    have[group_codes, pos] = True
    if not have.all():
        g, s = np.argwhere(~have)[0]
        n_gaps = int((~have).sum())
        raise DataError(f"group {group_names[g]} has no row for stratum "
                        f"{_show_stratum(_stratum_keys(std, strata)[s], strata)}"
                        + (f" ({n_gaps - 1} other gap(s))" if n_gaps > 1 else ""),
                        file=file, column=", ".join(strata),
                        fix="add a row for every stratum in every group (0 events and its "
                            "population), or merge sparse strata")
    w = std["weight"].to_numpy(dtype=float)[pos]
    o = cells["events"].to_numpy(dtype=float)
    n = cells["population"].to_numpy(dtype=float)
    k = len(group_names)
    w_total = std["weight"].to_numpy(dtype=float).sum()
    weighted = np.bincount(group_codes, weights=w * o / n, minlength=k)
    var = np.bincount(group_codes, weights=o * (w / n) ** 2, minlength=k) / w_total**2
    total_o = np.bincount(group_codes, weights=o, minlength=k)
    total_n = np.bincount(group_codes, weights=n, minlength=k)
    dsr = weighted / w_total
    o_lo, o_hi = poisson_limits(total_o, conf_level, method=count_limits)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sqrt(var / total_o)
    lo = np.where(total_o > 0, dsr + scale * (o_lo - total_o), 0.0)
    hi = np.where(total_o > 0, dsr + scale * (o_hi - total_o), np.nan)
    rates = pd.DataFrame({"group": group_names, "events": total_o, "population": total_n,
                          "crude_rate": total_o / total_n * multiplier,
                          "rate": dsr * multiplier, "ci_low": lo * multiplier,
                          "ci_high": hi * multiplier, "conf_level": conf_level,
                          "ci_method": np.where(total_o < _PHE_MIN_EVENTS, "dobson_exact",
                                                "dobson_byar") if count_limits == "phe"
                          else f"dobson_{count_limits}"})
    few = rates.loc[total_o < _PHE_MIN_EVENTS, "group"].astype(str).tolist()
    if few:
        warnings.append(f"{len(few)} group(s) have fewer than {_PHE_MIN_EVENTS} events "
                        f"({', '.join(few[:5])}{' ...' if len(few) > 5 else ''}); PHE does not "
                        "publish directly standardised rates from so few events"
                        + ("; with no events the upper limit is not defined" if
                           (total_o == 0).any() else ""))
    strata_table = cells.drop(columns="_row").assign(weight=w)
    standard_table = std.reset_index(drop=True)
    return StandardisedRates(rates=rates, strata=strata_table, standard=standard_table,
                             method="direct", multiplier=float(multiplier),
                             conf_level=float(conf_level), standard_source=source,
                             warnings=tuple(warnings), options=options)


def _indirect(cells, cell_keys, std, strata, multiplier, conf_level, count_limits, source,
              warnings, *, file, options) -> StandardisedRates:
    pos = _match_standard(cells, cell_keys, std, strata, file=file)
    if "rate" not in std:
        std = std.assign(rate=std["events"] / std["population"])
    ref_rate = std["rate"].to_numpy(dtype=float)
    if "population" in std:
        overall = float(std["events"].sum() / std["population"].sum())
    else:
        overall = float("nan")
        warnings.append("the standard gives rates without populations, so its crude rate, "
                        "and hence the indirectly standardised rate, is unknown; the "
                        "standardised ratios are complete")
    group_codes, group_names = pd.factorize(cells["group"], sort=False)
    k = len(group_names)
    o = cells["events"].to_numpy(dtype=float)
    n = cells["population"].to_numpy(dtype=float)
    observed = np.bincount(group_codes, weights=o, minlength=k)
    expected = np.bincount(group_codes, weights=n * ref_rate[pos], minlength=k)
    total_n = np.bincount(group_codes, weights=n, minlength=k)
    if (expected == 0).any():
        bad = group_names[expected == 0].astype(str).tolist()
        raise DataError(f"group(s) {', '.join(bad[:5])} have no expected events (no "
                        "population in strata with events in the standard)", file=file,
                        column=options["population"],
                        fix="check the populations, or drop those groups")
    o_lo, o_hi = poisson_limits(observed, conf_level, method=count_limits)
    ratio, r_lo, r_hi = observed / expected, o_lo / expected, o_hi / expected
    if count_limits == "phe":
        ci_method = np.where(observed < _PHE_MIN_EVENTS, "exact", "byar")
    else:
        ci_method = np.full(k, count_limits, dtype=object)
    rates = pd.DataFrame({"group": group_names, "observed": observed, "expected": expected,
                          "ratio": ratio, "ratio_ci_low": r_lo, "ratio_ci_high": r_hi,
                          "population": total_n,
                          "crude_rate": observed / total_n * multiplier,
                          "reference_rate": overall * multiplier,
                          "rate": ratio * overall * multiplier,
                          "ci_low": r_lo * overall * multiplier,
                          "ci_high": r_hi * overall * multiplier,
                          "conf_level": conf_level, "ci_method": ci_method})
    strata_table = cells.drop(columns="_row").assign(reference_rate=ref_rate[pos],
                                                     expected=n * ref_rate[pos])
    return StandardisedRates(rates=rates, strata=strata_table, standard=std.reset_index(
        drop=True), method="indirect", multiplier=float(multiplier),
        conf_level=float(conf_level), standard_source=source, warnings=tuple(warnings),
        options=options)
