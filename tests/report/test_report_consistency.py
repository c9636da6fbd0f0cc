"""Issue 23.2: prose, tables and figures never disagree about one quantity.

Each test renders one part of a scheme's report from an independent run of its spec and
checks the statements that describe the same thing against each other and against the
result records they come from.
"""

from __future__ import annotations

import re

import pytest

from evalkit.evidence.narrative import format_number
from evalkit.report.context import load_report


@pytest.fixture(scope="module")
def frailty():
    return load_report("frailty-inequalities")


def _prepost(report, outcome: str):
    return next(r for a, r in report.evaluation.results
                if a.design == "prepost" and a.outcome == outcome)


def test_the_chart_and_the_before_after_are_reconciled(frailty):
    """The XmR text said the mean was 14.8 before and 14.8 after, while the before/after
    said admissions were 9.6% lower. Both were true of different windows; the text now says
    which window each uses, and that the baseline year sat above the long-run mean."""
    text = frailty.at_a_glance_markdown()
    prof = frailty.engagement
    before = prof.outcome_spc.limits.iloc[0]
    d = _prepost(frailty, prof.outcome).effects.iloc[0]["diagnostics"]
    flat = " ".join(text.split())
    assert f"{format_number(before['mean'], '.4g')} per 1,000 a month over the whole period" \
        in flat
    assert (f"{format_number(d['baseline_rate'], '.4g')} per 1,000 a month before and "
            f"{format_number(d['followup_rate'], '.4g')} per 1,000 a month after") in flat
    assert "the 12 months before the start and the 12 after" in flat
    assert d["baseline_rate"] > before["mean"]
    assert "regression to the mean" in flat


def test_the_chart_text_and_its_alt_text_state_the_same_means(frailty):
    """Prose printed the phase mean as 14.8 where the figure's alt text says 14.85: the two
    now print the same digits."""
    text = " ".join(frailty.at_a_glance_markdown().split())
    alt = " ".join(frailty._draw_spc_outcome()[1].split())
    first = text.split(". The before/after")[0]
    shown = [n for n in re.findall(r"\d+\.\d+", first)]
    assert len(shown) == 6, first  # two means and two pairs of limits
    alt_numbers = set(re.findall(r"\d+\.\d+", alt))
    assert set(shown) <= alt_numbers, (shown, alt)


def test_every_page_one_effect_is_in_the_effects_table(frailty):
    """Page 1 led costs with £636 (the economic evaluation), which was in neither the
    effects table nor its figure. Every effect page 1 states is now a row of the table,
    with the same words for its interval."""
    from evalkit.evidence.narrative import format_effect

    table = frailty.effects_frame()
    summary = frailty.findings_summary.table
    eff = frailty.evaluation.effects
    led = summary.dropna(subset=["design", "estimand"])
    led = led[led["design"].isin(set(eff["design"]))]
    assert len(led) >= 3
    for row in led.itertuples():
        recs = eff[(eff["outcome"] == row.outcome) & (eff["design"] == row.design)
                   & (eff["estimand"] == row.estimand)]
        # the record page 1 states (the design as specified, or its robust variant)
        assert row.effect in {format_effect(r) for _, r in recs.iterrows()}
        hits = table[(table["Outcome"] == frailty.label(row.outcome))
                     & (table["Effect (95% CI)"] == row.effect)]
        assert len(hits) == 1, (row.outcome, row.design, row.estimand)
