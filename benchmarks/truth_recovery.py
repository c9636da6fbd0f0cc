"""Truth recovery on the nine synthetic schemes: each effect against its truth.json value.

Runs every scheme's spec (``evalkit.run_spec``, no rendering), matches each effect record
that has a truth in ``truth.json`` and writes ``docs/truth-recovery.md``: the effect, the
truth, the estimate and its 95% CI, z (the estimate's distance from the truth in standard
errors, from the CI width, on the log scale for ratios), the Maryland level, the certainty
of the scheme's headline for that outcome and whether the selection-at-a-peak diagnostic
fired. Run from the repository root: ``python benchmarks/truth_recovery.py`` (about two
minutes).

Matching: an effect on ``data`` and ``outcome`` is compared with the ``effects`` entry of
truth.json for the same data table and outcome (its ``value``, the effect over the first
12 months; ``effect_at_12`` for an ITS ``effect_at_12``); the economic design's
``resource_cost_change``, ``incremental_cost`` and ``incremental_effect`` with the
``economic`` entry of the same name. Estimands of another kind (slope changes, cumulative
counts, before/after without adjustment, ratios of costs) are left out.

Where a design's units were chosen at a peak, ``run_spec`` runs a variant robust to it (the
selection window left out of the pre-period, :mod:`evalkit.evaluation.robust_variant`); its rows say
``robust`` under ``variant``. The headline is the record :func:`evalkit.rate_certainty`
leads with (the strongest design that suits the data, see docs/design-choice.md); a headline
whose estimand has no truth in truth.json (the staggered difference-in-differences' average
effect over every wave, in rates per 1,000) is listed by name. The acceptance rule: every
headline that misses its truth by more than 2 SE is rated low or very low with a named risk
of bias, or is a robust variant whose CI covers the truth.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.evidence.selection import variant_words

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "data" / "synthetic"
DOC = ROOT / "docs" / "truth-recovery.md"

#: Estimands that estimate the truth.json effect over the first 12 months.
COMPARABLE = {
    "prepost": ("before_after_rtm_adjusted", "before_after"),
    "its": ("level_change", "effect_at_12"),
    "did": ("att_twfe", "rate_ratio", "att"),
    "staggered_did": ("att_simple",),
    "event_study": (),
    "matched": ("att_did", "difference_in_means", "difference_in_proportions"),
    "synthetic_control": ("gap_mean", "att_sdid"),
    "economic": ("resource_cost_change", "incremental_cost", "incremental_effect"),
}


def _truth_for(truth: dict, design: str, data: str, outcome: str, estimand: str,
               scale: str) -> float | None:
    if design == "economic":
        v = truth.get("economic", {}).get(estimand)
        return None if v is None else float(v)
    for e in truth["effects"]:
        if e["data"] == data and e["outcome"] == outcome and e["scale"] == scale:
            if estimand == "effect_at_12" and "effect_at_12" in e:
                return float(e["effect_at_12"])
            return float(e["value"])
    return None


def recovery_table(results: dict[str, list]) -> pd.DataFrame:
    """One row per effect with a truth; ``results`` maps scheme to (analysis, effects)."""
    import evalkit as ek

    rows = []
    for scheme, analyses in results.items():
        truth = json.loads((SYNTHETIC / scheme / "truth.json").read_text())
        effects = pd.concat([e for *_, e in analyses], ignore_index=True)
        finite = effects[np.isfinite(pd.to_numeric(effects["estimate"], errors="coerce"))]
        rated = ek.rate_certainty(finite)
        cert = rated.table.assign(
            variant=[bool(variant_words(d)) for d in rated.records["diagnostics"]]
        ).set_index("outcome")
        for design, data, _, eff in analyses:
            for _, r in eff.iterrows():
                if r["estimand"] not in COMPARABLE.get(design, ()) or \
                        r["diagnostics"].get("batch", False):
                    continue
                if design == "prepost" and r["estimand"] == "before_after" and \
                        "before_after_rtm_adjusted" in set(eff["estimand"]):
                    continue
                d = r["diagnostics"]
                t = _truth_for(truth, design, data, r["outcome"], r["estimand"],
                               r["scale"])
                if t is None or not np.isfinite(r["ci_low"]):
                    continue
                ratio = r["scale"] == "ratio"
                f = np.log if ratio else (lambda v: v)
                se = (f(r["ci_high"]) - f(r["ci_low"])) / (2 * 1.959964)
                z = (f(r["estimate"]) - f(t)) / se if se > 0 else np.nan
                head = cert.loc[r["outcome"]] if r["outcome"] in cert.index else None
                robust = bool(variant_words(d))
                is_head = head is not None and head["design"] == design and \
                    head["estimand"] == r["estimand"] and head["variant"] == robust
                sel = d.get("selection_at_peak")
                rows.append({
                    "scheme": scheme, "design": design, "data": data,
                    "outcome": r["outcome"], "estimand": r["estimand"],
                    "truth": t, "estimate": float(r["estimate"]),
                    "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
                    "z": float(z), "covers": bool(r["ci_low"] <= t <= r["ci_high"]),
                    "level": int(r["evidence_level"]),
                    "headline": bool(is_head),
                    "certainty": head["certainty"] if is_head else "",
                    "downgrades": ", ".join(head["downgrades"]) if is_head else "",
                    "selection": "" if sel is None else ("fired" if sel else "no"),
                    "declared": "yes" if d.get("selection_declared") else "",
                    "variant": "robust" if robust else "",
                    "e_value_ci": d.get("e_value_ci"),
                })
    return pd.DataFrame(rows)


def untested_headlines(results: dict[str, list], table: pd.DataFrame) -> list[str]:
    """Headlines (scheme, outcome) with a truth for some effect but none for the headline."""
    import evalkit as ek

    out = []
    for scheme, analyses in results.items():
        effects = pd.concat([e for *_, e in analyses], ignore_index=True)
        finite = effects[np.isfinite(pd.to_numeric(effects["estimate"], errors="coerce"))]
        rated = ek.rate_certainty(finite).table
        mine = table[table["scheme"] == scheme]
        for r in rated.itertuples():
            has_truth = (mine["outcome"] == r.outcome).any()
            if has_truth and not mine.loc[mine["outcome"] == r.outcome, "headline"].any():
                out.append(f"{scheme} {r.outcome} {r.design} {r.estimand} ({r.certainty})")
    return out


def run(schemes: list[str] | None = None) -> dict[str, list]:
    """Run the schemes' specs; return scheme -> [(design, data, outcome, effects)]."""
    import evalkit as ek

    out = {}
    for spec in sorted(SYNTHETIC.glob("*/spec.yaml")):
        if schemes and spec.parent.name not in schemes:
            continue
        ev = ek.run_spec(spec)
        out[spec.parent.name] = [(a.design, a.data, a.outcome, r.effects)
                                 for a, r in ev.results]
    return out


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def failing_headlines(table: pd.DataFrame) -> pd.DataFrame:
    """Headlines that break the acceptance rule: |z| > 2, and neither rated low or very low
    with a named risk of bias nor a robust variant whose CI covers the truth."""
    heads = table[table["headline"]]
    miss = heads["z"].abs() > 2
    rated_down = heads["certainty"].isin(["low", "very low"]) & \
        heads["downgrades"].str.contains("risk of bias")
    robust_covers = (heads["variant"] == "robust") & heads["covers"]
    return heads[miss & ~rated_down & ~robust_covers]


