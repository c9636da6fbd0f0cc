"""Joint coverage of the event study's simultaneous band with 6 to 100 clusters.

Runs the study of ``benchmarks/did_band_coverage.py`` (whose 2,000-replication table is in
``docs/did-coverage.md``) at 200 replications per number of clusters; the truth is known
from the simulation. Marked slow (about a minute on one core): run with ``-m slow``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import ROOT

REPS = 200


@pytest.fixture(scope="module")
def rows():
    spec = importlib.util.spec_from_file_location(
        "did_band_coverage", ROOT / "benchmarks" / "did_band_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.study(REPS)


@pytest.mark.slow
def test_band_contains_the_pointwise_intervals_in_every_replication(rows):
    """The old band (normal draws) was inside the t(G-1) intervals with few clusters."""
    assert rows["band_contains_pointwise"].all()


@pytest.mark.slow
def test_band_covers_all_effects_near_nominal_with_enough_clusters(rows):
    """With 30 and 100 clusters the band covers every effect at once in about 95% of
    replications: within 4 Monte Carlo SEs (6 points at 200 replications)."""
    mc_se = np.sqrt(0.95 * 0.05 / REPS)
    cover = rows.groupby("clusters")["band_covers"].mean()
    for g in (30, 100):
        assert abs(cover[g] - 0.95) < 4 * mc_se, cover.to_dict()


@pytest.mark.slow
def test_band_covers_more_often_than_pointwise_intervals_read_as_a_band(rows):
    by = rows.groupby("clusters")
    assert (by["band_covers"].mean() > by["pointwise_all_cover"].mean()).all()
