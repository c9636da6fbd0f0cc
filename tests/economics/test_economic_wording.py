"""Economic results in words (:mod:`evalkit.economics.wording`) and the signs of numbers.

Expectations are written by hand from the rules of the cost-effectiveness plane
(Drummond et al., 2015): north-east cost-effective when the cost per QALY gained is at or
below the threshold; south-west when the saving per QALY lost is at or above it; south-east
dominant; north-west dominated; extended dominance as in Cantor (1994). The report-level
tests build the economic paragraphs of frailty-inequalities (south-west: saves money,
loses QALYs) and rapid-response (more admissions, not fewer) from their results.
"""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

import evalkit as ek
from evalkit.economics.cost_effectiveness import icer
from evalkit.economics.evaluation import verdict
from evalkit.evidence.narrative import format_effect, format_gbp, format_interval

MINUS = "\u2212"
WTP = [20000.0, 30000.0]


def _wording():
    from evalkit.economics import wording

    return wording


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("inc_cost, inc_effect, expected", [
    # north-east: ICER 10,000 / 25,000 / 40,000 per QALY gained
    (1000.0, 0.1, "cost-effective"),
    (2500.0, 0.1, "cost-effective at the upper threshold"),
    (4000.0, 0.1, "not cost-effective"),
    # south-west: saves 40,000 / 25,000 / 10,000 per QALY lost
    (-4000.0, -0.1, "cost-effective"),
    (-2500.0, -0.1, "cost-effective at the lower threshold"),
    (-1000.0, -0.1, "not cost-effective"),
    # south-east and north-west, and the axes
    (-100.0, 0.01, "dominant"),
    (0.0, 0.01, "dominant"),
    (-5.0, 0.0, "dominant"),
    (100.0, -0.01, "dominated"),
    (10.0, 0.0, "dominated"),
    (0.0, -0.01, "dominated"),
    # exactly at a threshold: cost-effective there in both quadrants (5000 / 0.25 = 20,000)
    (5000.0, 0.25, "cost-effective"),
    (7500.0, 0.25, "cost-effective at the upper threshold"),
    (-7500.0, -0.25, "cost-effective"),
    (-5000.0, -0.25, "cost-effective at the lower threshold"),
])
def test_verdict_by_quadrant(inc_cost, inc_effect, expected):
    """The stored verdict: the south-west is judged as a saving per QALY lost, against the
    threshold the other way round (the old code called a saving of £25,000 per QALY lost
    not cost-effective, and one of £40,000 'cost-saving')."""
    assert verdict(inc_cost, inc_effect, np.array(WTP)) == expected
    assert _wording().classify(inc_cost, inc_effect, WTP).verdict == expected


def test_cost_effective_at_is_a_non_negative_net_benefit():
    """Both quadrant rules are lambda * dE - dC >= 0 (away from exact ties)."""
    w = _wording()
    rng = np.random.default_rng(3)
    dc, de = rng.normal(0, 1000, 400), rng.normal(0, 0.05, 400)
    for c, e in zip(dc, de, strict=True):
        for lam in WTP:
            nmb = lam * e - c
            if abs(nmb) > 1e-6:
                assert w.cost_effective_at(c, e, lam) == (nmb > 0), (c, e, lam)


# --------------------------------------------------------------------------- sentences


def test_north_east_sentence():
    w = _wording()
    text = w.plane_sentence(w.classify(2500.0, 0.1, WTP))
    assert text == ("On the point estimates the scheme costs more and gains QALYs (the "
                    "north-east quadrant of the cost-effectiveness plane): the ICER is £25,000 "
                    "per QALY gained. Such a scheme is cost-effective at a threshold when the "
                    "ICER is at or below it, so it is **cost-effective at £30,000 per QALY** "
                    "but not at £20,000.")
    assert "**cost-effective** at £20,000 and £30,000 per QALY." in \
        w.plane_sentence(w.classify(1000.0, 0.1, WTP))
    assert "**not cost-effective** at £20,000 or £30,000 per QALY." in \
        w.plane_sentence(w.classify(4000.0, 0.1, WTP))


