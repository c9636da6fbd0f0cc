"""Reading case-study data: CSV, Parquet and Excel."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import DataError

__all__ = ["read", "READERS"]

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel",
           ".xls": "excel"}


def read(path: str | Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a data file into a DataFrame.

    Parameters
    ----------
    path
        A ``.csv``, ``.parquet`` or ``.xlsx`` file.
    sheet
        The Excel sheet to read (first sheet by default).

    Returns
    -------
    pandas.DataFrame
        The table, with the file path kept in ``df.attrs["source"]``.

    Raises
    ------
    DataError
        If the file is missing, of an unknown type, unreadable or empty.

    Examples
    --------
    >>> import evalkit as ek
    >>> panel = ek.read("data/synthetic/virtual-wards/panel.csv")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=str(path),
                        fix="check the path (relative paths in a spec are relative to the spec)")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"cannot read files of type '{path.suffix}'", file=str(path),
                        fix="save the table as CSV, Parquet or Excel (.xlsx)")
    try:
        if kind == "csv":
            df = pd.read_csv(path)
        elif kind == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_excel(path, sheet_name=0 if sheet is None else sheet)
    except (ValueError, OSError, ImportError) as exc:
        raise DataError(f"could not be read ({type(exc).__name__}: {exc})", file=str(path),
                        fix="check the file is a valid, unlocked table") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"is not a well-formed CSV ({exc})", file=str(path),
                        fix="check the delimiter and quoting") from None
    if df.empty:
        raise DataError("the table has no rows", file=str(path), fix="check the export")
    df.attrs["source"] = str(path)
    return df
