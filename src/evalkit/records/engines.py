"""Run the portable SQL on DuckDB (embedded, out-of-core, the default) or Apache Spark.

An engine does four things: exposes each input table as a view ``src_<table>``
(:meth:`register`), reports its columns' kinds (:meth:`columns`), keeps one intermediate
result under a name (:meth:`keep`) and runs a query into pandas (:meth:`query`). The
queries themselves come from :mod:`evalkit.records.sql` and are the same strings on every
engine.

DuckDB runs in-process with a memory limit (``SET memory_limit``), spilling to a temporary
folder (``SET temp_directory``) when a join or aggregate outgrows it, on ``SET threads``
threads. Spark runs the same SQL through ``spark.sql`` on a session you pass (a cluster's,
in a secure data environment) or on a local one it starts (``local[2]``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import warnings
from collections.abc import Mapping
from glob import glob
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from evalkit.errors import DataError, DesignError
from evalkit.files.run_temp import temp_dir
from evalkit.records.measures import Source

__all__ = ["Engine", "DuckDBEngine", "SparkEngine", "make_engine", "spark_available",
           "ENGINES", "parse_memory"]

ENGINES = ("duckdb", "spark")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?\s*$", re.I)
_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "KIB": 1024,
          "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}


def parse_memory(text: str | int) -> int:
    """Bytes in a memory size such as ``"4GB"``, ``"3.5GiB"`` or ``"512MB"``.

    Examples
    --------
    >>> parse_memory("4GB")
    4000000000
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = _MEMORY.match(str(text))
    if not m:
        raise DesignError(f"memory limit {text!r} is not a size", fix="write e.g. 4GB or 512MB")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").upper()])


def spark_available() -> tuple[bool, str]:
    """Whether PySpark and a Java runtime are installed, and if not, why."""
    if importlib.util.find_spec("pyspark") is None:
        return False, "pyspark is not installed (pip install pyspark)"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin", "java")
                                             .exists()):
        return False, "no Java runtime (apt-get install default-jre-headless)"
    return True, ""


class Engine(Protocol):
    """What :func:`~evalkit.records.aggregate` needs of an engine."""

    name: str

    def register(self, table: str, source: Source) -> None: ...

    def columns(self, table: str) -> dict[str, str]: ...

    def keep(self, name: str, sql: str) -> None: ...

    def query(self, sql: str) -> pd.DataFrame: ...

    def close(self) -> None: ...


def _files(source: Source) -> list[str]:
    """The files a source's path stands for (a file, a folder of Parquet, or a glob)."""
    path = Path(source.path)
    if "*" in str(path):
        return sorted(glob(str(path), recursive=True))
    if path.is_dir():
        return sorted(str(p) for p in path.rglob("*") if p.is_file()
                      and p.suffix.lower() in (".parquet", ".pq", ".csv"))
    return [str(path)] if path.exists() else []


def _require_files(source: Source) -> list[str]:
    files = _files(source)
    if not files:
        raise DataError("file not found", file=source.label,
                        fix="check the path (relative paths are relative to the spec)")
    return files


def _duck_kind(sql_type: str) -> str:
    t = sql_type.upper()
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    if t in ("VARCHAR", "TEXT", "STRING") or t.startswith("VARCHAR"):
        return "string"
    if t in ("BOOLEAN", "BOOL"):
        return "boolean"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
             "UINTEGER", "UBIGINT"):
        return "integer"
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return "float"
    return "other"


