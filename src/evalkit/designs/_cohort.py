"""Checks of a person- or practice-level cohort: the treatment flag and the covariates.

Shared by the propensity model, the balance table and the matching design.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalkit.data.contract import nearest
from evalkit.errors import DataError, DesignError


def _rows(mask: np.ndarray) -> list[int]:
    """Spreadsheet row numbers (header = 1) of the True positions."""
    return [int(i) + 2 for i in np.flatnonzero(mask)]


def _missing_column(data: pd.DataFrame, name: str, role: str, file: str | None) -> DataError:
    guess = nearest(str(name), map(str, data.columns))
    return DataError(f"the {role} column '{name}' is missing", file=file, column=str(name),
                     fix=f"did you mean '{guess}'?" if guess else
                     f"name one of the columns: {', '.join(map(str, data.columns[:12]))}")


def _treatment(data: pd.DataFrame, treated: str, file: str | None) -> np.ndarray:
    """The 0/1 treatment column as a boolean array; refuses anything else."""
    if treated not in data.columns:
        raise _missing_column(data, treated, "treatment", file)
    col = data[treated]
    missing = col.isna().to_numpy()
    if missing.any():
        raise DataError("the treatment indicator has missing values", file=file,
                        column=treated, rows=_rows(missing),
                        fix="code every unit 1 (treated, e.g. enrolled) or 0 (not)")
    if pd.api.types.is_bool_dtype(col):
        t = col.to_numpy(dtype=bool)
    else:
        num = pd.to_numeric(col, errors="coerce")
        bad = (num.isna() | ~num.isin([0, 1])).to_numpy()
        if bad.any():
            values = ", ".join(repr(v) for v in pd.unique(col[bad])[:5])
            raise DataError(f"the treatment indicator must be 0 or 1; found {values}",
                            file=file, column=treated, rows=_rows(bad),
                            fix="code treated (enrolled) units 1 and the others 0")
        t = num.to_numpy(dtype=float) == 1
    if not t.any():
        raise DesignError(f"no treated units: '{treated}' is 0 in every row",
                          fix="check the treatment column; treated units are coded 1")
    if t.all():
        raise DesignError(f"no comparison units: '{treated}' is 1 in every row",
                          fix="add units that were not treated (coded 0) to match them to")
    return t


@dataclass(frozen=True)
class _Covariates:
    """Covariates as the propensity model sees them and as the balance table shows them."""

    design: np.ndarray          # n x k: numeric columns, dummies for levels but the first
    design_names: list[str]
    balance: np.ndarray         # n x p: numeric columns, a dummy for every level
    balance_names: list[str]
    binary: np.ndarray          # p booleans: two-valued balance columns


def _covariates(data: pd.DataFrame, covariates: Sequence[str], file: str | None
                ) -> _Covariates:
    """Check the covariates and build the design and balance matrices."""
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(dict.fromkeys(covariates))
    if not covariates:
        raise DesignError("no covariates to match on", fix="give covariates=[...] naming "
                          "the characteristics the comparison group should share")
    design, dnames, bal, bnames = [], [], [], []
    for c in covariates:
        if c not in data.columns:
            raise _missing_column(data, c, "covariate", file)
        col = data[c]
        missing = col.isna().to_numpy()
        if missing.any():
            raise DataError(f"the covariate '{c}' has missing values", file=file, column=c,
                            rows=_rows(missing),
                            fix="impute them or drop those rows before matching (matching "
                                "needs every covariate for every unit)")
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            x = col.to_numpy(dtype=float)
            if not np.isfinite(x).all():
                raise DataError(f"the covariate '{c}' has infinite values", file=file,
                                column=c, rows=_rows(~np.isfinite(x)),
                                fix="correct or drop those rows")
            if np.ptp(x) == 0:
                raise DesignError(f"the covariate '{c}' takes one value for every unit",
                                  fix=f"drop '{c}' from the covariates")
            design.append(x)
            dnames.append(c)
            bal.append(x)
            bnames.append(c)
        else:
            codes, levels = pd.factorize(col.astype(str), sort=True)
            if len(levels) < 2:
                raise DesignError(f"the covariate '{c}' takes one value for every unit",
                                  fix=f"drop '{c}' from the covariates")
            for j, level in enumerate(levels):
                dummy = (codes == j).astype(float)
                bal.append(dummy)
                bnames.append(f"{c}={level}")
                if j > 0:
                    design.append(dummy)
                    dnames.append(f"{c}={level}")
    B = np.column_stack(bal)
    binary = np.array([np.unique(b).size <= 2 for b in B.T])
    return _Covariates(np.column_stack(design), dnames, B, bnames, binary)
