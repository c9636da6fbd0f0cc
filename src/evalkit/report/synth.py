"""The synthetic control's weights in a report: donor weights (W) beside predictor weights (V).

A synthetic control's donor weights depend on the predictor weights ``V``, and ``V`` is
often far from unique: many ``V`` fit the pre-period about equally well and pick different
donors. So the report shows ``V`` beside ``W``, says how ``V`` was chosen, says when one
predictor carries most of it, and, when a second way of choosing ``V`` moves the weights
materially, shows that alternative too and says plainly that the answer is not unique in
``V`` (:func:`evalkit.designs.synthetic_control._check_v` makes the comparison).
"""

from __future__ import annotations

import pandas as pd

from evalkit.evidence.narrative import (
    describe_effect,
    format_sig,
    p_text,
)
from evalkit.report.markdown_text import md_text
from evalkit.report.summary import md_table

__all__ = ["v_sentences", "weights_table"]

_ZERO = 1e-3



def predictor_words(predictor: str) -> str:
    """A predictor's name with its variable in words (``"emergency_admissions_rate (mean,
    2015-04 to 2016-03)"`` -> ``"Emergency admissions rate (mean, 2015-04 to 2016-03)"``)."""
    import re

    from evalkit.naming import column_label

    return re.sub(r"^[A-Za-z][A-Za-z0-9_]*", lambda m: column_label(m.group()), predictor)

def _search_text(search: str) -> str:
    return {"multistart": "the default search (several starting points)",
            "nelder-mead": "Synth's Nelder-Mead search"}.get(search, f"the {search} search")


def v_sentences(diag: dict, outcome: str) -> list[str]:
    """Plain sentences on how V was chosen, whether one predictor dominates it, and
    whether the donor weights depend on it. ``outcome`` is already markdown-safe."""
    if "v" not in diag:
        if diag.get("method") in ("classic", "augmented"):
            return ["Every pre-start value of the outcome is matched, each with the same "
                    "weight."]
        return []
    out = []
    search = diag.get("v_search")
    if search == "cross-validation":
        train = diag.get("training_predictors") or []
        val = diag.get("validation_window") or ["", ""]
        out.append(f"The predictor weights (V) were chosen by cross-validation (Abadie, "
                   f"Diamond and Hainmueller, 2015): fitted on the predictors measured "
                   f"earlier ({md_text('; '.join(train))}) to forecast {outcome} from "
                   f"{md_text(val[0])} to {md_text(val[1])}, then used with the predictors "
                   f"shown.")
    elif search == "fixed":
        out.append("The predictor weights (V) were given in the analysis's options.")
    else:
        out.append(f"The predictor weights (V) were chosen by {_search_text(search)} to make "
                   f"the synthetic control track {outcome} before the start.")
    top = diag.get("v_dominant_predictor")
    if top:
        out.append(f"One predictor, {md_text(predictor_words(top))}, carries "
                   f"{diag['v_max_share']:.0%} of V, "
                   "so the comparison units were chosen mainly to match it.")
    alt = diag.get("v_alternative")
    if alt:
        if diag.get("weights_depend_on_v"):
            names = ", ".join(f"{md_text(u)} {w:.2f}" for u, w in alt["top_weights"][:4])
            out.append(f"The answer is not unique in V: choosing V by "
                       f"{_search_text(alt['search'])} instead moves "
                       f"{alt['weight_shift']:.0%} of the weight to other units ({names}), "
                       f"with a pre-start prediction error of {alt['pre_rmspe']:.3g} against "
                       f"{diag['pre_rmspe']:.3g}; the table shows both.")
        else:
            out.append(f"Choosing V by {_search_text(alt['search'])} instead moves only "
                       f"{alt['weight_shift']:.0%} of the weight between units, so the "
                       "comparison does not hinge on how V is chosen.")
    return out


