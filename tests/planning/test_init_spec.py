"""``evalkit init``: a commented spec from the data alone, for each synthetic scheme.

The expected designs are those each scheme was built for (data/synthetic/README.md and
each scheme's own spec.yaml): staggered DiD for the waves of federation-mdt, synthetic
control where there is a localities table, matched cohorts where there is a patient
cohort, and a controlled ITS for a single start with comparison practices.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

import evalkit as ek
from evalkit.cli import main
from evalkit.errors import EvalkitError

ROOT = Path(__file__).resolve().parents[2] / "data" / "synthetic"
SCHEMES = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
# What each scheme was built for (from its own spec.yaml, which init never sees).
BUILT_FOR = {s: {"synthetic_control"} if (ROOT / s / "localities.csv").exists() else
             {"staggered_did"} if s == "federation-mdt" else {"its"} for s in SCHEMES}
for _s in SCHEMES:
    if (ROOT / _s / "patient_cohort.csv").exists():
        BUILT_FOR[_s] = BUILT_FOR[_s] | {"matched"}
PRIMARY = {s: "synthetic_control" if (ROOT / s / "localities.csv").exists() else
           "staggered_did" if s == "federation-mdt" else "its" for s in SCHEMES}


def _copy_data(scheme: str, dest: Path) -> Path:
    """The scheme's data files alone (no spec.yaml, no README) in a fresh folder."""
    dest.mkdir(parents=True)
    for f in (ROOT / scheme).glob("*.csv"):
        shutil.copy(f, dest / f.name)
    return dest


@pytest.mark.parametrize("scheme", SCHEMES)
def test_init_proposes_the_design_the_scheme_was_built_for(scheme, tmp_path):
    assert len(SCHEMES) == 9
    folder = _copy_data(scheme, tmp_path / scheme)
    result = ek.init(folder)
    assert result.ok, result.summary()
    assert result.check_error is None and result.reports
    spec = ek.load_spec(folder / "spec.yaml")
    designs = {a.design for a in spec.analyses}
    assert BUILT_FOR[scheme] <= designs
    assert result.advice.primary.design == PRIMARY[scheme]
    # the first analysis in the spec is the primary design
    assert spec.analyses[0].design == PRIMARY[scheme]
    assert (folder / "README.md").read_text(encoding="utf-8").startswith("# Evaluation")


def _run(scheme: str, tmp_path: Path) -> None:
    folder = _copy_data(scheme, tmp_path / scheme)
    ek.init(folder)
    ev = ek.run_spec(folder / "spec.yaml", out=tmp_path / "out", progress=False)
    designs = {r["design"] for r in ev.effects.to_dict("records")} \
        if hasattr(ev.effects, "to_dict") else {e.design for e in ev.effects}
    assert BUILT_FOR[scheme] <= designs


