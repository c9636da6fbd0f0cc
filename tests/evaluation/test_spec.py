"""Evaluation specs: safe loading, validation and nearest-key hints."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import evalkit as ek
from evalkit.errors import SpecError

SCHEME = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "rapid-response"


@pytest.fixture
def spec_dir(tmp_path) -> Path:
    folder = tmp_path / "rapid-response"
    shutil.copytree(SCHEME, folder)
    return folder


def edit(folder: Path, change) -> Path:
    path = folder / "spec.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_synthetic_specs_load():
    spec = ek.load_spec(SCHEME / "spec.yaml")
    assert spec.scheme == "rapid-response" and spec.synthetic
    assert {a.outcome for a in spec.analyses} >= {"emergency_admissions", "cost"}
    first = spec.analyses[0]
    assert first.options["family"] == "quasipoisson" and first.options["denominator"] == "list_size"


@pytest.mark.parametrize("change,match", [
    (lambda d: d.update(analysis=d.pop("analyses")), "did you mean 'analyses'"),
    (lambda d: d["analyses"][0]["options"].update(baseline_period=12),
     "unknown key 'baseline_period'.*did you mean 'baseline_periods'"),
    (lambda d: d["analyses"][0].update(design="prepst"), "did you mean 'prepost'"),
    (lambda d: d["outcomes"]["emergency_admissions"].update(family="quasi-poisson"),
     "did you mean 'quasipoisson'"),
    (lambda d: d["analyses"][0].update(outcomes=["emergency_admission"]),
     "did you mean 'emergency_admissions'"),
    (lambda d: d["analyses"][0]["options"].pop("start"), "needs option\\(s\\) start"),
    (lambda d: d["data"]["panel"].update(kind="pannel"), "did you mean 'panel'"),
    (lambda d: d.update(scheme="../../etc"), "lower-case letters"),
])
def test_invalid_specs_are_refused_with_a_hint(spec_dir, change, match):
    path = edit(spec_dir, change)
    with pytest.raises(SpecError, match=match):
        ek.load_spec(path)


def test_yaml_is_read_safely(spec_dir):
    path = spec_dir / "spec.yaml"
    path.write_text("scheme: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        ek.load_spec(path)


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="spec not found"):
        ek.load_spec(tmp_path / "nope.yaml")


@pytest.mark.parametrize("change,match", [
    (lambda s: s.replace("synthetic: true", "synthetic: 'false'"), "must be true or false"),
    (lambda s: s.replace("domain: outcome", "domain: outcomes", 1), "unknown domain 'outcomes'"),
])
def test_spec_flags_and_domains_are_checked(tmp_path, change, match):
    from evalkit.report.batch import project_root

    folder = tmp_path / "s"
    shutil.copytree(project_root() / "data" / "synthetic" / "federation-mdt", folder)
    spec = folder / "spec.yaml"
    spec.write_text(change(spec.read_text()))
    with pytest.raises(ek.SpecError, match=match):
        ek.load_spec(spec)
