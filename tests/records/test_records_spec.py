"""An evaluation spec that starts from patient-level records (``kind: records``).

The records are generated to follow the virtual-wards case study; the practices' scheme
membership comes from that case study's panel as an attributes table. Running the spec
from the records must give exactly the effects that the same spec gives on the panel the
records aggregate to, written out as a CSV (the route every other case study takes).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from evalkit.cli import main
from evalkit.errors import DataError, SpecError
from evalkit.evaluation.pipeline import run_spec
from evalkit.records import aggregate, generate_records

from conftest import SYNTHETIC

CASE = SYNTHETIC / "virtual-wards"
ANALYSES = [
    {"design": "prepost", "data": "panel", "outcomes": ["emergency_admissions", "bed_days"],
     "options": {"unit": "practice", "time": "month", "start": "2019-10",
                 "treated": "treated", "paired": True, "baseline_periods": 12,
                 "followup_periods": 12}},
    {"design": "its", "data": "panel", "outcomes": ["emergency_admissions"],
     "options": {"time": "month", "start": "2019-10", "treated": "treated",
                 "control": "comparison"}},
]
OUTCOMES = {"emergency_admissions": {"family": "quasipoisson", "denominator": "list_size",
                                     "domain": "outcome"},
            "bed_days": {"family": "quasipoisson", "denominator": "list_size",
                         "domain": "outcome"}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("from-records")
    generate_records(root / "records", patients=6_000, like=CASE, seed=11)
    case = pd.read_csv(CASE / "panel.csv")
    attrs = case.groupby("practice")[["treated", "comparison", "imd_score"]].first()
    attrs.reset_index().to_csv(root / "practices.csv", index=False)
    return root


def write_spec(folder, data: dict, name: str = "spec.yaml"):
    spec = {"scheme": "from-records", "title": "Virtual wards, from patient-level records",
            "synthetic": True, "data": data, "outcomes": OUTCOMES, "analyses": ANALYSES}
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def test_spec_from_records_equals_spec_from_the_aggregated_panel(folder):
    ev = run_spec(write_spec(folder, {"panel": {
        "path": "records/records.yaml", "kind": "records", "attributes": "practices.csv"}}))
    # The independent route: aggregate, join the attributes by hand, write a CSV panel.
    panel = aggregate(folder / "records" / "records.yaml", progress=False).panel
    attrs = pd.read_csv(folder / "practices.csv")
    panel.merge(attrs, on="practice").to_csv(folder / "panel.csv", index=False)
    ref = run_spec(write_spec(folder, {"panel": "panel.csv"}, "spec-csv.yaml"))
    cols = ["design", "outcome", "estimand", "estimate", "ci_low", "ci_high"]
    got, want = ev.effects[cols], ref.effects[cols]
    assert len(got) > 0
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  check_exact=False, rtol=1e-12)
    table = ev.table("panel")
    assert {"treated", "comparison", "imd_score", "list_size"} <= set(table.columns)


def test_results_hash_every_records_file(folder):
    ev = run_spec(write_spec(folder, {"panel": {
        "path": "records/records.yaml", "kind": "records", "attributes": "practices.csv"}}))
    inputs = json.loads(ev.results_json())["inputs"]
    for name in ("registrations.parquet", "admissions.parquet", "patients.parquet"):
        assert f"panel/{name}" in inputs, name
    assert "panel/practices.csv" in inputs


def test_a_patient_level_table_of_the_records(folder):
    from evalkit.evaluation.sources import read_source
    from evalkit.evaluation.spec import load_spec

    path = write_spec(folder, {"panel": {"path": "records/records.yaml", "kind": "records",
                                         "attributes": "practices.csv"},
                               "costs": {"path": "records/records.yaml", "kind": "records",
                                         "table": "patient_costs"}}, "spec-table.yaml")
    spec = load_spec(path)
    cache: dict = {}
    costs = read_source(spec.data["costs"], cache=cache)
    assert {"patient_id", "practice", "year", "cost"} <= set(costs.columns)
    read_source(spec.data["panel"], cache=cache)
    assert len(cache) == 1  # one aggregation serves both sources


def test_bad_records_sources_get_clear_answers(folder, capsys):
    from evalkit.evaluation.sources import read_source
    from evalkit.evaluation.spec import load_spec

    path = write_spec(folder, {"panel": {"path": "records/records.yaml", "kind": "records",
                                         "table": "nothing_like_this"}}, "spec-bad.yaml")
    with pytest.raises(SpecError, match="does not build"):
        read_source(load_spec(path).data["panel"])
    few = pd.read_csv(folder / "practices.csv").iloc[3:]
    few.to_csv(folder / "few.csv", index=False)
    path = write_spec(folder, {"panel": {"path": "records/records.yaml", "kind": "records",
                                         "attributes": "few.csv"}}, "spec-few.yaml")
    with pytest.raises(DataError, match="3 practices of the records have no attributes"):
        read_source(load_spec(path).data["panel"])
    path = write_spec(folder, {"panel": {"path": "panel.csv", "table": "x"}}, "spec-key.yaml")
    with pytest.raises(SpecError, match="only 'kind: records' takes"):
        load_spec(path)
    # The command line: exit code 2 and one message naming the file, no traceback.
    assert main(["run", str(folder / "spec-few.yaml"), "--out", str(folder / "out")]) == 2
    err = capsys.readouterr().err
    assert "few.csv" in err and "Traceback" not in err
    assert not (folder / "out").exists()
