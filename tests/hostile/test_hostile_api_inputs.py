"""Hostile input to the exported functions that take a table or something else first
(``xmr``, ``composite_index`` and ``weight_sensitivity``, ``bootstrap_ci``,
``meta_analysis``): one readable error naming the argument or option, never a TypeError
from deep inside and never a wrong value taken silently (issue 23).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import DataError, DesignError

RNG = np.random.default_rng(0)
RATES = pd.DataFrame({"rate": RNG.normal(10, 1, 30),
                      "month": [f"2019-{m:02d}" for m in range(1, 13)]
                      + [f"2020-{m:02d}" for m in range(1, 13)]
                      + [f"2021-{m:02d}" for m in range(1, 7)]})
BY_UNIT = pd.DataFrame({"practice": list("abcdef"), "m1": RNG.normal(size=6),
                        "m2": RNG.normal(size=6)})
EFFECTS = pd.DataFrame({"estimate": [0.1, 0.2, 0.3], "se": [0.1, 0.1, 0.2],
                        "label": ["x", "y", "z"]})
MEASURES = {"m1": 1.0, "m2": 1.0}

FUNCTIONS = ["xmr", "composite_index", "weight_sensitivity", "bootstrap_ci", "meta_analysis"]


CALLS = {
    "xmr": lambda data: ek.xmr(data, value="rate"),
    "composite_index": lambda data: ek.composite_index(data, measures=MEASURES),
    "weight_sensitivity": lambda data: ek.weight_sensitivity(data, measures=MEASURES),
    "bootstrap_ci": lambda data: ek.bootstrap_ci(data),
    "meta_analysis": lambda data: ek.meta_analysis(data, se="se"),
}


@pytest.mark.parametrize("path", ["effects.csv", Path("effects.csv")], ids=["text", "Path"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_path_is_refused_with_read_it_first(name, path):
    with pytest.raises(DataError, match=rf"{name}\(\) expects .* as '\w+', not a") as err:
        CALLS[name](path)
    assert "ek.read" in err.value.fix


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_mapping_is_refused_naming_what_to_pass(name):
    with pytest.raises(DataError, match=rf"{name}\(\) expects .*, not a dict") as err:
        CALLS[name]({"estimate": [1, 2], "se": [1, 1], "rate": [1, 2]})
    assert err.value.fix.startswith("pass ")


CASES = {
    "xmr value is a list": (lambda: ek.xmr(RATES, value=["rate"], time="month"), "value"),
    "xmr screen_outliers is text": (
        lambda: ek.xmr(RATES, value="rate", screen_outliers="yes please"), "screen_outliers"),
    "xmr fix_after is text": (lambda: ek.xmr(RATES, value="rate", fix_after="high"),
                              "fix_after"),
    "composite_index unit is a list": (
        lambda: ek.composite_index(BY_UNIT, measures=MEASURES, unit=["practice"]), "unit"),
    "composite_index unit is a number": (
        lambda: ek.composite_index(BY_UNIT, measures=MEASURES, unit=5), "unit"),
    "weight_sensitivity unit is a list": (
        lambda: ek.weight_sensitivity(BY_UNIT, measures=MEASURES, unit=["practice"]), "unit"),
    "bootstrap_ci method is a list": (
        lambda: ek.bootstrap_ci(np.arange(20.0), method=["bca"]), "method"),
    "meta_analysis se is a list": (lambda: ek.meta_analysis(EFFECTS, se=["se"]), "se"),
    "meta_analysis hksj is text": (
        lambda: ek.meta_analysis(EFFECTS, se="se", hksj="yes please"), "hksj"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_option_of_the_wrong_type_is_refused_by_name(case):
    call, option = CASES[case]
    with pytest.raises(DesignError, match=rf"option '{option}' must be"):
        call()


GOOD = {  # what each function documents besides a table, which the check lets through
    "xmr": lambda: ek.xmr(list(RNG.normal(size=25))).plot_data(),
    "composite_index": lambda: ek.composite_index(BY_UNIT, measures=MEASURES).scores,
    "weight_sensitivity": lambda: ek.weight_sensitivity(BY_UNIT, measures=MEASURES).ranks,
    "bootstrap_ci": lambda: [ek.bootstrap_ci(pd.Series(RNG.normal(size=30)),
                                             n_resamples=1000, seed=1).estimate],
    "meta_analysis": lambda: ek.meta_analysis(
        EFFECTS.assign(scale="difference", evidence_level=3).to_dict(orient="records"),
        se="se").effects,
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_wrapped_by_the_one_input_check_which_lets_their_inputs_through(name):
    assert hasattr(getattr(ek, name), "__wrapped__")
    assert len(GOOD[name]()) > 0
