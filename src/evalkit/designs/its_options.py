"""Checks on the options of an interrupted time series, shared by :func:`evalkit.its` and
the batch fits of :mod:`evalkit.designs.its_batch`."""

from __future__ import annotations

from evalkit.data.arguments import check_choice, check_conf_level, check_family, check_whole
from evalkit.designs.its_model import IMPACTS
from evalkit.errors import DesignError

__all__ = ["REMEDIES", "check_its_options", "impact_kinds"]

#: The autocorrelation remedies a spec may name.
REMEDIES = ("auto", "none", "hac", "ar", "arima")


def check_its_options(*, family, denominator, autocorrelation, seasonality, conf_level,
                      washout) -> None:
    """Refuse ITS options that are not allowed, before any data are read."""
    check_family(family, denominator)
    check_choice("autocorrelation remedy", autocorrelation, REMEDIES)
    if isinstance(seasonality, dict):
        check_whole("seasonality fourier", seasonality.get("fourier"), 1)
        check_whole("seasonality period", seasonality.get("period", 12), 2)
        period = seasonality.get("period", 12)
        if seasonality["fourier"] > period // 2:  # higher harmonics repeat the lower ones
            raise DesignError(f"seasonality fourier must be at most half the period "
                              f"({period // 2}), not {seasonality['fourier']}",
                              fix="use e.g. fourier: 2 for monthly data (period 12)")
    if seasonality not in (None, "month") and not (
            isinstance(seasonality, dict) and "fourier" in seasonality
            and set(seasonality) <= {"fourier", "period"}):
        raise DesignError(f"seasonality must be None, 'month' or {{'fourier': K, 'period': P}}, "
                          f"not {seasonality!r}", fix="e.g. seasonality: {fourier: 2, period: 12}")
    check_conf_level(conf_level)
    check_whole("washout", washout, 0)


def impact_kinds(impact, slope_change, n) -> list[str]:
    """The kind of each interruption's impact (a ramp is a slope change)."""
    if impact is None:
        impact = "step+slope" if slope_change else "step"
    items = [impact] * n if isinstance(impact, str) else list(impact)
    items = ["slope" if item == "ramp" else item for item in items]  # a ramp is a slope change
    if len(items) != n:
        raise DesignError(f"{len(items)} impact(s) given for {n} interruption(s)",
                          fix="give one impact, or one per interruption")
    for item in items:
        check_choice("impact", item, IMPACTS)
    return items
