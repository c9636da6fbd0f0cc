"""Reading a spec's data sources: tables on disk, or panels built from patient-level records.

A source of ``kind: records`` names a records spec (``docs/records.md``). When an
evaluation first needs it, :func:`read_source` aggregates the records (DuckDB by default)
into the practice-month panel, or returns one of the spec's patient-level tables, and joins
the practice attributes (which practices are in the scheme, their deprivation, ...) that a
patient-level extract does not hold. One aggregation serves every source naming the same
records spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.data.io import read
from evalkit.errors import DataError, SpecError

__all__ = ["read_source", "records_files"]


def records_files(path: str | Path) -> list[Path]:
    """The records spec and every file its tables read (for hashes and provenance)."""
    from evalkit.records import load_records_spec
    from evalkit.records.engines import _files

    path = Path(path)
    if not path.exists():
        return [path]
    spec = load_records_spec(path)
    files = [path]
    for source in spec.tables.values():
        if source.frame is None:
            files += [Path(f) for f in _files(source)]
    return files


def read_source(source: Any, *, cache: dict[Path, Any] | None = None) -> pd.DataFrame:
    """The table a spec's data source stands for.

    Parameters
    ----------
    source
        A :class:`~evalkit.evaluation.spec.DataSource`.
    cache
        Aggregations already run, by records spec path (filled in here).

    Returns
    -------
    pandas.DataFrame
        The file's table; for ``kind: records`` the panel (``practice``, ``month`` and
        the measures, with the attributes joined on ``practice``) or the named
        patient-level table.

    Raises
    ------
    DataError
        If a file cannot be read, or the attributes miss practices of the panel.
    SpecError
        If ``table`` names no patient-level table of the records spec.
    """
    if source.kind != "records":
        return read(source.path, sheet=source.sheet)
    from evalkit.records import aggregate

    cache = {} if cache is None else cache
    if source.path not in cache:
        if not source.path.exists():
            raise DataError("records spec not found", file=str(source.path),
                            fix="give the path of a records spec (docs/records.md)")
        cache[source.path] = aggregate(source.path, progress=False)
    result = cache[source.path]
    if source.table is not None:
        if source.table not in result.tables:
            known = ", ".join(result.tables) or "none"
            raise SpecError(f"data '{source.name}' asks for table '{source.table}', which the "
                            f"records spec does not build (it builds: {known})",
                            file=str(source.path),
                            fix="name an 'events' or 'patient_cost' measure of the records spec")
        frame = result.tables[source.table].copy()
    else:
        frame = result.panel.copy()
        if source.attributes is not None:
            frame = _with_attributes(frame, source.attributes)
    frame.attrs["source"] = str(source.path)
    return frame


def _with_attributes(panel: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The panel with the practice-level columns of ``path`` joined on ``practice``."""
    attrs = read(path)
    if "practice" not in attrs:
        raise DataError("the attributes have no 'practice' column", file=str(path),
                        column="practice", fix="add a column 'practice' of practice codes")
    dup = attrs["practice"].duplicated(keep=False)
    if dup.any():
        rows = [int(i) + 2 for i in attrs.index[dup][:5]]
        raise DataError(f"{int(dup.sum())} rows repeat a practice", file=str(path),
                        column="practice", rows=rows, fix="keep one row per practice")
    clash = [c for c in attrs if c != "practice" and c in panel]
    if clash:
        raise DataError(f"the attributes repeat panel columns: {', '.join(clash)}",
                        file=str(path), fix="rename or drop them in the attributes")
    attrs = attrs.assign(practice=attrs["practice"].astype(str))
    codes = panel["practice"].astype(str)
    missing = sorted(set(codes) - set(attrs["practice"]))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                         else "")
        raise DataError(f"{len(missing)} practices of the records have no attributes: {shown}",
                        file=str(path), column="practice",
                        fix="add a row for each practice (e.g. treated 0 and comparison 0)")
    out = panel.assign(practice=codes).merge(attrs, on="practice", how="left",
                                             validate="many_to_one")
    return out
