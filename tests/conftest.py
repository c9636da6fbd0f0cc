"""Shared fixtures: project paths, the shared validation data, small panels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "data" / "synthetic"
VALIDATION = ROOT.parent / "shared" / "validation"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def validation_dir() -> Path:
    if not VALIDATION.is_dir():
        pytest.skip(f"validation datasets not found at {VALIDATION} (they live in ../shared/"
                    "validation beside the project checkout)")
    return VALIDATION


def make_panel(n_units: int = 40, n_periods: int = 24, start: int = 12, effect: float = 1.0,
               seed: int = 0, treated_share: float = 0.5) -> pd.DataFrame:
    """A small monthly practice panel with Poisson counts and a known rate ratio."""
    rng = np.random.default_rng(seed)
    units = np.repeat([f"P{i:03d}" for i in range(n_units)], n_periods)
    t = np.tile(np.arange(n_periods), n_units)
    size = np.repeat(rng.integers(2000, 20000, n_units), n_periods)
    treated = np.repeat((np.arange(n_units) < int(n_units * treated_share)).astype(int),
                        n_periods)
    rate = 8 / 1000 * np.exp(np.repeat(rng.normal(0, 0.2, n_units), n_periods))
    rate = rate * np.where((treated == 1) & (t >= start), effect, 1.0)
    months = [f"{2018 + (m // 12)}-{m % 12 + 1:02d}" for m in t]
    return pd.DataFrame({"practice": units, "month": months, "admissions": rng.poisson(size * rate),
                         "list_size": size, "treated": treated})


@pytest.fixture
def panel() -> pd.DataFrame:
    return make_panel()


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nothing can be written in, for the hostile-input suite (``tests/hostile``):
    for root, a path under /sys, which refuses even root; for others, a folder without
    write permission."""
    import os

    if hasattr(os, "geteuid") and os.geteuid() == 0:
        yield Path("/sys/evalkit-hostile")
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    yield locked
    locked.chmod(0o755)
