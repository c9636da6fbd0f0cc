"""Hostile input: small counts planted in a scheme never reach any output, nor anything
from which they can be recomputed (issue 21, "disclosure control covers everything
derived from a count").

A copy of the synthetic ``federation-mdt`` scheme gets distinctive small counts:

- MDT: a profession ("link worker") invited to 83 meetings that attended 6
  (7.2%, Wilson 95% interval 3% to 15%): the lowest attendance of any profession;
- staff survey: 61 respondents in each wave, of whom 3 agreed that the scheme helps
  patients before it started (4.9%: "5%" at 0 decimals pins 3 of 61);
- referrals: 5 referrals across the scheme's units in its first month (a u-chart
  point), and the units with 1 to 7 referrals in their first year (funnel points);
- events and costs: a before/after record with 5 baseline events and an economic
  record with 6 enrolled patients (results files).

Then ``evalkit run`` and one render (HTML, DOCX, PDF) are searched, every text of every
output, for the planted counts where they are the count and for any share from which
they can be recomputed within rounding. Unit tests pin the mechanism
(:mod:`evalkit.evidence.disclosure`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEME = "federation-mdt"

# What must appear nowhere: (name, pattern). Shares of the planted counts at every
# precision that pins the count (a proportion to 3 or more decimals, a percentage to 1
# or more; to 0 decimals, "7%" and "5%" are everywhere, so they are searched beside the
# profession or statement they belong to), as whole numbers: not part of a longer number
# and not signed (a signed percentage is an effect, not a share).


def _near(pattern: str, context: str | None) -> str:
    """``pattern`` within 150 characters of ``context`` (either side), or anywhere."""
    if context is None:
        return pattern
    return rf"(?:{context})[\s\S]{{0,150}}{pattern}|{pattern}[\s\S]{{0,150}}(?:{context})"


def _shares(k: int, n: int, context: str | None = None) -> list[tuple[str, str]]:
    """Every rounding of k / n that pins k, as (text, pattern of a whole unsigned number);
    and the unrounded value (as ``results.json`` or a figure's data would hold it).

    A rounding to two significant digits (0.072, 7.2%) also pins k, but a report holds
    hundreds of numbers and one of them can read 0.072 by chance (an interval's bound),
    so those are looked for near ``context`` (the words that say what the share is of);
    longer roundings are looked for everywhere."""
    p = k / n
    texts = {f"{round(100 * p, d):.{d}f}%" for d in range(1, 7)}
    texts |= {f"{round(p, d):.{d}f}" for d in range(3, 9)}

    def pattern(t: str) -> str:
        pat = (rf"(?<![-+\u2212\d.]){re.escape(t[:-1])}\s?%" if t.endswith("%") else
               rf"(?<![-+\u2212\d.]){re.escape(t)}(?!\d)")
        digits = len(t.rstrip("%").replace(".", "").lstrip("0"))
        return _near(pat, context if digits <= 2 else None)

    out = [(t, pattern(t)) for t in sorted(texts)]
    for full in (f"{p:.16g}", f"{100 * p:.16g}"):
        out.append((full[:9] + "...", rf"(?<![-+\u2212\d.]){re.escape(full[:9])}\d*"))
    return out


#: What must appear nowhere, by planted count: (what, pattern).
FORBIDDEN = {
    "MDT attendance 6 of 83": [
        *[(f"6 of 83 as {text}", pat) for text, pat in
          _shares(6, 83, context=r"link workers?|attend")],
        ("7% next to the profession", r"link workers?\W{1,4}(?:\d+\W{1,3})?7\s?%"),
        ("its Wilson interval, 3% to 15%", r"(?<![-+\d.])3\s?% to 15\s?%"),
        ("the count 6 beside the 83 invitations", r"link workers?\W{1,4}83\W{1,4}6\b"),
    ],
    "survey agreement 3 of 61": [
        *[(f"3 of 61 as {text}", pat) for text, pat in
          _shares(3, 61, context=r"helps[ _]patients|agree")],
        ("5% next to its statement", r"helps[ _]patients\W{1,4}5\s?%"),
        ("5% before in the alt text", r"helps patients 5\s?% before"),
    ],
}


def _plant(root: Path) -> Path:
    """Copy the scheme into ``root`` and plant the small counts (see the module notes)."""
    src = ROOT / "data" / "synthetic" / SCHEME
    dst = root / SCHEME
    shutil.copytree(src, dst)
    shutil.copy(src.parent / "schemes.csv", root / "schemes.csv")
    mdt = pd.read_csv(dst / "mdt.csv", dtype=str)
    extra = mdt[mdt["profession"] == "GP"].head(83).copy()
    extra["profession"] = "link worker"
    extra["invited"] = "1"
    extra["attended"] = ["1"] * 6 + ["0"] * 77
    pd.concat([mdt, extra]).to_csv(dst / "mdt.csv", index=False)
    sv = pd.read_csv(dst / "survey.csv", dtype=str)
    keep = pd.concat([sv.loc[sv["wave"] == w, "respondent"].drop_duplicates().head(61)
                      for w in ("before", "after")])
    sv = sv[sv["respondent"].isin(keep)].copy()
    sel = (sv["wave"] == "before") & (sv["item"] == "helps_patients")
    sv.loc[sel, "response"] = ["4"] * 3 + ["1"] * 20 + ["2"] * 20 + ["3"] * 18
    sv.to_csv(dst / "survey.csv", index=False)
    ref = pd.read_csv(dst / "referrals.csv", dtype={"referrals": int})
    first = ref["month"] == ref["month"].min()
    counts = np.zeros(int(first.sum()), dtype=int)
    counts[:5] = 1  # 5 referrals across the scheme's units in the first month
    ref.loc[first, "referrals"] = counts
    ref.to_csv(dst / "referrals.csv", index=False)
    return dst


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    if env.get("PYTHONPATH"):  # the report's kernel runs in another folder
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve())
                                            for p in env["PYTHONPATH"].split(os.pathsep) if p)
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1800)


def _text(path: Path) -> str:
    """Every text of one output file: visible text, attributes (alt texts) and data."""
    if path.suffix == ".pdf":
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                              text=True, check=True).stdout
    if path.suffix == ".docx":
        parts = []
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith((".xml", ".rels")):
                    xml = z.read(name).decode("utf-8", "replace")
                    parts.append(" ".join(re.findall(r'(?:descr|title)="([^"]*)"', xml)))
                    parts.append(re.sub(r"<[^>]+>", " ", xml))
        return unescape("\n".join(parts))
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix in (".html", ".svg"):
        attrs = " ".join(re.findall(r'(?:alt|title|aria-label)="([^"]*)"', raw))
        raw = re.sub(r"<script.*?</script>|<style.*?</style>", " ", raw, flags=re.S)
        return unescape(attrs + "\n" + re.sub(r"<[^>]+>", " ", raw))
    return raw


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u202f", " "))


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    """The planted scheme, ``evalkit run`` on it and one render in three formats."""
    base = tmp_path_factory.mktemp("disclose")
    data = base / "data"
    folder = _plant(data)
    run = _cli("run", str(folder / "spec.yaml"), "--out", str(base / "run"), cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    rep = _cli("report", str(ROOT / "reports" / "evidence-summary.qmd"), "--scheme", SCHEME,
               "--to", "html,docx,pdf", "--data-root", str(data), "--out",
               str(base / "report"), "--jobs", "1", "--force", cwd=ROOT)
    assert rep.returncode == 0, (rep.stdout + rep.stderr)[-3000:]
    outputs = {}
    for path in sorted((base / "run").rglob("*")) + sorted((base / "report").rglob("*")):
        if path.is_file() and path.suffix in (".json", ".csv", ".html", ".docx", ".pdf",
                                              ".md", ".log"):
            outputs[str(path.relative_to(base))] = _normalise(_text(path))
    return {"base": base, "folder": folder, "outputs": outputs}


@pytest.mark.parametrize("planted_count", list(FORBIDDEN))
def test_no_output_gives_a_planted_count_away(planted, planted_count):
    """No output (results files, alt texts, HTML, DOCX, PDF) shows a planted small count,
    or a share it can be recomputed from."""
    names = " ".join(planted["outputs"])
    for part in ("results.json", "results.csv", "alt-text.json", ".html", ".docx", ".pdf"):
        assert part in names, f"no {part} among the outputs searched: {names}"
    hits = [(what, name, m.group(0)) for what, pattern in FORBIDDEN[planted_count]
            for name, text in planted["outputs"].items()
            if (m := re.search(pattern, text, flags=re.I))]
    assert not hits, f"{planted_count} given away: {hits}"


def test_report_says_lowest_profession_without_its_share(planted):
    """The engagement headline names the lowest-attending profession, without its rate."""
    html = next(t for n, t in planted["outputs"].items() if n.endswith(".html"))
    assert re.search(r"lowest for link workers \(its share is not shown", html), \
        re.findall(r"lowest for .{0,60}", html)


def test_mdt_total_cannot_give_the_hidden_profession_away(planted):
    """The overall attendance is published, so a second profession is hidden too."""
    html = next(t for n, t in planted["outputs"].items() if n.endswith(".html"))
    rows = re.findall(r"(GP|mental health worker|pharmacist|practice nurse|social worker|"
                      r"link worker) ([\d,*]+) ([\d,*]+) (\S+)", html)
    attended = {p: a for p, _, a, _ in rows}
    assert attended.get("link worker") == "*"
    assert sum(v == "*" for v in attended.values()) >= 2, attended


# --------------------------------------------------------------------------- API level


@pytest.fixture(scope="module")
def evaluation(planted):
    from evalkit.evaluation.pipeline import run_spec

    return run_spec(planted["folder"] / "spec.yaml")


def _drawn_points(fig) -> np.ndarray:
    """Every (x, y) a figure draws as points or line vertices."""
    pts = []
    for ax in fig.axes:
        for coll in ax.collections:
            off = np.asarray(coll.get_offsets(), dtype=float)
            if off.size:
                pts.append(off.reshape(-1, 2))
        for line in ax.get_lines():
            x = np.asarray(line.get_xdata(), dtype=float) if not np.issubdtype(
                np.asarray(line.get_xdata()).dtype, np.datetime64) else None
            if x is not None and len(x):
                pts.append(np.column_stack([x, np.asarray(line.get_ydata(), dtype=float)]))
    return np.vstack(pts) if pts else np.empty((0, 2))


def test_funnel_draws_no_unit_with_a_small_count(evaluation):
    """A funnel point (rate against patient-years) gives the unit's count away: units
    with 1 to 7 referrals in their first year are not drawn."""
    from evalkit.plots.funnel import funnel_plot

    prof = evaluation.engagement
    units = prof.funnel.units
    bu = prof.indices.frames["by_unit"].set_index(prof.unit)
    small = units["unit"].map(bu["referrals"]).between(1, 7).to_numpy()
    assert small.any(), "the scheme has no unit with a small count to test"
    fig, alt = funnel_plot(prof.funnel, label="referrals")
    drawn = _drawn_points(fig)
    for x, y in units.loc[small, ["denominator", "value"]].to_numpy(float):
        near = np.isclose(drawn[:, 0], x, rtol=1e-9) & np.isclose(drawn[:, 1], y, rtol=1e-9)
        assert not near.any(), f"a unit with a small count is drawn at ({x}, {y})"
    assert "not drawn" in alt


def test_referral_spc_hides_a_month_with_a_small_numerator(evaluation):
    """The u-chart point of the month with 5 referrals, and its own limits, are not drawn."""
    from evalkit.plots.spc import spc_plot

    chart = evaluation.engagement.referral_spc
    pts = chart.points
    first = pts.iloc[0]
    assert first["numerator"] == 5
    fig, alt = spc_plot(chart, label="referrals")
    ys = np.concatenate([np.asarray(line.get_ydata(), dtype=float)
                         for ax in fig.axes for line in ax.get_lines()
                         if len(line.get_ydata()) == len(pts)])
    for col in ("value", "upper", "lower"):
        assert not np.isclose(ys, float(first[col]), rtol=1e-12).any(), col
    offsets = np.concatenate([np.asarray(c.get_offsets(), dtype=float)[:, 1]
                              for ax in fig.axes for c in ax.collections])
    assert not np.isclose(offsets, float(first["value"]), rtol=1e-12).any()
    assert "not shown: small numbers" in alt
    # the phase's mean (the average of its points) would give the hidden point back
    assert "mean and limits not shown" in alt
    assert pts.loc[pts["phase"] == first["phase"], "mean"].isna().all()


def test_likert_figure_does_not_draw_a_group_with_a_small_count(evaluation):
    """The bars of a survey group with a small count are not drawn (their widths are the
    shares), and its labels are not written."""
    from evalkit.plots.engagement import likert_plot

    fig, alt = likert_plot(evaluation.engagement.survey)
    widths = np.array([p.get_width() for ax in fig.axes for p in ax.patches])
    assert not np.isclose(widths, 3 / 61).any()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "not shown: small numbers" in texts
    assert "helps patients * before" in alt


def test_results_files_hide_small_event_and_patient_counts(evaluation, tmp_path):
    """results.json and results.csv publish no small count of events or of people."""
    for analysis, res in evaluation.results:
        d = res.effects.at[0, "diagnostics"]
        if analysis.design == "prepost":
            d["baseline_events"] = 5
        if analysis.design == "economic":
            d["n_enrolled"] = 6
            d["patients_served"] = 6
    out = evaluation.write(tmp_path / "out")
    doc = json.loads((out / "results.json").read_text())
    for rec in doc["effects"]:
        d = rec["diagnostics"]
        if rec["design"] == "prepost" and "baseline_events" in d:
            assert d["baseline_events"] != 5
        if rec["design"] == "economic":
            assert d.get("n_enrolled") != 6 and d.get("patients_served") != 6
    csv = (out / "results.csv").read_text()
    assert '""baseline_events"": 5,' not in csv and '""n_enrolled"": 6,' not in csv
    assert '""patients_served"": 6' not in csv


# --------------------------------------------------------------------------- mechanism


def test_small_counts_and_share_hidden():
    """A share is hidden when its numerator or the rest of its denominator is small."""
    from evalkit.evidence.disclosure import DisclosureRules, share_hidden, small_counts

    assert small_counts([0, 1, 7, 8]).tolist() == [False, True, True, False]
    assert share_hidden([3, 58, 30, 0, 61], [61] * 5).tolist() == [True, True, False,
                                                                    False, False]
    rules = DisclosureRules(low=1, high=5)
    assert share_hidden([6, 3], [61, 61], rules).tolist() == [False, True]


def test_show_share_is_the_symbol_when_hidden():
    """The one formatter of shares writes the rules' symbol for a hidden share."""
    from evalkit.evidence.disclosure import DisclosureRules, show_share

    assert show_share(3 / 61, True) == "*"
    assert show_share(3 / 61, False, "{:.1%}") == "4.9%"
    assert show_share(0.5, True, rules=DisclosureRules(symbol="[c]")) == "[c]"


def test_proportions_protect_the_hidden_part_from_the_total():
    """With the overall share published, one hidden part would be total minus the rest:
    a second part is hidden, and no hidden numerator is determined."""
    from evalkit.evidence.disclosure import proportions

    res = proportions([6, 936, 1095], [83, 1350, 1350], ["link", "GP", "nurse"])
    hidden = res.suppressed["numerator"]
    assert hidden["link"] and hidden.iloc[:-1].sum() >= 2
    assert not hidden.iloc[-1]  # the total can be published
    assert res.audited


def test_proportions_hide_a_share_whose_rest_is_small():
    """58 of 61 says that 3 did not: hidden."""
    from evalkit.evidence.disclosure import proportions

    res = proportions([58, 500, 400], [61, 900, 800], ["a", "b", "c"])
    assert res.suppressed.loc["a", "numerator"]


def test_engagement_headline_withholds_a_hidden_lowest_rate():
    """MDT attendance 5 of 20 is hidden in the table, so the headline does not say 25%."""
    from evalkit.engagement import engagement

    ref = pd.DataFrame({"practice": ["A", "B"] * 3, "month": ["2020-01"] * 2
                        + ["2020-02"] * 2 + ["2020-03"] * 2, "referrals": [10, 12] * 3})
    sizes = pd.DataFrame({"practice": ["A", "B"], "list_size": [8000, 9000]})
    mdt = pd.DataFrame({"practice": ["A", "A", "B", "B"], "month": "2020-01",
                        "profession": ["social worker", "GP", "social worker", "GP"],
                        "invited": [10, 200, 10, 200], "attended": [2, 150, 3, 160]})
    res = engagement(ref, sizes=sizes, mdt=mdt, window=3)
    text = res.headline()
    assert "25%" not in text and "lowest for social workers (its share is not shown" in text
    rec = res.effects.set_index("estimand").loc["attendance_rate"]
    assert np.isfinite(rec["estimate"])  # the total is safe: the GP cell is hidden too
    assert res.frames["mdt"]["hidden"].sum() == 2


def test_engagement_record_withholds_an_overall_share_from_a_small_count():
    """An overall care-plan completion of 5 of 40 is withheld from the effect records."""
    from evalkit.engagement import engagement

    ref = pd.DataFrame({"practice": ["A", "B"], "month": "2020-01", "referrals": [10, 12]})
    sizes = pd.DataFrame({"practice": ["A", "B"], "list_size": [8000, 9000]})
    plans = pd.DataFrame({"practice": ["A", "B"], "month": "2020-01", "eligible": [20, 20],
                          "completed": [2, 3]})
    res = engagement(ref, sizes=sizes, care_plans=plans, window=1)
    rec = res.effects.set_index("estimand").loc["completion_share"]
    assert np.isnan(rec["estimate"]) and rec["diagnostics"]["suppressed"]


def test_likert_summary_marks_hidden_shares():
    """3 of 61 agreeing is hidden; a group with a small level is not drawn."""
    from evalkit.engagement import likert_summary

    sv = pd.DataFrame({"item": "aims", "wave": ["before"] * 61 + ["after"] * 61,
                       "response": [4] * 3 + [1] * 20 + [2] * 20 + [3] * 18
                       + [1] * 12 + [2] * 12 + [3] * 12 + [4] * 12 + [5] * 13})
    a = likert_summary(sv).agreement.set_index("wave")
    assert a.loc["before", "hidden"] and a.loc["before", "levels_hidden"]
    assert not a.loc["after", "hidden"] and not a.loc["after", "levels_hidden"]


def test_published_effects_hide_small_counts_of_people_and_events_only():
    """Event counts are always controlled; people counts only for people analyses."""
    from evalkit.evidence.published import published_effects

    e = pd.DataFrame({"n_units": [5, 5], "diagnostics": [
        {"baseline_events": 3, "n_enrolled": 6}, {"baseline_events": 300, "n_enrolled": 6}]})
    out = published_effects(e, [True, False])
    d0, d1 = out["diagnostics"]
    assert d0["baseline_events"] is None and d0["n_enrolled"] is None
    assert set(d0["suppressed"]) == {"baseline_events", "n_enrolled", "n_units"}
    assert d1 == {"baseline_events": 300, "n_enrolled": 6}
    assert pd.isna(out["n_units"].iloc[0]) and out["n_units"].iloc[1] == 5


def test_spc_published_blanks_hidden_points_and_their_limits():
    """A hidden u-chart point loses its value and its own limits; other points keep them."""
    from evalkit.plots.spc import published

    pts = pd.DataFrame({"value": [1.0, 2.0], "upper": [3.0, 3.5], "lower": [0.1, 0.2],
                        "mean": [1.5, 1.5], "variation": ["common_cause"] * 2,
                        "hidden": [True, False]})
    out = published(pts, "u")
    assert out[["value", "upper", "lower"]].iloc[0].isna().all()
    assert out.loc[1, "value"] == 2.0 and out.loc[0, "mean"] == 1.5
