"""The hostile-input corpus: broken data, specs and arguments, and what evalkit must do.

Each :class:`Case` starts from the tiny scheme of :mod:`tiny_scheme` (a copy per case), breaks
one thing, and states the outcome:

- ``expect="error"``: exit code 2 and exactly one stderr line, ``evalkit: error: ...``,
  containing every string of ``says`` (the file, the column, the option: where to look),
  with a fix (``Fix:``), no traceback, and no output folder (not even half of one);
- ``expect="warning"``: exit code 0 and a named warning (``data warning [code]``) in
  ``run.log``; each string of ``says`` appears in ``run.log``;
- ``expect="ok"``: exit code 0 (evalkit accepts it, and should).

``api=True`` cases are replayed against the Python functions too: the design is called on
the broken table with the spec's options, and must raise an ``EvalkitError`` (for errors)
or return (otherwise). ``shell=True`` cases also run through the installed ``evalkit``
console script in a subprocess.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tiny_scheme import SPEC

__all__ = ["Case", "CASES"]

RUN = ("run", "{spec}", "--out", "{out}")


@dataclass(frozen=True)
class Case:
    """One hostile input and what evalkit must do with it."""

    id: str
    expect: str  # "error", "warning" or "ok"
    says: tuple[str, ...] = ()
    data: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    spec: Callable[[dict], None] | None = None
    files: Callable[[Path], None] | None = None
    argv: tuple[str, ...] = RUN
    env: dict[str, str] = field(default_factory=dict)
    api: bool = False
    shell: bool = False

    def build_spec(self) -> dict:
        """The spec of this case (a changed copy of the tiny scheme's)."""
        spec = copy.deepcopy(SPEC)
        if self.spec is not None:
            self.spec(spec)
        return spec


# ------------------------------------------------------------------ building blocks


def opts(**changes) -> Callable[[dict], None]:
    """Change (or, with value ``DROP``, remove) options of the first analysis."""
    def change(spec: dict) -> None:
        options = spec["analyses"][0]["options"]
        for key, value in changes.items():
            if value is DROP:
                options.pop(key, None)
            else:
                options[key] = value
    return change


DROP = object()


def top(**changes) -> Callable[[dict], None]:
    """Change (or remove) top-level keys of the spec."""
    def change(spec: dict) -> None:
        for key, value in changes.items():
            if value is DROP:
                spec.pop(key, None)
            else:
                spec[key] = value
    return change


def outcome(**changes) -> Callable[[dict], None]:
    """Change keys of the outcome ``emergency_admissions``."""
    return lambda spec: spec["outcomes"]["emergency_admissions"].update(changes)


def its(**extra) -> Callable[[dict], None]:
    """Make the analysis a controlled interrupted time series (treated against comparison)."""
    def change(spec: dict) -> None:
        spec["analyses"] = [{"design": "its", "data": "panel",
                             "outcomes": ["emergency_admissions"],
                             "options": {"time": "month", "start": "2019-07",
                                         "treated": "treated", "control": "comparison",
                                         **extra}}]
    return change


def did(**extra) -> Callable[[dict], None]:
    """Make the analysis a difference-in-differences (scheme practices against the others)."""
    def change(spec: dict) -> None:
        spec["analyses"] = [{"design": "did", "data": "panel",
                             "outcomes": ["emergency_admissions"],
                             "options": {"unit": "practice", "time": "month",
                                         "treated": "treated", "start": "2019-07",
                                         "n_boot": 99, "seed": 1, **extra}}]
    return change


def synth(**extra) -> Callable[[dict], None]:
    """Make the analysis a synthetic control of practice P01 on a rate."""
    def change(spec: dict) -> None:
        spec["outcomes"]["rate"] = {"family": "gaussian"}
        spec["analyses"] = [{"design": "synthetic_control", "data": "panel",
                             "outcomes": ["rate"],
                             "options": {"unit": "practice", "time": "month",
                                         "start": "2019-07", "treated_unit": "P01",
                                         "leave_one_out": False, **extra}}]
    return change


def with_rate(df: pd.DataFrame) -> pd.DataFrame:
    """The panel with a rate per 1,000 (for synthetic control)."""
    return df.assign(rate=1000 * df["emergency_admissions"] / df["list_size"])


def cell(column: str, value, rows=(3,)) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Set ``column`` to ``value`` in the given rows (0-based; row 3 is line 5 of the CSV)."""
    def change(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df[column] = df[column].astype(object)
        for r in rows:
            df.loc[r, column] = value
        return df
    return change


def drop_column(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.drop(columns=[column])


def rename(old: str, new: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.rename(columns={old: new})


def write(name: str, content: bytes | str) -> Callable[[Path], None]:
    """Write a file of the scheme (bytes as they are, text as UTF-8)."""
    def change(folder: Path) -> None:
        path = folder / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return change


def edit(name: str, change: Callable[[str], str], encoding: str = "utf-8"
         ) -> Callable[[Path], None]:
    """Rewrite a file of the scheme through ``change``, saved in ``encoding``."""
    def apply(folder: Path) -> None:
        path = folder / name
        path.write_bytes(change(path.read_text(encoding="utf-8")).encode(encoding))
    return apply


def raw_spec(text: str) -> Callable[[Path], None]:
    return write("spec.yaml", text)


def spec_lines(change: Callable[[str], str]) -> Callable[[Path], None]:
    return edit("spec.yaml", change)


def panel_path(path: str) -> Callable[[dict], None]:
    return lambda spec: spec["data"]["panel"].update(path=path)


def billion_laughs(spec_text: str, levels: int = 9) -> str:
    """``spec_text`` with its description replaced by a "billion laughs": nine strings,
    then ``levels`` lists of nine aliases of the list before (9**10 strings expanded)."""
    items = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    items += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    lines = [line for line in spec_text.splitlines() if not line.startswith("description:")]
    return "\n".join([*lines, "description: [" + ", ".join(items) + "]"]) + "\n"


def its_all_treated(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(treated=1, comparison=0)


def shuffled(df: pd.DataFrame) -> pd.DataFrame:
    return df.sample(frac=1.0, random_state=3).reset_index(drop=True)


def one_practice(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["practice"] == "P01"].reset_index(drop=True)


def reverse_treatment(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.loc[5, "treated"] = 0  # P01 leaves the scheme for one month and comes back
    return df


def gap(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(index=[10]).reset_index(drop=True)


def duplicate_row(df: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([df, df.iloc[[4]]], ignore_index=True)


def no_scheme_units(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(treated=0)


def blank_outcome_and_denominator(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy().astype({"emergency_admissions": float, "list_size": float})
    df.loc[[3, 40], ["emergency_admissions", "list_size"]] = np.nan
    return df


def short_series(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["month"] < "2018-04"].reset_index(drop=True)


# ------------------------------------------------------------------ the corpus

PANEL = "panel.csv"
SPECF = "spec.yaml"
EA = "emergency_admissions"

_DATA = [
    # The outcome column: every kind of bad value.
    Case("outcome-inf", "error", (PANEL, EA, "infinite"), data=cell(EA, "inf"), api=True),
    Case("outcome-minus-inf", "error", (PANEL, EA, "infinite"), data=cell(EA, "-inf"),
         api=True),
    Case("outcome-1e400", "error", (PANEL, EA, "infinite"), data=cell(EA, "1e400"),
         api=True),
    Case("outcome-star", "error", (PANEL, EA, "'*'"), data=cell(EA, "*"), api=True),
    Case("outcome-less-than-5", "error", (PANEL, EA, "'<5'"), data=cell(EA, "<5"), api=True),
    Case("outcome-word", "error", (PANEL, EA, "'unknown'"), data=cell(EA, "unknown"),
         api=True),
    Case("outcome-negative", "error", (PANEL, EA, "negative"), data=cell(EA, -4), api=True),
    Case("outcome-fraction", "error", (PANEL, EA, "whole numbers"), data=cell(EA, 2.5),
         api=True),
    Case("outcome-three-times-list-size", "error", (PANEL, EA, "list_size"),
         data=lambda df: df.assign(**{EA: np.where(df.index == 3, 3 * df["list_size"],
                                                   df[EA])}), api=True),
    Case("outcome-huge", "error", (PANEL, EA, "list_size"), data=cell(EA, "1e300"),
         api=True),
    Case("outcome-nan-text", "warning", (PANEL, EA, "missing_values"), data=cell(EA, "nan")),
    Case("outcome-blank", "warning", (PANEL, EA, "missing_values"), data=cell(EA, "")),
    Case("outcome-true", "error", (PANEL, EA), data=cell(EA, "TRUE"), api=True),
    Case("outcome-missing-column", "error", (PANEL, EA, "missing"), data=drop_column(EA),
         api=True),
    Case("outcome-misspelt-column", "error", (PANEL, "emergency_admissions", "did you mean"),
         data=rename(EA, "emergency_admission"), api=True),
    Case("outcome-and-denominator-blank", "warning", ("missing_values",),
         data=blank_outcome_and_denominator),
    Case("outcome-all-blank", "error", (EA,), data=cell(EA, "", rows=range(240)), api=True),
    # The denominator.
    Case("list-size-inf", "error", (PANEL, "list_size", "infinite"),
         data=cell("list_size", "inf"), api=True),
    Case("list-size-n/a", "error", (PANEL, "list_size", "row 5"),
         data=cell("list_size", "n/a"), api=True),
    Case("list-size-blank", "error", (PANEL, "list_size"), data=cell("list_size", ""),
         api=True),
    Case("list-size-word", "error", (PANEL, "list_size", "'unknown'"),
         data=cell("list_size", "unknown"), api=True),
    Case("list-size-zero", "error", (PANEL, "list_size", "zero or negative"),
         data=cell("list_size", 0), api=True),
    Case("list-size-negative", "error", (PANEL, "list_size", "zero or negative"),
         data=cell("list_size", -5000), api=True),
    Case("list-size-missing-column", "error", (PANEL, "list_size"),
         data=drop_column("list_size"), api=True),
    Case("list-size-comma-thousands", "error", (PANEL, "list_size"),
         data=cell("list_size", "5,000"), api=True),
    # The unit and time columns.
    Case("practice-missing-column", "error", (PANEL, "practice"),
         data=drop_column("practice"), api=True),
    Case("month-missing-column", "error", (PANEL, "month"), data=drop_column("month"),
         api=True),
    Case("month-13", "error", (PANEL, "month"), data=cell("month", "2019-13"), api=True),
    Case("month-word", "error", (PANEL, "month"), data=cell("month", "sometime"), api=True),
    Case("month-blank", "error", (PANEL, "month"), data=cell("month", ""), api=True),
    Case("month-year-9999", "error", (PANEL, "month"), data=cell("month", "9999-12"),
         api=True),
    Case("month-year-1066", "error", (PANEL, "month"), data=cell("month", "1066-10"),
         api=True),
    Case("duplicate-practice-month", "error", (PANEL, "month", "share"),
         data=duplicate_row, api=True),
    Case("gap-in-series", "error", (PANEL, "month", "gaps"), data=gap, api=True),
    Case("rows-unsorted", "ok", data=shuffled),
    Case("one-practice", "error", (PANEL, "practice", "at least two"), data=one_practice,
         api=True),
    Case("too-few-months", "error", (PANEL, "month"), data=short_series, api=True),
    # The treatment column.
    Case("treated-yes", "error", (PANEL, "treated", "0 or 1"), data=cell("treated", "yes"),
         api=True),
    Case("treated-two", "error", (PANEL, "treated", "0 or 1"), data=cell("treated", 2),
         api=True),
    Case("treated-minus-one", "error", (PANEL, "treated", "0 or 1"),
         data=cell("treated", -1), api=True),
    Case("treated-blank", "error", (PANEL, "treated"), data=cell("treated", ""), api=True),
    Case("treated-missing-column", "error", (PANEL, "treated"),
         data=drop_column("treated"), api=True),
    Case("treatment-reverses", "error", (PANEL, "treated", "switches off"),
         data=reverse_treatment, api=True),
    Case("no-scheme-units", "error", ("treated",), data=no_scheme_units, api=True),
    # The comparison series of an interrupted time series.
    Case("its-all-treated", "error", (PANEL, "comparison", "comparison series"),
         spec=its(), data=its_all_treated, api=True),
    Case("its-comparison-text", "error", (PANEL, "comparison", "0 or 1"), spec=its(),
         data=cell("comparison", "maybe"), api=True),
    Case("its-comparison-and-treated", "error", (PANEL, "comparison", "both"), spec=its(),
         data=cell("comparison", 1), api=True),
    Case("its-comparison-missing", "error", (PANEL, "comparison"), spec=its(),
         data=drop_column("comparison"), api=True),
    Case("its-outcome-inf", "error", (PANEL, EA, "infinite"), spec=its(),
         data=cell(EA, "inf"), api=True),
    Case("its-list-size-n/a", "error", (PANEL, "list_size"), spec=its(),
         data=cell("list_size", "n/a"), api=True),
    # Difference-in-differences.
    Case("did-all-treated", "error", (PANEL, "treated", "comparison"), spec=did(),
         data=lambda df: df.assign(treated=1), api=True),
    Case("did-outcome-inf", "error", (PANEL, EA, "infinite"), spec=did(),
         data=cell(EA, "inf"), api=True),
    Case("did-list-size-n/a", "error", (PANEL, "list_size"), spec=did(),
         data=cell("list_size", "n/a"), api=True),
    Case("did-n-boot-text", "error", (SPECF, "n_boot"), spec=did(n_boot="many"), api=True),
    Case("did-seed-fraction", "error", (SPECF, "seed"), spec=did(seed=1.5), api=True),
    Case("did-cluster-list", "error", (SPECF, "cluster"), spec=did(cluster=["practice"]),
         api=True),
    # Synthetic control without placebos, or with one unit.
    Case("synth-without-placebos", "ok", spec=synth(placebos=False), data=with_rate),
    Case("synth-one-practice", "error", ("donor",), spec=synth(),
         data=lambda df: with_rate(one_practice(df)), api=True),
    Case("synth-treated-unit-absent", "error", ("P99",), spec=synth(treated_unit="P99"),
         data=with_rate, api=True),
]

_FILES = [
    Case("csv-empty-file", "error", (PANEL, "empty"), files=write(PANEL, b"")),
    Case("csv-header-only", "error", (PANEL, "no rows"),
         files=write(PANEL, "practice,month,list_size,emergency_admissions,bed_days,treated,"
                     "comparison\n")),
    Case("csv-extra-fields", "error", (PANEL, "well-formed", "line 4"),
         files=edit(PANEL, lambda t: t.replace("\nP01,2018-03,", "\nP01,2018-03,9,9,", 1)),
         shell=True),
    Case("csv-latin-1", "error", (PANEL, "UTF-8"),
         files=edit(PANEL, lambda t: t.replace("P02", "Pé2"), encoding="latin-1")),
    Case("csv-utf-16", "error", (PANEL, "UTF-8"), files=edit(PANEL, lambda t: t, "utf-16")),
    Case("csv-bom", "ok", files=edit(PANEL, lambda t: "\ufeff" + t)),
    Case("csv-crlf", "ok", files=edit(PANEL, lambda t: t.replace("\n", "\r\n"))),
    Case("csv-duplicate-header", "error", (PANEL, "more than once"),
         files=edit(PANEL, lambda t: t.replace("bed_days", "list_size", 1))),
    Case("csv-semicolons", "error", (PANEL, "missing"),
         files=edit(PANEL, lambda t: t.replace(",", ";"))),
    Case("csv-binary-junk", "error", (PANEL,), files=write(PANEL, bytes(range(256)) * 8)),
    Case("csv-is-a-folder", "error", (PANEL,),
         files=lambda f: ((f / PANEL).unlink(), (f / PANEL).mkdir())),
    Case("csv-missing", "error", (PANEL, "not found"), files=lambda f: (f / PANEL).unlink()),
    Case("xlsx-not-a-zip", "error", ("panel.xlsx",), spec=panel_path("panel.xlsx"),
         files=write("panel.xlsx", b"this is not a workbook")),
    Case("xlsx-broken-zip", "error", ("panel.xlsx", "Excel"), spec=panel_path("panel.xlsx"),
         files=write("panel.xlsx", b"PK\x03\x04" + b"junk" * 100), shell=True),
    Case("parquet-garbage", "error", ("panel.parquet",), spec=panel_path("panel.parquet"),
         files=write("panel.parquet", b"PAR1 not really")),
    Case("data-unknown-type", "error", ("panel.txt", "type"), spec=panel_path("panel.txt"),
         files=write("panel.txt", "x")),
]

_SPEC = [
    # Options of the wrong type or out of range (the findings of issue 21 included).
    Case("conf-level-high", "error", (SPECF, "conf_level", "high"),
         spec=opts(conf_level="high"), api=True, shell=True),
    Case("conf-level-1.5", "error", (SPECF, "conf_level"), spec=opts(conf_level=1.5),
         api=True),
    Case("conf-level-zero", "error", (SPECF, "conf_level"), spec=opts(conf_level=0),
         api=True),
    Case("conf-level-true", "error", (SPECF, "conf_level"), spec=opts(conf_level=True),
         api=True),
    Case("conf-level-list", "error", (SPECF, "conf_level"), spec=opts(conf_level=[0.95]),
         api=True),
    Case("conf-level-nan", "error", (SPECF, "conf_level"), spec=opts(conf_level=float("nan")),
         api=True),
    Case("unit-list", "error", (SPECF, "unit", "practice"), spec=opts(unit=["practice"]),
         api=True),
    Case("unit-mapping", "error", (SPECF, "unit"), spec=opts(unit={"a": "b"}), api=True),
    Case("time-number", "error", (SPECF, "time"), spec=opts(time=12), api=True),
    Case("treated-list", "error", (SPECF, "treated"), spec=opts(treated=["treated"]),
         api=True),
    Case("paired-yes-please", "error", (SPECF, "paired", "yes please"),
         spec=opts(paired="yes please"), api=True),
    Case("paired-quoted-true", "error", (SPECF, "paired"), spec=opts(paired="true"),
         api=True),
    Case("paired-one", "error", (SPECF, "paired"), spec=opts(paired=1), api=True),
    Case("paired-null", "error", (SPECF, "paired"), spec=opts(paired=None), api=True),
    Case("paired-yaml-yes", "ok", files=spec_lines(lambda t: t.replace("paired: true",
                                                                      "paired: yes"))),
    Case("per-zero", "error", (SPECF, "per"), spec=opts(per=0), api=True),
    Case("per-negative", "error", (SPECF, "per"), spec=opts(per=-1000), api=True),
    Case("per-text", "error", (SPECF, "per"), spec=opts(per="1000"), api=True),
    Case("per-zero-on-outcome", "error", (SPECF, "per"), spec=outcome(per=0)),
    Case("per-infinite", "error", (SPECF, "per"), spec=opts(per=float("inf")), api=True),
    Case("baseline-fraction", "error", (SPECF, "baseline_periods"),
         spec=opts(baseline_periods=12.5), api=True),
    Case("baseline-text", "error", (SPECF, "baseline_periods"),
         spec=opts(baseline_periods="twelve"), api=True),
    Case("baseline-zero", "error", ("baseline_periods",), spec=opts(baseline_periods=0),
         api=True),
    Case("baseline-too-long", "error", (PANEL, "month"),
         spec=opts(baseline_periods=10**9), api=True),
    Case("followup-too-long", "error", ("month",), spec=opts(followup_periods=400),
         api=True),
    Case("washout-negative", "error", ("washout",), spec=opts(washout=-1), api=True),
    Case("start-outside-data", "error", (PANEL, "outside"), spec=opts(start="2030-01"),
         api=True),
    Case("start-garbage", "error", ("start",), spec=opts(start="the spring"), api=True),
    Case("family-misspelt", "error", (SPECF, "poisson", "did you mean"),
         spec=outcome(family="poison")),
    Case("family-number", "error", (SPECF, "family"), spec=opts(family=3), api=True),
    Case("denominator-list", "error", (SPECF, "denominator"),
         spec=opts(denominator=["list_size"]), api=True),
    Case("denominator-absent-column", "error", (PANEL, "list_sizes"),
         spec=outcome(denominator="list_sizes")),
    Case("fourier-two", "error", (SPECF, "fourier"),
         spec=its(seasonality={"fourier": "two", "period": 12}), api=True),
    Case("fourier-zero", "error", (SPECF, "fourier"),
         spec=its(seasonality={"fourier": 0, "period": 12}), api=True),
    Case("seasonality-period-one", "error", (SPECF, "period"),
         spec=its(seasonality={"fourier": 2, "period": 1}), api=True),
    Case("seasonality-unknown", "error", (SPECF, "seasonality"),
         spec=its(seasonality="weekly"), api=True),
    Case("autocorrelation-unknown", "error", (SPECF, "autocorrelation"),
         spec=its(autocorrelation="magic"), api=True),
    Case("placebos-yes-please", "error", (SPECF, "placebos"),
         spec=synth(placebos="yes please"), data=with_rate, api=True),
    # Lists where a value belongs, and the reverse.
    Case("covariates-number", "error", (SPECF, "covariates"), spec=did(covariates=5),
         api=True),
    Case("covariates-nested", "error", (SPECF, "covariates"),
         spec=did(covariates=[["bed_days"]]), api=True),
    Case("horizons-text", "error", (SPECF, "horizons"), spec=its(horizons="abc"), api=True),
    Case("impact-number", "error", (SPECF, "impact"), spec=its(impact=5), api=True),
    Case("lags-negative", "error", (SPECF, "lags"), spec=its(lags=-1), api=True),
    Case("fourier-a-million", "error", (SPECF, "fourier"),
         spec=its(seasonality={"fourier": 10**6, "period": 12}), api=True),
    Case("donors-number", "error", (SPECF, "donors"), spec=synth(donors=5), data=with_rate,
         api=True),
    Case("predictors-number", "error", (SPECF, "predictors"), spec=synth(predictors=5),
         data=with_rate, api=True),
    Case("v-text", "error", (SPECF, "'v'"), spec=synth(v="x"), data=with_rate, api=True),
    Case("start-mapping", "error", (PANEL, "start"), spec=opts(start={"a": 1}), api=True),
    Case("outcome-label-list", "error", (SPECF, "label"), spec=outcome(label=[1])),
    Case("outcome-better-sideways", "error", (SPECF, "better"), spec=outcome(better="up")),
    Case("engagement-list", "error", (SPECF, "engagement"),
         spec=top(engagement={"referrals": ["panel"]})),
    Case("report-list", "error", (SPECF, "report"), spec=top(report=[1])),
    Case("outcomes-list", "error", (SPECF, "outcomes"), spec=top(outcomes=["a"])),
    Case("data-sheet-list", "error", (SPECF, "sheet"),
         spec=lambda s: s["data"]["panel"].update(sheet=[1])),
    # Keys: unknown, missing, of the wrong shape.
    Case("unknown-option", "error", (SPECF, "baseline_period", "did you mean"),
         spec=opts(baseline_period=12)),
    Case("unknown-top-key", "error", (SPECF, "outcome", "did you mean"),
         spec=top(outcome={})),
    Case("unknown-outcome-key", "error", (SPECF, "famly"), spec=outcome(famly="poisson")),
    Case("unknown-data-key", "error", (SPECF, "pth"),
         spec=lambda s: s["data"]["panel"].update(pth="x")),
    Case("unknown-analysis-key", "error", (SPECF, "option"),
         spec=lambda s: s["analyses"][0].update(option={})),
    Case("missing-scheme", "error", (SPECF, "scheme"), spec=top(scheme=DROP)),
    Case("missing-data", "error", (SPECF, "data"), spec=top(data=DROP)),
    Case("missing-outcomes", "error", (SPECF, "outcomes"), spec=top(outcomes=DROP)),
    Case("missing-analyses", "error", (SPECF, "analyses"), spec=top(analyses=DROP)),
    Case("missing-required-option", "error", (SPECF, "start"), spec=opts(start=DROP)),
    Case("analyses-empty", "error", (SPECF, "analyses"), spec=top(analyses=[])),
    Case("analyses-mapping", "error", (SPECF, "analyses"), spec=top(analyses={"a": 1})),
    Case("analysis-is-text", "error", (SPECF, "analysis 1"), spec=top(analyses=["prepost"])),
    Case("design-unknown", "error", (SPECF, "prepst", "did you mean"),
         spec=lambda s: s["analyses"][0].update(design="prepst")),
    Case("design-list", "error", (SPECF, "design"),
         spec=lambda s: s["analyses"][0].update(design=["prepost"])),
    Case("analysis-data-unknown", "error", (SPECF, "panels"),
         spec=lambda s: s["analyses"][0].update(data="panels")),
    Case("analysis-data-list", "error", (SPECF, "data"),
         spec=lambda s: s["analyses"][0].update(data=["panel"])),
    Case("outcome-undeclared", "error", (SPECF, "admissions"),
         spec=lambda s: s["analyses"][0].update(outcomes=["admissions"])),
    Case("outcome-nested-list", "error", (SPECF, "outcome"),
         spec=lambda s: s["analyses"][0].update(outcomes=[[EA]])),
    Case("outcomes-mapping", "error", (SPECF, "outcomes"),
         spec=lambda s: s["analyses"][0].update(outcomes={EA: 1})),
    Case("label-list", "error", (SPECF, "label"),
         spec=lambda s: s["analyses"][0].update(label=["a", "b"])),
    Case("data-kind-unknown", "error", (SPECF, "kind"),
         spec=lambda s: s["data"]["panel"].update(kind="pannel")),
    Case("data-path-list", "error", (SPECF, "path"),
         spec=lambda s: s["data"]["panel"].update(path=["panel.csv"])),
    Case("data-path-escapes", "error", (SPECF, "../../etc/passwd", "outside"),
         spec=panel_path("../../etc/passwd")),
    Case("data-path-absolute", "error", (SPECF, "/etc/passwd", "outside"),
         spec=panel_path("/etc/passwd")),
    Case("data-path-in-subfolder", "ok", spec=panel_path("sub/panel.csv"),
         files=lambda f: ((f / "sub").mkdir(), (f / PANEL).rename(f / "sub" / PANEL))),
    Case("scheme-name-spaces", "error", (SPECF, "scheme"), spec=top(scheme="My Scheme")),
    Case("scheme-name-path", "error", (SPECF, "scheme"), spec=top(scheme="../x")),
    Case("synthetic-yes-please", "error", (SPECF, "synthetic"),
         spec=top(synthetic="yes please")),
    Case("synthetic-quoted-false", "error", (SPECF, "synthetic"), spec=top(synthetic="false")),
    Case("description-list", "error", (SPECF, "description"),
         spec=top(description=["a", "b"])),
    Case("title-mapping", "error", (SPECF, "title"), spec=top(title={"a": 1})),
    # The file itself.
    Case("spec-latin-1", "error", (SPECF, "UTF-8"),
         files=edit(SPECF, lambda t: t.replace("A tiny scheme", "Café scheme"), "latin-1"),
         shell=True),
    Case("spec-utf-16", "error", (SPECF, "UTF-8"), files=edit(SPECF, lambda t: t, "utf-16")),
    Case("spec-bom", "ok", files=edit(SPECF, lambda t: "\ufeff" + t)),
    Case("spec-tabs", "error", (SPECF, "YAML"),
         files=spec_lines(lambda t: t.replace("  unit: practice", "\tunit: practice"))),
    Case("spec-unclosed-bracket", "error", (SPECF, "YAML"),
         files=spec_lines(lambda t: t + "extra: [1, 2\n")),
    Case("spec-root-list", "error", (SPECF, "mapping"), files=raw_spec("- a\n- b\n")),
    Case("spec-root-scalar", "error", (SPECF, "mapping"), files=raw_spec("just words\n")),
    Case("spec-empty", "error", (SPECF, "mapping"), files=raw_spec("")),
    Case("spec-duplicate-key", "error", (SPECF, "twice"),
         files=spec_lines(lambda t: t + "scheme: other-scheme\n")),
    Case("spec-billion-laughs", "error", (SPECF, "aliases"), files=spec_lines(billion_laughs),
         shell=True),
    Case("spec-recursive-alias", "error", (SPECF, "alias"),
         files=raw_spec("scheme: x\ndescription: &a [1, *a]\n")),
    Case("spec-deep-nesting", "error", (SPECF,),
         files=raw_spec("scheme: x\ndescription: " + "[" * 3000 + "]" * 3000 + "\n")),
    Case("spec-oversize", "error", (SPECF, "bytes"),
         files=spec_lines(lambda t: t + "# " + "x" * 1_100_000 + "\n")),
    Case("spec-python-tag", "error", (SPECF, "YAML"),
         files=spec_lines(lambda t: t + "x: !!python/object/apply:os.system ['true']\n")),
    Case("spec-binary", "error", (SPECF,), files=write(SPECF, bytes(range(256)))),
    Case("records-spec-billion-laughs", "error", ("records.yaml", "aliases"),
         files=write("records.yaml", billion_laughs("tables: {}")),
         argv=("aggregate", "{folder}/records.yaml", "--out", "{out}")),
    Case("records-spec-latin-1", "error", ("records.yaml", "UTF-8"),
         files=write("records.yaml", "tables: {}\n# Caf\xe9\n".encode("latin-1")),
         argv=("aggregate", "{folder}/records.yaml", "--out", "{out}")),
    Case("spec-missing", "error", ("nothing.yaml", "not found"),
         argv=("run", "{folder}/nothing.yaml", "--out", "{out}")),
    Case("spec-folder-without-spec", "error", ("spec.yaml", "not found"),
         argv=("run", "{folder}/sub", "--out", "{out}"),
         files=lambda f: (f / "sub").mkdir()),
]


_ARGS = [
    Case("jobs-zero", "error", ("--jobs",),
         argv=("report", "{folder}/x.qmd", "--scheme", "tiny-scheme", "--jobs", "0")),
    Case("jobs-negative", "error", ("--jobs",),
         argv=("report", "{folder}/x.qmd", "--scheme", "tiny-scheme", "--jobs", "-1")),
    Case("jobs-text", "error", ("--jobs", "abc"),
         argv=("report", "{folder}/x.qmd", "--scheme", "tiny-scheme", "--jobs", "abc"),
         shell=True),
    Case("to-unknown-format", "error", ("pdfx",),
         argv=("report", "{folder}/x.qmd", "--scheme", "tiny-scheme", "--to", "pdfx",
               "--data-root", "{root}", "--out", "{out}")),
    Case("to-empty", "error", ("format",),
         argv=("report", "{folder}/x.qmd", "--scheme", "tiny-scheme", "--to", ",",
               "--data-root", "{root}", "--out", "{out}")),
    Case("scheme-escapes", "error", ("../x",),
         argv=("report", "{folder}/x.qmd", "--scheme", "../x", "--to", "html",
               "--data-root", "{root}", "--out", "{out}")),
    Case("scheme-absolute", "error", ("/etc",),
         argv=("report", "{folder}/x.qmd", "--scheme", "/etc", "--to", "html",
               "--data-root", "{root}", "--out", "{out}")),
    Case("engine-unknown", "error", ("engine",),
         argv=("report", "{folder}/x.qmd", "--scheme", "tiny-scheme", "--engine", "word")),
    Case("command-unknown", "error", ("invalid choice",), argv=("rnu", "{spec}")),
    Case("command-none", "error", ("command",), argv=()),
    Case("run-without-spec", "error", ("spec",), argv=("run",)),
    Case("option-unknown", "error", ("--outt",), argv=("run", "{spec}", "--outt", "x")),
    Case("out-is-a-file", "error", ("is a file or a link, not a folder",),
         files=write("taken", "mine"), argv=("run", "{spec}", "--out", "{folder}/taken")),
    Case("out-not-evalkits", "error", ("not an evalkit output folder",),
         files=lambda f: ((f / "theirs").mkdir(), (f / "theirs" / "notes.txt").write_text("x")),
         argv=("run", "{spec}", "--out", "{folder}/theirs")),
    Case("out-read-only", "error", ("{readonly}", "Fix:"),
         argv=("run", "{spec}", "--out", "{readonly}/out"), shell=True),
    Case("evalkit-jobs-text", "error", ("EVALKIT_JOBS",), spec=synth(), data=with_rate,
         env={"EVALKIT_JOBS": "abc"}),
    Case("evalkit-jobs-zero", "error", ("EVALKIT_JOBS",), spec=synth(), data=with_rate,
         env={"EVALKIT_JOBS": "0"}),
    Case("check-bad-data", "error", ("tiny-scheme", "1 error"), data=cell(EA, "inf"),
         argv=("check", "{folder}")),
    Case("check-missing-path", "error", ("nowhere.csv", "not found"),
         argv=("check", "{folder}/nowhere.csv")),
    Case("aggregate-missing-spec", "error", ("nowhere",),
         argv=("aggregate", "{folder}/nowhere.yaml")),
    Case("compare-missing-qmd", "error", ("nowhere.qmd",),
         argv=("compare", "--qmd", "{folder}/nowhere.qmd", "--out", "{out}")),
]

#: Every case of the corpus.
CASES: list[Case] = [*_DATA, *_FILES, *_SPEC, *_ARGS]