def weights_table(frames: dict, diag: dict) -> pd.DataFrame:
    """Donor weights (W) beside predictor weights (V), as text cells.

    Donors with weight above 0.001 (in either fit, when the alternative is shown), at
    most ten, largest first; every predictor. The alternative's columns appear only when
    its weights differ materially (``weights_depend_on_v``).
    """
    weights = frames["weights"]
    both = bool(diag.get("weights_depend_on_v")) and "weight_alternative" in weights
    keep = weights["weight"].abs() > _ZERO
    if both:
        keep |= weights["weight_alternative"].abs() > _ZERO
    shown = weights[keep].head(10)
    alt = ({"multistart": "default search", "nelder-mead": "Nelder-Mead"}
           .get(diag["v_alternative"]["search"], diag["v_alternative"]["search"])
           if both else "")
    cols: dict[str, list[str]] = {
        "Comparison unit": shown["unit"].astype(str).tolist(),
        "Weight (W)": [f"{w:.3f}" for w in shown["weight"]]}
    if both:
        # the alternative is a classic fit; augmented weights carry a ridge correction
        kind = " (classic)" if diag.get("method") == "augmented" else ""
        cols[f"W with {alt}{kind}"] = [f"{w:.3f}" for w in shown["weight_alternative"]]
    preds = frames.get("predictors")
    if preds is not None and "v" in diag:
        cols["Predictor"] = [predictor_words(p) for p in preds["predictor"].astype(str)]
        cols["Weight in V"] = [f"{x:.3f}" for x in preds["v"]]
        if both:
            cols[f"V with {alt}"] = [f"{x:.3f}" for x in preds["v_alternative"]]
    n = max(len(c) for c in cols.values())
    return pd.DataFrame({k: c + [""] * (n - len(c)) for k, c in cols.items()})


class SynthSection:
    """The synthetic control part of :class:`~evalkit.report.context.ReportContext` (a mixin: it
    reads the context's ``evaluation``, ``spec``, ``counts`` and helpers)."""

    def _draw_synth(self):
        from evalkit.plots import synth_path_plot

        analysis, res = self._first("synthetic_control")
        if analysis is None:
            return None
        return synth_path_plot(res, label=self.label(analysis.outcome))

    def synth_figure(self):
        """Treated against synthetic (the first synthetic-control analysis), or None."""
        return self._output(self._draw_synth())

    def _draw_synth_gaps(self):
        from evalkit.plots import synth_gap_plot

        analysis, res = self._first("synthetic_control")
        if analysis is None or "placebos" not in res.frames:
            return None
        return synth_gap_plot(res, label=self.label(analysis.outcome))

    def synth_gap_figure(self):
        """The treated gap among the placebo gaps, or None without placebos."""
        return self._output(self._draw_synth_gaps())

    def synth_markdown(self) -> str:
        """What the synthetic control shows, its checks, and the weights table."""
        analysis, res = self._first("synthetic_control")
        if analysis is None:
            return ""
        d = res.diagnostics
        rec = res.effects.iloc[0]
        label = self.label(analysis.outcome)
        treated = md_text(d["treated_unit"])
        parts = [f"@fig-synth compares {md_text(label.lower())} in {treated} with its "
                 f"synthetic control, a weighted average of {d['n_nonzero_weights']} of the "
                 f"{d['n_donors']} other units chosen to match it before the start "
                 f"(@tbl-synth-weights). {md_text(describe_effect(rec, label=label))}"]
        if d.get("rank") is not None:
            parts.append(f"@fig-synth-gaps sets this gap among the placebo gaps obtained by "
                         f"treating each other unit as if it had adopted the scheme: "
                         f"{treated} ranks {d['rank']} of {d['n_placebos'] + 1} on "
                         f"the ratio of post- to pre-start prediction error (placebo "
                         f"{p_text(d['p_value'])}).")
        if d.get("loo_gap_mean_range"):
            lo, hi = d["loo_gap_mean_range"]
            parts.append(f"Leaving out each donor with weight in turn gives average gaps from "
                         f"{format_sig(lo)} to {format_sig(hi)}.")
        fit = ("The pre-start fit is good" if d.get("fit_ok") else
               "The pre-start fit is poor, so the evidence level is held at 3")
        parts.append(f"{fit} (prediction error {d['pre_rmspe']:.3g}, "
                     f"{d['pre_rmspe_relative']:.1%} of the pre-start mean).")
        parts += v_sentences(d, md_text(label.lower()))
        table = weights_table(res.frames, d)
        v_part = (", beside the predictors and their weights in V"
                  if "Weight in V" in table else "")
        return (" ".join(parts) + "\n\n" + md_table(table)
                + f"\n\n: Units making up the synthetic control of {treated}, with "
                  f"their weights (units with weight above 0.001){v_part} "
                  "{#tbl-synth-weights}\n")