def test_south_west_sentence_reads_the_ratio_as_a_saving_per_qaly_lost():
    w = _wording()
    text = w.plane_sentence(w.classify(-2500.0, -0.1, WTP))
    assert text == ("On the point estimates the scheme saves money and loses QALYs (the "
                    "south-west quadrant of the cost-effectiveness plane): it saves £25,000 per "
                    "QALY lost. Such a scheme is cost-effective at a threshold when the saving "
                    "per QALY lost is at or above it, as the money saved would buy more health "
                    "elsewhere than is lost, so it is **cost-effective at £20,000 per QALY** "
                    "but not at £30,000.")
    assert "**cost-effective** at £20,000 and £30,000" in \
        w.plane_sentence(w.classify(-4000.0, -0.1, WTP))
    assert "**not cost-effective** at £20,000 or £30,000" in \
        w.plane_sentence(w.classify(-1000.0, -0.1, WTP))


def test_dominance_sentences():
    w = _wording()
    assert w.plane_sentence(w.classify(-100.0, 0.01, WTP)) == (
        "On the point estimates the scheme saves money and gains QALYs (the south-east "
        "quadrant of the cost-effectiveness plane): it is **dominant**, cost-effective at any "
        "threshold, so no ratio is needed.")
    assert w.plane_sentence(w.classify(100.0, -0.01, WTP)) == (
        "On the point estimates the scheme costs more and loses QALYs (the north-west "
        "quadrant of the cost-effectiveness plane): it is **dominated**, not cost-effective at "
        "any threshold, so no ratio is needed.")
    assert "costs more and gains no QALYs" in w.plane_sentence(w.classify(10.0, 0.0, WTP))
    assert "costs no more and gains QALYs" in w.plane_sentence(w.classify(0.0, 0.01, WTP))


def test_table_labels():
    w = _wording()
    assert w.classify(-100.0, 0.01, WTP).label() == "dominant (saves money, gains health)"
    assert w.classify(100.0, -0.01, WTP).label() == "dominated (costs more, no health gain)"
    assert w.classify(1000.0, 0.1, WTP).label() == \
        "cost-effective at £20,000 and £30,000 per QALY (£10,000 per QALY gained)"
    assert w.classify(-2500.0, -0.1, WTP).label() == \
        "cost-effective at £20,000 per QALY but not at £30,000 (saves £25,000 per QALY lost)"


def test_frontier_sentences_name_dominance_and_extended_dominance():
    """The HERC example (UC, B, A, C, D, E): A is dominated by B, C extendedly dominated
    by a mix of B and D (ICER 15,000 against B above D's 10,000 against C)."""
    w = _wording()
    t = icer(pd.DataFrame({"strategy": ["UC", "B", "A", "C", "D", "E"],
                           "cost": [5000, 10000, 12000, 25000, 35000, 55000],
                           "effect": [1, 2, 1.5, 3, 4, 5]}))
    assert w.frontier_sentence(t, "UC") == ("UC is the reference: the least costly strategy "
                                            "that is not dominated.")
    assert w.frontier_sentence(t, "A") == ("A is dominated by B: it costs £2,000 more and "
                                           "gains 0.500 fewer QALYs.")
    assert w.frontier_sentence(t, "C") == (
        "C is extendedly dominated: a mix of B and D would gain more QALYs for the same cost, "
        "because its ICER against B (£15,000 per QALY gained) is higher than that of D "
        "against it (£10,000).")
    assert w.frontier_sentence(t, "D") == (
        "D is on the efficiency frontier: against B it costs £25,000 more and gains 2.00 "
        "QALYs, £12,500 per QALY gained.")


def test_uncertainty_words():
    w = _wording()
    assert [w.likelihood(p) for p in (1.0, 0.95, 0.81, 0.66, 0.5, 0.33, 0.2, 0.05, 0.0)] == [
        "virtually certain", "very likely", "likely", "likely", "about as likely as not",
        "unlikely", "unlikely", "very unlikely", "exceptionally unlikely"]
    assert w.uncertainty_sentence({20000: 0.81, 30000: 0.78}) == (
        "The probability that it is cost-effective is 81% at £20,000 and 78% at £30,000 per "
        "QALY: allowing for sampling uncertainty, it is likely to be cost-effective at both "
        "thresholds.")
    assert w.uncertainty_sentence({30000: 0.5, 20000: 0.2}) == (
        "The probability that it is cost-effective is 20% at £20,000 and 50% at £30,000 per "
        "QALY: allowing for sampling uncertainty, it is unlikely to be cost-effective at "
        "£20,000 and about as likely as not at £30,000.")


