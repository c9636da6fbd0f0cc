"""``n_boot=0``: no draws, no simultaneous band, no crash (issue 27).

``event_study`` and ``staggered_did`` already gave NaN bands with ``n_boot=0``; the sup-t
critical value itself crashed on zero draws (a quantile of an empty array), and ``did``
refused ``n_boot=0`` even for cluster-robust inference, which draws nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.designs.event_study import sup_t_critical_value
from evalkit.errors import DesignError


def test_sup_t_critical_value_with_no_draws_is_nan():
    vcov = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert np.isnan(sup_t_critical_value(vcov, 10, 0.95, 0, np.random.default_rng(0)))
    with pytest.raises(DesignError, match="n_draws"):
        sup_t_critical_value(vcov, 10, 0.95, -1, np.random.default_rng(0))


def panel(units: int = 40, treated: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), 8)
    t = np.tile(np.arange(8), units)
    D = ((np.arange(units) < treated)[unit] & (t >= 4)).astype(int)
    y = rng.normal(size=units)[unit] + 0.1 * t + 0.5 * D + rng.normal(size=unit.size)
    return pd.DataFrame({"unit": unit, "t": t, "D": D, "y": y})


KW = dict(outcome="y", unit="unit", time="t", treated="D")


def test_did_cluster_inference_takes_n_boot_zero():
    """Cluster-robust inference draws nothing: n_boot=0 gives the same result."""
    cols = ["estimate", "se", "ci_low", "ci_high", "p_value"]
    none = ek.did(panel(), inference="cluster", n_boot=0, **KW).effects.iloc[0][cols]
    some = ek.did(panel(), inference="cluster", n_boot=99, **KW).effects.iloc[0][cols]
    assert none.tolist() == some.tolist()


@pytest.mark.parametrize("inference", ["wild", "randomization", "auto"])
def test_did_refuses_n_boot_zero_where_draws_are_needed(inference):
    """10 treated clusters: 'auto' chooses the wild bootstrap, which needs draws."""
    with pytest.raises(DesignError, match=f"inference='{inference}'.*needs draws") as err:
        ek.did(panel(), inference=inference, n_boot=0, **KW)
    assert "n_boot" in err.value.fix
