"""The evidence summary's content, checked without rendering.

The one-page summary (evalkit.report.summary), why each comparison group
(evalkit.report.design), limitations (evalkit.report.limitations), robustness
checks (evalkit.report.robustness), disclosure control of every count shown
(evalkit.evidence.published), figures with computed alt text
(evalkit.report.figures) and the render provenance (evalkit.evaluation.provenance.render_info).
Expected values come from the schemes' data files read with pandas, from the effect
records of an independent run of the spec, or are worked out by hand in the comments.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from evalkit.errors import DataError, DesignError
from evalkit.evaluation.pipeline import run_spec
from evalkit.evaluation.provenance import collect, render_info
from evalkit.evidence.certainty import rate_certainty
from evalkit.evidence.disclosure import DisclosureRules
from evalkit.evidence.narrative import format_effect, p_text
from evalkit.evidence.published import ReportCounts
from evalkit.report.batch import render_key
from evalkit.report.context import ReportContext
from evalkit.report.design import comparison_groups, unit_words
from evalkit.report.figures import FIGURE_CAPTIONS, FIGURE_DIR_ENV, figure_markdown, save_figure
from evalkit.report.limitations import confounding, regression_to_mean
from evalkit.report.robustness import robustness_checks
from evalkit.report.summary import (
    ENGAGEMENT,
    QUADRUPLE_AIM,
    evidence_summary,
    quadruple_aim_domain,
    scheme_characteristics,
    scheme_sentences,
)

from conftest import ROOT, SYNTHETIC


@pytest.fixture(scope="module")
def frailty():
    return run_spec(SYNTHETIC / "frailty-inequalities" / "spec.yaml")


@pytest.fixture(scope="module")
def wards():
    return run_spec(SYNTHETIC / "virtual-wards" / "spec.yaml")


@pytest.fixture(scope="module")
def federation():
    return run_spec(SYNTHETIC / "federation-mdt" / "spec.yaml")


@pytest.fixture(scope="module")
def gp_at_scale():
    return run_spec(SYNTHETIC / "gp-at-scale" / "spec.yaml")


# --------------------------------------------------------------------------- summary
def test_outcomes_map_to_quadruple_aim_domains():
    assert quadruple_aim_domain("cost_y3", {"domain": "cost"}) == "Cost per capita"
    assert quadruple_aim_domain("patient_experience", {"domain": "outcome"}) == \
        "Patient experience"
    assert quadruple_aim_domain("deaths_at_home", {}) == "Patient experience"
    assert quadruple_aim_domain("bed_days", {"domain": "outcome"}) == \
        "Population health outcomes"


def test_scheme_in_three_sentences_from_schemes_csv(frailty):
    row = pd.read_csv(SYNTHETIC / "schemes.csv").set_index("scheme").loc[
        "frailty-inequalities"]
    what, where, since = scheme_sentences(frailty.spec, scheme_characteristics(frailty.spec))
    assert what.startswith("Frailty programme focused on inequalities: neighbourhood teams")
    assert f"{int(row['units_in_scheme'])} practices in {row['nation']}" in where
    assert "Primary Care Network" in where and f"{row['population_covered']:,}" in where
    assert since.startswith("It started in October 2019")  # start 2019-10
    assert f"£{row['scheme_cost_first_year']:,.0f}" in since
    assert f"£{row['funding_per_head']:.2f} per head" in since


def test_scheme_sentences_without_characteristics_fall_back_to_the_spec(frailty):
    what, where, since = scheme_sentences(frailty.spec, None)
    assert what.startswith("Frailty programme")
    assert "not recorded" in where
    assert since == "It started in October 2019."  # the analyses' start


def test_characteristics_refuse_a_scheme_listed_twice(frailty, tmp_path):
    table = pd.DataFrame({"scheme": ["frailty-inequalities", "frailty-inequalities"],
                          "nation": ["England", "Wales"]})
    with pytest.raises(DataError) as info:
        scheme_characteristics(frailty.spec, table=table)
    assert info.value.rows == [2, 3] and info.value.column == "scheme"
    path = tmp_path / "schemes.csv"
    pd.DataFrame({"name": ["x"]}).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        scheme_characteristics(frailty.spec, table=path)
    assert info.value.file == str(path) and info.value.column == "scheme"
    assert scheme_characteristics(frailty.spec, table=tmp_path / "absent.csv") is None


def test_summary_has_every_domain_and_says_what_was_not_measured(frailty):
    table = evidence_summary(frailty).to_frame()
    assert list(dict.fromkeys(table["domain"])) == [*QUADRUPLE_AIM, ENGAGEMENT]
    pe = table[table["domain"] == "Patient experience"]
    assert len(pe) == 1 and pe["finding"].iloc[0].startswith("Not measured in this evaluation")
    assert pe["certainty"].isna().all()


def test_summary_findings_lead_with_the_strongest_design(frailty):
    """Each outcome's finding reports the record GRADE rating chose (the strongest design
    that suits the data: here, as frailty chose its practices at a peak, the controlled ITS
    with the 12 months before the start left out of its pre-period), with its interval as
    the headline table prints it, its design and level, and the ITS as designed beside it."""
    eff = frailty.effects
    cert = rate_certainty(eff[np.isfinite(eff["estimate"])]).table.set_index("outcome")
    table = evidence_summary(frailty).to_frame().set_index("outcome")
    ea = table.loc["emergency_admissions"]
    assert ea["domain"] == "Population health outcomes"
    # level 4 once the peak is out (pre-trends parallel), rated down for the peak
    assert ea["certainty"] == cert.loc["emergency_admissions", "certainty"]
    assert ea["certainty"] in ("low", "very low")  # rated down for the peak at least
    its = eff[(eff["outcome"] == "emergency_admissions") & (eff["design"] == "its")
              & (eff["estimand"] == "level_change")]
    robust = its["diagnostics"].map(lambda d: d.get("variant") is not None)
    rec, main = its[robust].iloc[0], its[~robust].iloc[0]
    assert ea["effect"] == format_effect(rec)
    pct = [round((1 - v) * 100) for v in (rec["estimate"], rec["ci_high"], rec["ci_low"])]
    assert f"an estimated {abs(pct[0])}%" in ea["finding"]
    assert f"{abs(pct[1])}%" in ea["finding"] and f"{abs(pct[2])}%" in ea["finding"]
    assert "Maryland level 4" in ea["finding"]
    assert "interrupted time series" in ea["finding"].lower()
    assert "chosen at a peak" in ea["finding"]
    # the ITS as designed is stated beside it
    assert f"with them in, as designed: {format_effect(main)}" in ea["finding"]
    assert table.loc["bed_days", "certainty"] == "very low"  # imprecise, and the peak
    assert "chosen at a peak" in table.loc["bed_days", "finding"]


def test_cost_per_capita_states_the_net_cost_with_the_scheme_cost(frailty):
    table = evidence_summary(frailty).to_frame()
    econ = next(r for a, r in frailty.results if a.design == "economic").effects.set_index(
        "estimand")
    cost = table[(table["domain"] == "Cost per capita") & (table["outcome"] == "cost")]
    text = cost["finding"].iloc[0]
    inc = econ.loc["incremental_cost"]
    assert f"\u2212£{-inc['estimate']:,.0f} per patient" in text  # a true minus sign
    assert f"£{econ.loc['scheme_cost_per_patient', 'estimate']:,.0f} per patient served" in text
    qaly = table[table["outcome"] == "qaly"]["finding"].iloc[0]
    assert "Net of the scheme" not in qaly


def test_staff_and_engagement_rows(frailty):
    prof = frailty.engagement
    table = evidence_summary(frailty).to_frame().set_index("domain")
    staff = table.loc["Staff experience", "finding"]
    ors = pd.concat([r.effects for r in prof.survey_change.values()])
    assert f"on {int((ors['estimate'] > 1).sum())} of {len(ors)} survey statements" in staff
    assert "very low certainty" in staff and "Maryland level 1" in staff
    eng = table.loc[ENGAGEMENT]
    by_unit = prof.indices.frames["by_unit"]
    share = (by_unit["referrals"] > 0).mean() * 100  # 29 of 30 practices: 97%
    assert eng["finding"].startswith(f"{share:.0f}% (95% CI")
    assert f"of the {len(by_unit)} scheme practices" in eng["finding"]
    assert pd.isna(eng["certainty"])


def test_patient_experience_is_measured_where_the_spec_has_it(gp_at_scale):
    table = evidence_summary(gp_at_scale).to_frame()
    pe = table[table["domain"] == "Patient experience"]
    assert set(pe["outcome"]) == {"patient_experience", "continuity"}
    # a difference on a percentage scale is in percentage points
    assert "percentage points" in pe.set_index("outcome").loc["patient_experience", "finding"]


def test_summary_markdown_is_a_left_aligned_captioned_table(frailty):
    md = evidence_summary(frailty).markdown()
    lines = md.splitlines()
    rule = next(x for x in lines if x.startswith("|:"))
    assert rule.count("|") == 3  # two columns: Domain and What we found
    assert "{#tbl-summary}" in md and "**Emergency admissions.**" in md


# --------------------------------------------------------------------------- comparison
def test_comparison_groups_name_the_design_actually_used(wards, federation):
    frame = comparison_groups(wards).set_index("design")
    # synthetic control: the donor pool is every other locality in the data (31 - 1)
    n_donors = pd.read_csv(SYNTHETIC / "virtual-wards" / "localities.csv")["locality"] \
        .nunique() - 1
    assert f"of the {n_donors} other localities (the donor pool)" in \
        frame.loc["synthetic_control", "comparison"]
    first = frame.loc["prepost", "comparison"].iloc[0]
    assert first.startswith("None: the scheme's own practices")
    its = frame.loc["its"]
    assert "outside the scheme" in its["comparison"] and "parallel" in its["why"]
    # staggered roll-out against never-treated practices, counted from the panel
    panel = pd.read_csv(SYNTHETIC / "federation-mdt" / "panel.csv")
    never = int((panel.groupby("practice")["cohort"].first().astype(str) == "0").sum())
    stag = comparison_groups(federation).set_index("design").loc["staggered_did"]
    assert f"The {never} practices that never joined" in stag["comparison"]
    assert "2019-04, 2020-10, 2022-01" in stag["comparison"]


def test_comparison_counts_of_patients_go_through_disclosure_control(frailty):
    counts = ReportCounts(DisclosureRules(high=10**9))  # hide every count
    frame = comparison_groups(frailty, counts).set_index("design")
    matched = frame.loc["matched"]
    d = next(r for a, r in frailty.results if a.design == "matched").diagnostics
    assert str(d["n_controls_used"]) not in matched["comparison"]
    assert matched["comparison"].startswith("* patients not in the scheme")
    assert counts.to_frame()["suppressed"].sum() >= 3 and counts.to_frame()["shown"].sum() == 0


def test_unit_words():
    assert unit_words("area") == ("area", "areas")
    assert unit_words(None) == ("unit", "units")


# --------------------------------------------------------------------------- limitations
def test_regression_to_the_mean_in_the_schemes_terms(frailty):
    text = regression_to_mean(frailty)[0]
    eff = frailty.result("emergency_admissions").effects.set_index("estimand")
    naive, adjusted = eff.loc["before_after", "estimate"], \
        eff.loc["before_after_rtm_adjusted", "estimate"]
    # expected change from RTM alone = naive / adjusted on the ratio scale:
    # 0.9038 / 0.9270 = 0.9749, i.e. -2.5%
    assert f"by {(naive / adjusted - 1) * 100:.1f}%".replace("-", "\u2212") in text
    assert "chose its practices for high values" in text  # selected_on_baseline in the spec
    assert format_effect(eff.loc["before_after"]) in text
    assert format_effect(eff.loc["before_after_rtm_adjusted"]) in text
    assert "2017-10 to 2018-09" in text  # the reference window before the baseline


def test_confounding_names_what_each_design_cannot_rule_out(frailty, wards):
    text = " ".join(confounding(frailty))
    assert "COVID-19" in text  # the follow-up 2019-10 to 2020-09 covers March 2020
    assert "conditions, risk score still differ after matching" in text  # in words
    assert "Interrupted time series" in text
    # The trend clause follows the controlled ITS's own pre-trend test.
    its = next(r for a, r in frailty.results if a.design == "its").diagnostics
    differed = its["pretrend_p"] < 0.05
    assert ("trends differed before the start" in text) == differed
    assert (p_text(its["pretrend_p"]) in text) == differed
    assert "L00 (scheme)" in " ".join(confounding(wards))


def test_robustness_checks_read_the_designs_diagnostics(frailty, wards):
    checks = robustness_checks(frailty, evidence_summary(frailty).certainty)
    pre = checks[checks["Check"] == "Parallel trends before the start"]
    its = next(r for a, r in frailty.results if a.design == "its")
    assert pre["Result"].iloc[0].startswith(f"p = {its.diagnostics['pretrend_p']:.3f}")
    assert "Designs compared" in set(checks["Check"])
    synth = next(r for a, r in wards.results if a.design == "synthetic_control").diagnostics
    placebo = robustness_checks(wards).set_index("Check").loc["Placebo areas", "Result"]
    assert f"ranks {synth['rank']} of {synth['n_placebos'] + 1}" in placebo


# --------------------------------------------------------------------------- disclosure
def test_report_counts_follow_the_hes_small_number_rule():
    # NHS Digital's HES small-number rule: counts 1 to 7 are suppressed; 0 is shown.
    counts = ReportCounts()
    assert counts.counts([0, 1, 7, 8, 1234], "admissions") == ["0", "*", "*", "8", "1,234"]
    assert counts.count(3, "patients") == "*"
    log = counts.to_frame()
    assert log["suppressed"].tolist() == [2, 1] and log["shown"].tolist() == [3, 0]
    assert "NHS HES small numbers" in counts.statement()
    assert "3 were suppressed" in counts.statement()  # of 6 counts checked
    assert counts.share(["12%", "3%"], [False, True]) == ["12%", "*"]


def test_report_counts_refuse_what_cannot_be_a_count():
    counts = ReportCounts()
    with pytest.raises(DataError) as info:
        counts.counts([4, -1, 9], "referrals")
    assert info.value.rows == [3] and info.value.column == "referrals"
    with pytest.raises(DataError) as info:
        counts.counts([2.5], "referrals", file="mdt.csv")
    assert info.value.file == "mdt.csv"
    with pytest.raises(DataError):
        counts.share(["1%"], [True, False])


def test_every_count_the_report_shows_is_controlled(frailty):
    """With rules that hide every count, no count of people or events survives."""
    report = ReportContext(frailty, {}, rules=DisclosureRules(high=10**9))
    prof = frailty.engagement
    md = report.engagement_markdown()
    mdt = prof.indices.frames["mdt"]
    table = md[md.index("| Profession"):md.index(": MDT meeting")].strip().splitlines()[2:]
    assert len(table) == len(mdt)
    for row in table:  # counts and the attendance rates computed from them are hidden
        assert [c.strip() for c in row.strip("|").split("|")][1:] == ["\\*"] * 3  # escaped
    design = report.design_markdown()
    d = frailty.result("emergency_admissions").effects.iloc[0]["diagnostics"]
    assert f"{int(d['baseline_events']):,}" not in design  # admissions are events
    econ = report.economic_markdown()
    assert "\\* patients it served" in econ
    effects = report.effects_frame()
    assert set(effects.loc[effects["Outcome"].str.startswith("Resource-use"), "Units"]) == {"*"}
    assert "30" in set(effects["Units"])  # 30 practices: organisations are not controlled
    statement = report.disclosure_markdown()
    assert "0 were suppressed" not in statement and "{#tbl-disclosure}" in statement


# --------------------------------------------------------------------------- figures
def _drawn():
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig, 'Falls from "1" to 0 {in a year}.'


def test_figure_markdown_carries_the_computed_alt_text(tmp_path):
    md = figure_markdown(_drawn(), label="fig-x", caption="A [demo] line", folder=tmp_path,
                         width="70%")
    assert md.strip() == (f"![A \\[demo\\] line]({(tmp_path / 'fig-x.png').as_posix()})"
                          '{#fig-x fig-alt="Falls from \\"1\\" to 0 {in a year}." width="70%"}')
    assert (tmp_path / "fig-x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure_markdown(None, label="fig-x", caption="c", folder=tmp_path) == ""


def test_figure_folder_from_the_engine(tmp_path, monkeypatch):
    monkeypatch.setenv(FIGURE_DIR_ENV, str(tmp_path / "engine"))
    fig = save_figure(_drawn(), label="fig-y", caption="c")
    assert fig.path == tmp_path / "engine" / "fig-y.png" and fig.path.is_file()


def test_figure_refusals(tmp_path):
    with pytest.raises(DesignError, match="not a figure label"):
        save_figure(_drawn(), label="tbl-x", caption="c", folder=tmp_path)
    with pytest.raises(DesignError, match="no alt text"):
        save_figure((_drawn()[0], " "), label="fig-x", caption="c", folder=tmp_path)
    with pytest.raises(DesignError, match="not a percentage"):
        save_figure(_drawn(), label="fig-x", caption="c", folder=tmp_path, width="9cm")
    with pytest.raises(DesignError, match="Figure, alt text"):
        save_figure("not a figure", label="fig-x", caption="c", folder=tmp_path)


def test_its_figure_labels_years_without_overlap(frailty):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from evalkit.plots import its_plot

    its = next(r for a, r in frailty.results if a.design == "its")
    fig = its_plot(its, label="Emergency admissions")[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    labels = fig.axes[0].get_xticklabels()
    assert labels and all(re.fullmatch(r"\d{4}", t.get_text()) for t in labels)
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:], strict=False))


def test_report_figures_use_the_plots_alt_text(frailty, tmp_path, monkeypatch):
    from evalkit.plots import its_plot

    monkeypatch.setenv(FIGURE_DIR_ENV, str(tmp_path))
    report = ReportContext(frailty, {})
    its = next(r for a, r in frailty.results if a.design == "its")
    alt = its_plot(its, label="Emergency admissions")[1]
    md = report.figure("fig-its")
    assert md.startswith("![Interrupted time series of emergency admissions")
    assert re.search(r"\{#fig-its fig-alt=\"(.*)\"\}", md).group(1) == alt.replace('"', "'")
    assert report.figure("fig-synth") == ""  # no synthetic control in this scheme
    with pytest.raises(Exception, match="no figure"):
        report.figure("fig-nope")
    assert set(report._DRAW) == set(FIGURE_CAPTIONS)


# --------------------------------------------------------------------------- provenance
def test_render_info_names_the_engine_and_the_time(monkeypatch):
    monkeypatch.setenv("EVALKIT_RENDER_ENGINE", "builtin (pandoc 9, typst 9)")
    info = render_info(datetime(2024, 5, 6, 7, 8, 9))
    assert info == {"engine": "builtin (pandoc 9, typst 9)",
                    "rendered_at": "2024-05-06T07:08:09Z"}
    monkeypatch.delenv("EVALKIT_RENDER_ENGINE")
    for key in [k for k in __import__("os").environ if k.startswith("QUARTO_")]:
        monkeypatch.delenv(key)
    assert render_info()["engine"].startswith("none")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", render_info()["rendered_at"])


def test_render_time_enters_neither_results_json_nor_the_render_key(frailty, monkeypatch):
    before = frailty.results_json()
    params = {"scheme": "frailty-inequalities",
              "spec": str(SYNTHETIC / "frailty-inequalities" / "spec.yaml")}
    key = render_key(ROOT / "reports" / "evidence-summary.qmd", params, ["html"])
    monkeypatch.setenv("EVALKIT_RENDER_ENGINE", "builtin (test)")
    prov = ReportContext(frailty, {}).provenance_markdown()
    assert "Rendered at (UTC)" in prov and "builtin (test)" in prov
    assert "Uncommitted changes (git dirty flag)" in prov
    assert frailty.results_json() == before and "rendered" not in before
    assert "rendered_at" not in str(collect([], {}))
    assert render_key(ROOT / "reports" / "evidence-summary.qmd", params, ["html"]) == key


# --------------------------------------------------------------------------- table widths

def test_auto_widths_give_every_column_its_longest_word():
    from evalkit.report.summary import PAGE_CHARACTERS, auto_widths, pipe_table

    finding = "The scheme probably reduces emergency admissions by an estimated 8%. " * 5
    frame = pd.DataFrame({"Scheme": ["community-resource-team", "virtual-wards"],
                          "Maryland level": ["4", "3"], "Certainty": ["moderate", "very low"],
                          "Finding": [finding, finding[:80]]})
    widths = auto_widths(frame)
    # The bold header's longest word, a fifth wider, plus three characters of padding;
    # hyphenated names may break after a hyphen.
    assert widths["Maryland level"] >= round(len("Maryland") * 1.2 + 3)
    assert widths["Certainty"] >= round(len("Certainty") * 1.2 + 3)
    assert widths["Scheme"] >= len("community-") + 3
    assert widths["Finding"] == max(widths.values())
    assert sum(widths.values()) == pytest.approx(PAGE_CHARACTERS, abs=len(widths))
    # The rule under the header carries the widths as dashes.
    rule = pipe_table(frame, widths).splitlines()[1]
    assert [len(d) - 1 for d in rule.strip("|").split("|")] == [
        max(3, w - 1) for w in widths.values()]


def test_auto_widths_of_a_table_that_fits_are_its_cells_and_blanks_stay_blank():
    from evalkit.report.summary import auto_widths, pipe_table

    frame = pd.DataFrame({"Item": ["a", "bb"], "Value": [None, float("nan")]})
    assert auto_widths(frame) == {"Item": 8, "Value": 9}  # "Item" x 1.2 + 3; "Value" x 1.2 + 3
    assert pipe_table(frame, auto_widths(frame)).splitlines()[2:] == ["| a |  |", "| bb |  |"]


def test_tall_figures_are_shown_narrower_so_that_they_fit_a_page(tmp_path):
    from PIL import Image

    from evalkit.report.figures import MAX_ASPECT, save_figure

    def drawn(w: float, h: float):
        fig = Figure(figsize=(w, h))
        fig.subplots().plot([0, 1], [1, 0])
        return fig, "A line falling from 1 to 0."

    tall = save_figure(drawn(6, 12), label="fig-tall", caption="Tall", folder=tmp_path)
    with Image.open(tall.path) as image:
        aspect = image.size[1] / image.size[0]
    assert aspect > 1.8
    shown = float(tall.width.rstrip("%")) / 100  # of the text width
    assert shown * aspect == pytest.approx(MAX_ASPECT, abs=0.01)  # as tall as fits
    assert f'width="{tall.width}"' in tall.markdown()
    assert save_figure(drawn(7.5, 3.8), label="fig-wide", caption="Wide",
                       folder=tmp_path).width is None
    assert save_figure(drawn(6, 12), label="fig-set", caption="Set", folder=tmp_path,
                       width="50%").width == "50%"  # a width asked for is kept