def test_changes_in_words_carry_no_sign():
    w = _wording()
    rec = {"estimate": -486.0, "ci_low": -1385.0, "ci_high": 455.0, "conf_level": 0.95}
    assert w.net_cost_sentence(rec) == ("each patient cost £486 less (95% CI from £1,385 less "
                                        "to £455 more)")
    rec = {"estimate": 1066.0, "ci_low": 122.0, "ci_high": 1964.0, "conf_level": 0.95}
    assert w.net_cost_sentence(rec) == "each patient cost £1,066 more (95% CI £122 to £1,964 more)"
    rec = {"estimate": -150.0, "ci_low": -958.0, "ci_high": -20.0, "conf_level": 0.9}
    assert w.net_cost_sentence(rec) == "each patient cost £150 less (90% CI £20 to £958 less)"


def test_break_even_sentences():
    """What it needed to avoid, beside what it avoided: never 'avoided -0.11' nor a signed
    change in brackets."""
    w = _wording()
    fewer = {"estimate": -0.094, "ci_low": -0.236, "ci_high": 0.043, "conf_level": 0.95}
    assert w.break_even_sentence(0.088, fewer, label="emergency admissions") == (
        "To pay for itself from emergency admissions alone, the scheme would need to avoid "
        "0.088 per patient served; it avoided 0.094 per patient (95% CI from 0.236 fewer to "
        "0.043 more): on the point estimate, enough on its own to pay for the scheme.")
    few = {"estimate": -0.114, "ci_low": -0.236, "ci_high": -0.011, "conf_level": 0.95}
    assert w.break_even_sentence(0.294, few, label="emergency admissions").endswith(
        "it avoided 0.114 per patient (95% CI 0.011 to 0.236 fewer): on the point estimate, "
        "not enough on its own to pay for the scheme.")
    more = {"estimate": 0.115, "ci_low": -0.033, "ci_high": 0.254, "conf_level": 0.95}
    assert w.break_even_sentence(0.118, more, label="emergency admissions").endswith(
        "would need to avoid 0.118 per patient served; it avoided none: emergency admissions "
        "rose by 0.115 per patient (95% CI from 0.033 fewer to 0.254 more).")


# --------------------------------------------------------------------------- signs


def test_true_minus_and_p_values():
    """One minus sign (U+2212) in every number and interval; p < 0.001, not 0.000."""
    ratio = {"estimate": 0.904, "ci_low": 0.854, "ci_high": 0.956, "conf_level": 0.95,
             "scale": "ratio"}
    assert format_effect(ratio) == f"{MINUS}9.6% (95% CI {MINUS}14.6% to {MINUS}4.4%)"
    diff = {"estimate": 866.0, "ci_low": -78.14, "ci_high": 1763.0, "conf_level": 0.95,
            "scale": "difference"}
    assert format_interval(diff) == f"866 (95% CI {MINUS}78 to 1,763)"
    diff = {"estimate": -0.114, "ci_low": -0.236, "ci_high": -0.011, "conf_level": 0.95,
            "scale": "difference"}
    assert format_interval(diff) == f"{MINUS}0.114 (95% CI {MINUS}0.236 to {MINUS}0.011)"
    assert format_gbp(-984.4) == f"{MINUS}£984"
    from evalkit.evidence.narrative import format_p, p_text

    assert format_p(0.0) == "< 0.001" and format_p(0.0004) == "< 0.001"
    assert format_p(0.04) == "0.040"
    assert p_text(0.0) == "p < 0.001" and p_text(0.018) == "p = 0.018"


# --------------------------------------------------------------------------- reports

STAFF = pd.DataFrame({"role": ["nurse", "set-up"], "band": ["6", ""], "wte": [2.0, 0.0],
                      "annual_salary": [40000.0, 20000.0], "oncost_rate": [0.25, 0.0],
                      "overhead_rate": [0.2, 0.0], "cost_type": ["recurrent", "setup"]})