class DuckDBEngine:
    """DuckDB in-process: bounded memory, spilling to a temporary folder.

    Parameters
    ----------
    memory_limit
        DuckDB's ``memory_limit`` (e.g. ``"4GB"``); joins and aggregates larger than this
        spill to ``temp_directory``.
    temp_directory
        Where to spill; a new temporary folder in the run's (:mod:`evalkit.files.run_temp`),
        removed on :meth:`close`, by default.
    threads
        Worker threads (all cores by default).

    Examples
    --------
    >>> with DuckDBEngine(memory_limit="1GB", threads=1) as eng:
    ...     int(eng.query("SELECT 1 + 1 AS x")["x"].iloc[0])
    2
    """

    name = "duckdb"

    def __init__(self, *, memory_limit: str | int = "4GB",
                 temp_directory: str | Path | None = None, threads: int | None = None):
        try:
            import duckdb
        except ImportError:  # pragma: no cover - duckdb is a dependency
            raise DesignError("the DuckDB engine needs the duckdb package",
                              fix="pip install duckdb") from None
        limit = parse_memory(memory_limit)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):
            raise DesignError(f"threads must be a whole number >= 1, not {threads!r}",
                              fix="e.g. threads=2")
        self._own_tmp = temp_directory is None
        self.temp_directory = Path(temp_directory) if temp_directory else temp_dir(
            "evalkit-duckdb-")
        try:
            self._connect(duckdb, limit, threads)
        except BaseException:
            if getattr(self, "con", None) is not None:
                self.con.close()
            if self._own_tmp:  # a failed start leaves no temporary folder behind
                shutil.rmtree(self.temp_directory, ignore_errors=True)
            raise
        self._kinds: dict[str, dict[str, str]] = {}
        self.memory_limit = limit

    def _connect(self, duckdb: Any, limit: int, threads: int | None) -> None:
        self.temp_directory.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"SET memory_limit = '{limit}B'")
        tmp = str(self.temp_directory).replace("'", "''")
        self.con.execute(f"SET temp_directory = '{tmp}'")
        if threads is not None:
            self.con.execute(f"SET threads = {threads}")
        self.con.execute("SET preserve_insertion_order = false")
        # Every join of the plan is written with the small side (registrations, one row
        # per patient) on the right, which DuckDB builds its hash table on. From estimated
        # sizes it would sometimes build on a filtered event table instead, several times
        # slower; keep the join sides as written.
        try:
            self.con.execute("SET disabled_optimizers = 'build_side_probe_side'")
        except duckdb.Error:  # pragma: no cover - DuckDB builds without that optimizer
            pass
        self.con.execute("SET enable_progress_bar = false")
        try:
            self.con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:  # pragma: no cover - builds without ICU have no time zones
            pass

    def register(self, table: str, source: Source) -> None:
        """Expose ``source`` as the view ``src_<table>``."""
        view = f'"src_{table}"'
        if source.frame is not None:
            self.con.register(f"src_{table}", source.frame)
        else:
            files = _require_files(source)
            listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
            if source.format == "csv":
                reader = f"read_csv_auto({listed}, header = true, all_varchar = true)"
            else:
                reader = f"read_parquet({listed})"
            try:
                self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {reader}")
            except Exception as exc:
                raise DataError(f"could not be read ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0]})", file=source.label,
                                fix="check the file is a valid Parquet or CSV table") from None
        described = self.con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
        self._kinds[table] = {str(r[0]): _duck_kind(str(r[1])) for r in described}

    def columns(self, table: str) -> dict[str, str]:
        """Column name to kind for a registered table."""
        return dict(self._kinds[table])

    def keep(self, name: str, sql: str) -> None:
        """Keep the result of ``sql`` as the temporary table ``name``."""
        self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` and return the result as a DataFrame."""
        return self.con.execute(sql).df()

    def close(self) -> None:
        """Close the connection and remove the temporary folder it created."""
        try:
            self.con.close()
        finally:
            if self._own_tmp:
                shutil.rmtree(self.temp_directory, ignore_errors=True)

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _spark_kind(type_name: str) -> str:
    t = type_name.lower()
    if t == "date":
        return "date"
    if t.startswith("timestamp"):
        return "timestamp"
    if t in ("string", "varchar", "char") or t.startswith(("varchar", "char")):
        return "string"
    if t == "boolean":
        return "boolean"
    if t in ("tinyint", "smallint", "int", "bigint", "byte", "short", "integer", "long"):
        return "integer"
    if t in ("float", "double") or t.startswith("decimal"):
        return "float"
    return "other"


class SparkEngine:
    """Apache Spark through ``spark.sql``: the same queries, on a cluster or locally.

    Parameters
    ----------
    spark
        A ``SparkSession`` to use (a cluster's); it is not stopped on :meth:`close`, and
        the session settings this engine changes are put back.
    master
        The master for a new session (``local[2]``: two local cores).
    memory_limit
        Driver memory for a new session (``spark.driver.memory``).
    temp_directory
        ``spark.local.dir`` for a new session (shuffle and spill files).
    config
        Further settings for a new session.

    Notes
    -----
    The engine sets ``spark.sql.ansi.enabled`` and ``spark.sql.ansi.doubleQuotedIdentifiers``
    (standard SQL double-quoted identifiers), ``spark.sql.session.timeZone=UTC`` (so that
    timestamps become the same dates on every engine) and Arrow transfers to pandas.
    """

    name = "spark"
    SETTINGS = {"spark.sql.ansi.enabled": "true",
                "spark.sql.ansi.doubleQuotedIdentifiers": "true",
                "spark.sql.session.timeZone": "UTC",
                "spark.sql.execution.arrow.pyspark.enabled": "true"}

    def __init__(self, *, spark: Any = None, master: str = "local[2]",
                 memory_limit: str | int | None = None,
                 temp_directory: str | Path | None = None,
                 config: Mapping[str, str] | None = None):
        ok, why = spark_available()
        if not ok:
            raise DesignError(f"the Spark engine cannot start: {why}",
                              fix="install it, or use engine='duckdb'")
        from pyspark.sql import SparkSession

        self._owned = False
        if spark is None:
            spark = SparkSession.getActiveSession()
        if spark is None:
            builder = (SparkSession.builder.master(master).appName("evalkit")
                       .config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false")
                       .config("spark.sql.shuffle.partitions", "4"))
            if memory_limit is not None:
                mib = max(512, parse_memory(memory_limit) // 1024**2)
                builder = builder.config("spark.driver.memory", f"{mib}m")
            if temp_directory is not None:
                builder = builder.config("spark.local.dir", str(temp_directory))
            for k, v in (config or {}).items():
                builder = builder.config(k, v)
            spark = builder.getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
            self._owned = True
        self.spark = spark
        self._restore = {k: spark.conf.get(k, None) for k in self.SETTINGS}
        for k, v in self.SETTINGS.items():
            spark.conf.set(k, v)
        self._kinds: dict[str, dict[str, str]] = {}
        self._views: list[str] = []
        self._cached: list[Any] = []

    def register(self, table: str, source: Source) -> None:
        """Expose ``source`` as the temporary view ``src_<table>``.

        ``source.frame`` may be a pandas DataFrame or a Spark DataFrame (a table of the
        cluster's catalogue, say), used as it is.
        """
        if source.frame is not None and hasattr(source.frame, "createOrReplaceTempView"):
            df = source.frame  # already a Spark DataFrame (e.g. spark.table("db.apc"))
        elif source.frame is not None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=FutureWarning,
                                        message=".*does not yet fully support pandas")
                df = self.spark.createDataFrame(source.frame)
        else:
            files = _require_files(source)
            try:
                if source.format == "csv":
                    df = self.spark.read.option("header", "true").csv(files)
                else:
                    df = self.spark.read.parquet(*files)
            except Exception as exc:
                raise DataError(f"could not be read ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0]})", file=source.label,
                                fix="check the file is a valid Parquet or CSV table") from None
        df.createOrReplaceTempView(f"src_{table}")
        self._views.append(f"src_{table}")
        self._kinds[table] = {f.name: _spark_kind(f.dataType.simpleString())
                              for f in df.schema.fields}

    def columns(self, table: str) -> dict[str, str]:
        """Column name to kind for a registered table."""
        return dict(self._kinds[table])

    def keep(self, name: str, sql: str) -> None:
        """Cache the result of ``sql`` as the temporary view ``name``."""
        df = self.spark.sql(sql).cache()
        df.createOrReplaceTempView(name)
        self._views.append(name)
        self._cached.append(df)

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` and return the result as a DataFrame."""
        with warnings.catch_warnings():  # PySpark warns about pandas 3 on every transfer
            warnings.filterwarnings("ignore", message=".*does not yet fully support pandas")
            warnings.filterwarnings("ignore", message=".*copy keyword is deprecated")
            return self.spark.sql(sql).toPandas()

    def close(self) -> None:
        """Drop the views and caches; stop the session only if this engine started it."""
        for df in self._cached:
            df.unpersist()
        for view in self._views:
            self.spark.catalog.dropTempView(view)
        if self._owned:
            self.spark.stop()
            return
        for k, v in self._restore.items():
            if v is None:
                self.spark.conf.unset(k)
            else:
                self.spark.conf.set(k, v)

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def make_engine(engine: str | Engine = "duckdb", **options: Any) -> tuple[Engine, bool]:
    """An engine by name (``"duckdb"`` or ``"spark"``), or the one given.

    Returns the engine and whether the caller owns it (and so should close it).
    ``options`` go to the engine's constructor; those it does not take are ignored.
    """
    if not isinstance(engine, str):
        return engine, False
    name = engine.lower()
    if name == "duckdb":
        keep = {k: v for k, v in options.items()
                if k in ("memory_limit", "temp_directory", "threads") and v is not None}
        return DuckDBEngine(**keep), True
    if name == "spark":
        keep = {k: v for k, v in options.items()
                if k in ("spark", "master", "memory_limit", "temp_directory", "config")
                and v is not None}
        return SparkEngine(**keep), True
    raise DesignError(f"unknown engine {engine!r}", fix=f"use one of {', '.join(ENGINES)}")
