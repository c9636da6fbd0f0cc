"""Checks of design options shared by every design, with 'did you mean' hints."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

import numpy as np

from evalkit.data.contract import FAMILIES, nearest
from evalkit.data.inputs import check_option
from evalkit.errors import DataError, DesignError

__all__ = ["check_choice", "check_conf_level", "check_whole", "check_family",
           "unit_clusters", "one_blas_thread"]

P = ParamSpec("P")
R = TypeVar("R")


def check_choice(name: str, value, allowed: Sequence[str]) -> None:
    """Refuse a value outside ``allowed``, naming the nearest allowed one."""
    if value not in allowed:
        guess = nearest(str(value), allowed)
        raise DesignError(f"unknown {name} '{value}'", fix=f"use one of {', '.join(allowed)}"
                          + (f" (did you mean '{guess}'?)" if guess else ""))


def check_conf_level(conf_level) -> None:
    """Refuse a confidence level outside (0, 1)."""
    check_option("conf_level", conf_level, "float")


def check_whole(name: str, value, low: int = 0, *, optional: bool = False) -> None:
    """Refuse anything but a whole number of at least ``low`` (None allowed if optional)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise DesignError(f"{name} must be a whole number of at least {low}, not {value!r}",
                          fix=f"set {name} to a whole number")


def check_family(family, denominator) -> None:
    """A known family, with a denominator exactly where the family needs or allows one."""
    check_choice("family", family, FAMILIES)
    if family == "binomial" and not denominator:
        raise DesignError("the binomial family needs a denominator (the people at risk)",
                          fix="give denominator=... naming the column of people at risk")
    if family == "gaussian" and denominator:
        raise DesignError("a denominator only applies to count and binomial families",
                          fix="drop the denominator, or use family 'quasipoisson' for counts")


def unit_clusters(data, cluster: str, unit_codes: np.ndarray, *, file: str | None
                  ) -> np.ndarray:
    """Row-wise codes (0..G-1) of a cluster column that must contain whole units.

    Refuses a missing column (naming the nearest one) and a cluster that changes within
    a unit (naming some of those units' rows).
    """
    import pandas as pd

    if cluster not in data.columns:
        guess = nearest(cluster, map(str, data.columns))
        raise DataError(f"the cluster column '{cluster}' is missing", file=file,
                        column=cluster, fix=f"did you mean '{guess}'?" if guess
                        else "name an existing column")
    codes = pd.factorize(data[cluster])[0]
    first = np.empty(int(unit_codes.max()) + 1, dtype=codes.dtype)
    first[unit_codes] = codes
    split = codes != first[unit_codes]
    if split.any():
        raise DataError("the cluster changes within a unit", file=file, column=cluster,
                        rows=[int(r) + 2 for r in np.flatnonzero(split)[:10]],
                        fix="cluster by a level that contains whole units")
    return codes


_BLAS: list = []  # the threadpoolctl controller, made on first use


def one_blas_thread(func: Callable[P, R]) -> Callable[P, R]:
    """Run a design's hot path with one BLAS thread (threadpoolctl).

    Its matrix products are of a size where OpenBLAS's extra threads gain little on an idle
    machine and, on a busy one, spin against other processes for the cores (issue 27:
    docs/benchmarks.md, 'Under load'). ``EVALKIT_BLAS_THREADS`` sets another limit (a whole
    number) or, as ``all``, leaves BLAS's threads as they are. The library's results do not
    depend on it (OpenBLAS splits a product's rows and columns between threads, not sums).
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        limit = os.environ.get("EVALKIT_BLAS_THREADS", "1").strip().lower()
        if limit == "all":
            return func(*args, **kwargs)
        if not _BLAS:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        with _BLAS[0].limit(limits=int(limit), user_api="blas"):
            return func(*args, **kwargs)

    return wrapper
