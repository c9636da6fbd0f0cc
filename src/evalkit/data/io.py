"""Reading case-study data: CSV, Parquet and Excel."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pandas as pd

from evalkit.errors import DataError

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
            df = pd.read_csv(path, encoding="utf-8")
            _check_header(path)
        elif kind == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_excel(path, sheet_name=0 if sheet is None else sheet)
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1 if kind == "csv" else None
        raise DataError(f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}"
                        + (f" on line {line})" if line else ")"), file=str(path),
                        fix="save the table as 'CSV UTF-8' (in Excel: Save As, CSV UTF-8)"
                        ) from None
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", file=str(path),
                        fix="export the table again, with its header row") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"is not a well-formed CSV ({str(exc).strip()})", file=str(path),
                        fix="check the delimiter and quoting: every row needs as many fields "
                        "as the header") from None
    except (ValueError, OSError, ImportError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        if isinstance(exc, PermissionError):
            raise
        raise DataError(f"could not be read ({type(exc).__name__}: {exc})", file=str(path),
                        fix="check the file is a valid, unlocked "
                        + ("Excel workbook (.xlsx)" if kind == "excel" else "table")) from None
    if df.empty:
        raise DataError("the table has no rows", file=str(path), fix="check the export")
    df.attrs["source"] = str(path)
    return df


def _check_header(path: Path) -> None:
    """Refuse a CSV header that names a column twice (pandas would rename one 'x.1')."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    names = [h.strip() for h in header]
    twice = sorted({n for n in names if names.count(n) > 1 and n})
    if twice:
        raise DataError(f"the header names the column {', '.join(repr(n) for n in twice)} "
                        "more than once", file=str(path), column=twice[0],
                        fix="rename or drop the repeated column")
