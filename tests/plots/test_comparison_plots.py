"""Synthetic-control and Love plots draw the stored frames (never refit).

The frames here are built by hand in the shapes the designs store (see
``evalkit.designs.synthetic_control`` and ``evalkit.designs.matching``), so each number
the alt text states is known in advance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.plots import love_plot, synth_gap_plot, synth_loo_plot, synth_path_plot
from evalkit.results import DesignResult, effects_frame

YEARS = list(range(2000, 2010))
POST = [y >= 2006 for y in YEARS]


def _synth_result() -> DesignResult:
    treated = np.arange(10.0)
    gap = np.where(POST, -2.0, 0.5)  # pre-period gaps +0.5 (RMSPE 0.5), post -2
    path = pd.DataFrame({"time": YEARS, "treated": treated, "synthetic": treated - gap,
                         "gap": gap, "post": POST})
    placebos = pd.concat([pd.DataFrame({"unit": u, "time": YEARS, "gap": g,
                                        "included": inc})
                          for u, g, inc in [("A", 0.1, True), ("B", -0.2, True),
                                            ("C", 5.0, False)]])
    loo = pd.concat([pd.DataFrame({"dropped_unit": u, "time": YEARS,
                                   "synthetic": treated - np.where(POST, g, 0.4),
                                   "gap": np.where(POST, g, 0.4)})
                     for u, g in [("A", -1.5), ("B", -2.5)]])
    effects = effects_frame([{"outcome": "cigsale", "design": "synthetic_control",
                              "estimand": "gap_mean", "scale": "difference",
                              "estimate": -2.0}])
    return DesignResult(design="synthetic_control", effects=effects,
                        diagnostics={"p_value": 0.25, "rank": 1, "n_placebos": 3,
                                     "excluded_placebos": ["C"]},
                        options={"treated_unit": "California"},
                        frames={"path": path, "placebos": placebos, "loo": loo})


def test_path_plot_states_fit_and_gap():
    fig, alt = synth_path_plot(_synth_result(), label="Cigarette sales")
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3  # treated, synthetic, start line
    assert "California" in alt
    assert "differ by 0.5 on average" in alt  # pre-period RMSPE
    assert "2 below its synthetic control on average" in alt
    assert "2006" in alt and "p-value 0.250" in alt


def test_gap_plot_leaves_out_poor_placebo_fits_unless_asked():
    res = _synth_result()
    fig, alt = synth_gap_plot(res)
    grey = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) == len(YEARS)]
    assert len(grey) == 3  # placebos A and B, and the treated gap
    assert "2 placebo units" in alt and "1 placebo(s) with a poor pre-start fit" in alt
    assert "1 of 4" in alt
    fig, alt = synth_gap_plot(res, include_poor_fits=True)
    assert "3 placebo units" in alt


def test_loo_plot_gives_the_range_of_post_gaps():
    fig, alt = synth_loo_plot(_synth_result())
    assert "from -2.5 to -1.5" in alt and "A, B" in alt


def test_synth_plots_refuse_other_results():
    other = DesignResult(design="did", effects=effects_frame([]))
    with pytest.raises(ValueError, match="synthetic_control"):
        synth_path_plot(other)


def test_love_plot_orders_covariates_and_names_those_above_threshold():
    love = pd.DataFrame({"covariate": ["age", "age", "cost_y2", "cost_y2", "female", "female"],
                         "stage": ["before", "after"] * 3,
                         "smd": [0.5, 0.05, -1.2, 0.15, 0.02, -0.01]})
    res = DesignResult(design="matched", effects=effects_frame([]), frames={"love": love})
    fig, alt = love_plot(res)
    ax = fig.axes[0]
    # covariates by their names in words (the label registry), never the column's code
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Female", "Age", "Cost in year 2"]
    assert "largest is Cost in year 2 (1.20)" in alt
    assert "1 covariate remains above 0.1: Cost in year 2" in alt
    with pytest.raises(ValueError, match="matched"):
        love_plot(DesignResult(design="did", effects=effects_frame([])))