@pytest.mark.parametrize("scheme", ["dementia-service"])
def test_init_spec_runs(scheme, tmp_path):
    _run(scheme, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", SCHEMES)
def test_init_spec_runs_every_scheme(scheme, tmp_path):
    _run(scheme, tmp_path)


def test_every_choice_says_why(tmp_path):
    folder = _copy_data("virtual-wards", tmp_path / "vw")
    ek.init(folder)
    text = (folder / "spec.yaml").read_text(encoding="utf-8")
    for line in text.splitlines():
        stripped = line.strip()
        for k in ("start:", "treated:", "control:", "unit:", "treated_unit:", "cohort:"):
            if stripped.startswith(k) and not line.startswith("engagement"):
                assert "#" in line, line  # the reason is a comment on the same line
    assert "begin in this month" in text  # the start: from the activity records


def test_explicit_flags_override_the_guesses(tmp_path):
    folder = _copy_data("dementia-service", tmp_path / "d")
    code = main(["--quiet", "init", str(folder), "--start", "2019-07", "--unit", "practice",
                 "--time", "month", "--treated", "comparison"])
    assert code == 0
    spec = ek.load_spec(folder / "spec.yaml")
    its = [a for a in spec.analyses if a.design == "its"][0]
    assert its.options["start"] == "2019-07"  # not the 2019-10 the activity records say
    assert its.options["treated"] == "comparison"
    text = (folder / "spec.yaml").read_text(encoding="utf-8")
    assert 'start: "2019-07"  # given on the command line (--start)' in text
    assert 'treated: "comparison"  # given on the command line (--treated)' in text


def test_a_wrong_guess_is_corrected_by_a_flag(tmp_path):
    """A treated flag with an unusual name is a TODO; --treated names it."""
    panel = pd.read_csv(ROOT / "dementia-service" / "panel.csv").rename(
        columns={"treated": "flag_x"})
    (tmp_path / "a").mkdir()
    panel.to_csv(tmp_path / "a" / "panel.csv", index=False)
    result = ek.init(tmp_path / "a", start="2019-10")
    assert any("treated" in t for t in result.todos)
    assert not result.ok
    (tmp_path / "b").mkdir()
    panel.to_csv(tmp_path / "b" / "panel.csv", index=False)
    result = ek.init(tmp_path / "b", start="2019-10", treated="flag_x")
    assert result.ok, result.summary()
    assert ek.load_spec(tmp_path / "b" / "spec.yaml").analyses[0].options["treated"] == "flag_x"


def test_undecidable_start_is_a_todo_not_a_guess(tmp_path):
    """A panel alone, with a flag that never changes and no activity records: nothing says
    when the scheme started."""
    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copy(ROOT / "rapid-response" / "panel.csv", folder / "panel.csv")
    result = ek.init(folder)
    assert any(t.startswith("start:") for t in result.todos)
    text = (folder / "spec.yaml").read_text(encoding="utf-8")
    assert "# TODO: start: nothing in the data says when the scheme started" in text
    assert "start:" not in text.replace("# TODO: start:", "")  # no silent guess
    assert not result.ok and result.check_error  # the check says what is missing
    assert main(["--quiet", "init", str(folder), "--out", str(tmp_path / "q")]) == 2
    assert main(["--quiet", "init", str(folder), "--out", str(tmp_path / "r"),
                 "--start", "2019-04"]) == 0


@pytest.mark.parametrize("existing", ["spec.yaml", "README.md"])
def test_never_overwrites(existing, tmp_path, capsys):
    folder = _copy_data("dementia-service", tmp_path / "d")
    (folder / existing).write_text("mine\n", encoding="utf-8")
    before = sorted(p.name for p in folder.iterdir())
    code = main(["--quiet", "init", str(folder)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(folder / existing) in err and "never overwrites" in err
    assert (folder / existing).read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing else written
    with pytest.raises(EvalkitError, match="never overwrites"):
        ek.init(folder)


def test_init_twice_refuses_the_second_time(tmp_path):
    folder = _copy_data("dementia-service", tmp_path / "d")
    ek.init(folder)
    with pytest.raises(EvalkitError, match="spec.yaml"):
        ek.init(folder)


def test_out_folder_gets_copies_of_the_data(tmp_path):
    data = _copy_data("dementia-service", tmp_path / "data")
    out = tmp_path / "evaluation"
    result = ek.init(sorted(data.glob("*.csv")), out=out)
    assert result.ok
    assert (out / "panel.csv").read_bytes() == (data / "panel.csv").read_bytes()
    assert not (data / "spec.yaml").exists()


HOSTILE = 'admissions"\n: evil\n- injected: 1 # x\r\u2028'


def test_hostile_column_name_stays_a_name(tmp_path):
    panel = pd.read_csv(ROOT / "dementia-service" / "panel.csv").rename(
        columns={"bed_days": HOSTILE})
    folder = tmp_path / "h"
    folder.mkdir()
    panel.to_csv(folder / "panel.csv", index=False)
    result = ek.init(folder, start="2019-10")
    raw = yaml.safe_load((folder / "spec.yaml").read_text(encoding="utf-8"))
    assert set(raw) == {"scheme", "title", "description", "data", "outcomes", "analyses"}
    assert set(raw["outcomes"]) == {"emergency_admissions", HOSTILE}
    assert raw["analyses"][0]["outcomes"] == ["emergency_admissions", HOSTILE]
    spec = ek.load_spec(folder / "spec.yaml")
    assert {a.outcome for a in spec.analyses} == {"emergency_admissions", HOSTILE}
    assert result.check_error is None


def test_parquet_and_excel_data(tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    pd.read_csv(ROOT / "dementia-service" / "panel.csv").to_parquet(folder / "panel.parquet")
    pd.read_csv(ROOT / "dementia-service" / "referrals.csv").to_excel(
        folder / "referrals.xlsx", index=False)
    result = ek.init(folder)
    assert result.ok, result.summary()
    spec = ek.load_spec(folder / "spec.yaml")
    assert spec.data["panel"].path.name == "panel.parquet"
    assert spec.data["referrals"].kind == "referrals"
    assert spec.analyses[0].options["start"] == "2019-10"  # the referrals' first month


def test_patient_level_records_through_a_records_spec(tmp_path):
    """A records spec is aggregated to the panel; a practice table joined as attributes."""
    from evalkit.records import generate_records

    generate_records(tmp_path / "records", patients=6_000, like=ROOT / "virtual-wards",
                     seed=11)
    case = pd.read_csv(ROOT / "virtual-wards" / "panel.csv")
    case.groupby("practice")[["treated", "comparison", "imd_score"]].first().reset_index(
    ).to_csv(tmp_path / "practices.csv", index=False)
    result = ek.init([tmp_path / "records" / "records.yaml", tmp_path / "practices.csv"],
                     out=tmp_path, start="2019-10")
    assert result.ok, result.summary()
    raw = yaml.safe_load((tmp_path / "spec.yaml").read_text(encoding="utf-8"))
    assert raw["data"] == {"records": {"path": "records/records.yaml", "kind": "records",
                                       "attributes": "practices.csv"}}
    outcomes = raw["outcomes"]
    # a sub-group's count is a rate of the sub-group's list size, not a share of all
    assert outcomes["emergency_admissions_65plus"]["denominator"] == "list_size_65plus"
    assert "list_size_65plus" not in outcomes
    assert not any("_age_" in name for name in outcomes)
    assert raw["analyses"][0]["design"] == "its"


def test_flags_need_a_panel_and_a_real_cohort_column(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("a,b\nx,1\ny,2\n", encoding="utf-8")
    assert main(["init", str(tmp_path / "t.csv"), "--treated", "b"]) == 2
    assert "no file is one" in capsys.readouterr().err
    folder = _copy_data("dementia-service", tmp_path / "d")
    assert main(["init", str(folder), "--cohort", "list_size"]) == 2
    err = capsys.readouterr().err
    assert "--cohort names column 'list_size', which changes within a 'practice'" in err
    assert not (folder / "spec.yaml").exists()


@pytest.mark.parametrize("text", [HOSTILE, "a: b", "- x", "#x", "'q'", '"', "\\", "&a *a",
                                  "!!python/object/apply:os.system", "x\x85y\u2029z\x00",
                                  "\ufeffbom", "é ☃ \U0001f600", "null", "yes", "1e3", ""])
def test_yaml_text_cannot_inject(text):
    from evalkit.planning.yaml_text import comment, scalar

    doc = f"k: {scalar(text)}  {comment(text)}\n{comment(text)}\nz: 1\n"
    assert yaml.safe_load(doc) == {"k": text, "z": 1}


def test_hostile_unit_name_in_the_readme_is_text(tmp_path):
    panel = pd.read_csv(ROOT / "dementia-service" / "panel.csv").rename(
        columns={"practice": "[x](javascript:alert(1))<b>"})
    folder = tmp_path / "h"
    folder.mkdir()
    panel.to_csv(folder / "panel.csv", index=False)
    result = ek.init(folder, start="2019-10")
    assert result.ok, result.summary()
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "[x](javascript" not in readme and "<b>" not in readme
    assert "\\[x\\](javascript:alert(1))\\<b\\>" in readme