def _south_west_patients() -> pd.DataFrame:
    """Enrolled patients' costs fall by exactly 780 and their QALYs by exactly 0.02 (the
    comparison patients' do not change), so with the scheme's 280 per patient the scheme
    saves 500 per patient and loses 0.02 QALYs: £25,000 saved per QALY lost."""
    n = 40
    noise = np.tile([-50, 50], n // 2)  # sums to zero exactly
    qnoise = np.tile([-0.01, 0.01], n // 2)
    c1 = np.r_[np.full(n, 2000.0), np.full(n, 1500.0)]
    c2 = np.r_[2000.0 - 780 + noise, 1500.0 + noise]
    q1 = np.full(2 * n, 0.70)
    q2 = np.r_[0.68 + qnoise, 0.70 + qnoise]
    ids = [f"P{i:03d}" for i in range(2 * n)]
    return pd.DataFrame({"patient_id": np.repeat(ids, 2), "year": np.tile([1, 2], 2 * n),
                         "enrolled": np.repeat(np.r_[np.ones(n, int), np.zeros(n, int)], 2),
                         "cost": np.c_[c1, c2].ravel(), "qaly": np.c_[q1, q2].ravel()})


def test_comparative_classification_equals_the_summary(tmp_path):
    """The comparative synthesis's Table 4 and the evidence summary classify a scheme from
    the same record with the same function; for a south-west scheme saving £25,000 per QALY
    lost both say it is cost-effective at £20,000 but not at £30,000 (the old code called
    it 'not cost-effective' in both, and the summary '£25,000 per QALY gained')."""
    from evalkit.report.comparative import ComparativeContext
    from evalkit.report.context import ReportContext

    _south_west_patients().to_csv(tmp_path / "patients.csv", index=False)
    STAFF.to_csv(tmp_path / "staff.csv", index=False)
    spec = {"scheme": "sw-scheme", "title": "t", "synthetic": True,
            "data": {"patients": {"path": "patients.csv", "kind": "patient_costs"},
                     "staff": {"path": "staff.csv", "kind": "scheme_costs"}},
            "outcomes": {"cost": {"label": "Cost", "family": "gaussian", "domain": "cost"}},
            "analyses": [{"design": "economic", "data": "patients", "outcomes": ["cost"],
                          "options": {"scheme_costs_table": "staff", "patients_served": 500,
                                      "before": 1, "after": 2, "effect": "qaly",
                                      "comparison": "did", "n_resamples": 50}}]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    ev = ek.run_spec(tmp_path / "spec.yaml")
    e = ev.results[0][1].effects.set_index("estimand")["estimate"]
    assert e["incremental_cost"] == pytest.approx(-500.0)
    assert e["incremental_effect"] == pytest.approx(-0.02)
    summary = ReportContext(ev, {}).economic_markdown()
    table = ComparativeContext(SimpleNamespace(evaluations={"sw-scheme": ev}),
                               {}).economic_markdown()
    assert "it saves £25,000 per QALY lost" in summary and "per QALY gained" not in summary
    assert "**cost-effective at £20,000 per QALY** but not at £30,000" in summary
    row = next(line for line in table.splitlines() if line.startswith("| sw-scheme"))
    assert "cost-effective at £20,000 per QALY but not at £30,000 (saves £25,000 per QALY " \
           "lost)" in row
    assert ev.results[0][1].diagnostics["verdict"] == "cost-effective at the lower threshold"


def _economic_paragraphs(scheme: str) -> str:
    """The economic section's prose for a synthetic scheme, from its economic analysis."""
    from evalkit.evaluation.spec import load_spec
    from evalkit.report.context import ReportContext

    spec = load_spec(f"data/synthetic/{scheme}/spec.yaml")
    spec = dataclasses.replace(spec, analyses=[a for a in spec.analyses
                                               if a.design == "economic"])
    text = ReportContext(ek.run_spec(spec), {}).economic_markdown()
    return text[:text.index("\n|")]  # the prose before the first table


SIGNED_AGAINST_WORDS = re.compile(r"[-\u2212][£\d][\d,.]*(?: \([^)]*\))? (?:more|less)\b")


@pytest.mark.parametrize("scheme", ["frailty-inequalities", "rapid-response"])
def test_economic_sentences_of_the_synthetic_schemes(scheme):
    """No '-486 ... more', no 'avoided -0.11', no hyphen for a minus, and no 'per QALY
    gained' where QALYs are lost (frailty-inequalities saves money and loses QALYs;
    rapid-response adds admissions and loses QALYs)."""
    text = _economic_paragraphs(scheme)
    assert not SIGNED_AGAINST_WORDS.search(text), SIGNED_AGAINST_WORDS.search(text)
    assert not re.search(r"avoided [-\u2212]", text)
    assert not re.search(r"(?<![\w-])-\d", text), re.search(r".{20}(?<![\w-])-\d.{20}", text)
    assert "(a negative figure is a saving)" not in text
    assert "QALYs per patient were" in text and "lower" in text.split("QALYs per patient")[1]
    assert "per QALY gained" not in text
    if scheme == "frailty-inequalities":
        assert "saves money and loses QALYs (the south-west quadrant" in text
        assert "per QALY lost" in text and "each patient cost £486 less" in text
        assert "**cost-effective** at £20,000 and £30,000 per QALY" in text
    else:
        assert "**dominated**" in text
        assert "it avoided none: emergency admissions rose by 0.115 per patient" in text
