"""A tiny synthetic scheme for the hostile-input corpus: fast to run, easy to break.

Eight practices over 30 months (four in the scheme from 2019-07, four outside it), with
counts of emergency admissions and bed days over the list size, plus a locality panel for
synthetic control. Everything is generated from a fixed seed; nothing here is real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

__all__ = ["SPEC", "panel", "write_scheme"]

SPEC = {
    "scheme": "tiny-scheme",
    "title": "A tiny scheme",
    "description": "A synthetic scheme for hostile-input tests.",
    "synthetic": True,
    "data": {"panel": {"path": "panel.csv", "kind": "panel"}},
    "outcomes": {
        "emergency_admissions": {"label": "Emergency admissions", "family": "quasipoisson",
                                 "denominator": "list_size", "domain": "outcome",
                                 "better": "lower"},
        "bed_days": {"label": "Bed days", "family": "quasipoisson",
                     "denominator": "list_size", "domain": "outcome", "better": "lower"},
    },
    "analyses": [
        {"design": "prepost", "data": "panel", "outcomes": ["emergency_admissions"],
         "options": {"unit": "practice", "time": "month", "start": "2019-07",
                     "treated": "treated", "paired": True, "baseline_periods": 12,
                     "followup_periods": 12}},
    ],
}


def panel(n_units: int = 8, n_months: int = 30, seed: int = 7) -> pd.DataFrame:
    """The practice-month panel (first month 2018-01)."""
    rng = np.random.default_rng(seed)
    unit = np.repeat([f"P{i + 1:02d}" for i in range(n_units)], n_months)
    m = np.tile(np.arange(n_months), n_units)
    size = np.repeat(rng.integers(3000, 9000, n_units), n_months)
    treated = np.repeat((np.arange(n_units) < n_units // 2).astype(int), n_months)
    rate = 0.008 * np.where((treated == 1) & (m >= 18), 0.9, 1.0)
    return pd.DataFrame({
        "practice": unit,
        "month": [f"{2018 + k // 12}-{k % 12 + 1:02d}" for k in m],
        "list_size": size,
        "emergency_admissions": rng.poisson(size * rate),
        "bed_days": rng.poisson(size * rate * 4),
        "treated": treated,
        "comparison": 1 - treated,
    })


def write_scheme(folder: Path, spec: dict | None = None) -> Path:
    """Write ``panel.csv`` and ``spec.yaml`` into ``folder``; return the spec's path."""
    folder.mkdir(parents=True, exist_ok=True)
    panel().to_csv(folder / "panel.csv", index=False, lineterminator="\n")
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec or SPEC, sort_keys=False), encoding="utf-8")
    return path