def write(table: pd.DataFrame, untested: list[str] | None = None) -> str:
    """Write docs/truth-recovery.md and return its text."""
    import evalkit as ek
    lvl2 = table[table["level"] >= 2]
    misses = lvl2[lvl2["z"].abs() > 2]
    spec2 = lvl2[lvl2["variant"] == ""]
    heads = table[table["headline"]]
    bad = failing_headlines(table)
    untested = untested or []
    show = table.assign(
        effect=table["design"] + " " + table["estimand"] + " (" + table["data"] + ")",
        truth=table["truth"].map(_fmt), estimate=table["estimate"].map(_fmt),
        ci=table["ci_low"].map(_fmt) + " to " + table["ci_high"].map(_fmt),
        z=table["z"].map(lambda v: f"{v:+.1f}"),
        headline=table["headline"].map({True: "yes", False: ""}),
        variant=table["variant"], e_value_ci=table["e_value_ci"].map(
            lambda v: "" if v is None or not np.isfinite(float(v)) else f"{float(v):.2f}"))
    cols = ["scheme", "outcome", "effect", "variant", "truth", "estimate", "ci", "z", "level",
            "headline", "certainty", "downgrades", "selection", "declared", "e_value_ci"]
    text = (
        "# Truth recovery on the synthetic schemes\n\n"
        "Written by `benchmarks/truth_recovery.py`, which runs each scheme's spec in "
        "`data/synthetic/` and compares every effect that has a truth in its `truth.json` "
        "(see the script's docstring for the matching). z is the estimate's distance from "
        "the truth in standard errors (from the 95% CI, on the log scale for ratios). "
        "`certainty` is the GRADE-style rating of the scheme's headline for that outcome "
        "(`evalkit.rate_certainty`), shown on the headline row; `selection` is the "
        "selection-at-a-peak diagnostic (`evalkit.evidence.selection`): fired, no, or blank "
        "where the design does not compute it; `declared`: the spec says the scheme chose "
        "its units for high values; `variant`: `robust` for the variant of a design run "
        "with the selection window left out of the pre-period; `e_value_ci` is the E-value "
        "of the CI limit nearest no effect, for matched comparisons. The headline is the "
        "record the certainty rating leads with (docs/design-choice.md).\n\n"
        f"- Effects at Maryland level 2 or higher: {len(lvl2)}; their 95% CI covers the "
        f"truth for {int(lvl2['covers'].sum())}; |z| > 2 for {len(misses)}. As specified "
        f"(without the robust variants): {len(spec2)}, covering {int(spec2['covers'].sum())}"
        f"; |z| > 2 for {int((spec2['z'].abs() > 2).sum())}. The robust variants: "
        f"{len(lvl2) - len(spec2)}, covering {int(lvl2['covers'].sum() - spec2['covers'].sum())}"
        ".\n"
        f"- Headline effects with a truth: {len(heads)}; their 95% CI covers the truth for "
        f"{int(heads['covers'].sum())}; |z| > 2 for {int((heads['z'].abs() > 2).sum())}, of "
        "which rated low or very low with a named risk of bias, or a robust variant whose "
        f"CI covers the truth: {int((heads['z'].abs() > 2).sum()) - len(bad)}; neither "
        f"(acceptance fails): {len(bad)}"
        + ("" if bad.empty else " (" + "; ".join(
            f"{r.scheme} {r.outcome} {r.design} {r.estimand}" for r in bad.itertuples())
           + ")") + ".\n"
        + (f"- Headlines whose estimand has no truth in truth.json: {len(untested)} ("
           + "; ".join(untested) + ").\n" if untested else "") + "\n"
        + "## Headline effects that miss the truth by more than 2 SE\n\n"
        + show.loc[heads.index[heads["z"].abs() > 2], cols].to_markdown(
            index=False, disable_numparse=[cols.index("z")])
        + "\n\n## Every effect with a truth\n\n"
        # z is text ("+1.0"): kept as written, signs included
        + show[cols].to_markdown(index=False, disable_numparse=[cols.index("z")]) + "\n\n"
        + f"_Run on {date.today().isoformat()} with evalkit {ek.__version__}._\n")
    DOC.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    import pickle

    if len(sys.argv) > 1 and sys.argv[1].endswith(".pkl"):
        results = pickle.loads(Path(sys.argv[1]).read_bytes())
    else:
        results = run(sys.argv[1:] or None)
    table = recovery_table(results)
    print(write(table, untested_headlines(results, table)))
