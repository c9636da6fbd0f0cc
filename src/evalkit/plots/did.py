"""Difference-in-differences figures: event study, cohort trajectories, Bacon decomposition.

Each function draws a result's stored numbers (``plot_data()`` frames and effect
records); nothing is re-estimated.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from evalkit.data.periods import parse_periods
from evalkit.evidence.narrative import format_effect, format_number, format_sig
from evalkit.plots.axes import calendar_ticks
from evalkit.plots.palette import ANALYSIS_FUNCTION, NHS_LIGHT_BLUE, NHS_MID_GREY, apply_style
from evalkit.results import DesignResult

__all__ = ["event_study_plot", "cohort_trajectories_plot", "bacon_plot"]

GREY = ANALYSIS_FUNCTION[4]
#: Cohort styles: colour, marker and line style all differ, so no cohort is told by colour
#: alone. Grey (the palette's fifth colour) is kept for reference lines.
COHORT_COLOURS = tuple(c for c in ANALYSIS_FUNCTION if c != GREY)
COHORT_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
COHORT_LINESTYLES = ("-", "--", "-.", ":")
#: Above this many cohorts the trajectories are drawn as small multiples.
MAX_COHORTS_ONE_PANEL = 4
#: ... and so are cohorts followed for more than this many periods.
MAX_PERIODS_ONE_PANEL = 40

#: Bacon comparison types: colour, marker and legend label.
BACON_STYLES = {
    "earlier vs later treated": (ANALYSIS_FUNCTION[0], "o", "earlier vs later treated"),
    "later vs earlier treated": (ANALYSIS_FUNCTION[3], "^",
                                 "later vs earlier treated\n(already-treated controls)"),
    "treated vs never treated": (ANALYSIS_FUNCTION[1], "s", "treated vs never treated"),
}


def _check(result, designs: tuple[str, ...], plot: str) -> None:
    """Raise ValueError unless ``result`` is a DesignResult of one of ``designs``."""
    if isinstance(result, DesignResult):
        if result.design in designs:
            return
        got = f"a {result.design!r} result"
    else:
        got = f"a {type(result).__name__}"
    wanted = " or ".join(f"{d!r}" for d in designs)
    raise ValueError(f"{plot} needs a result of {wanted}, not {got}")


def _names(result: DesignResult, label: str | None) -> tuple[str, str, str]:
    """The outcome's display name, its y-axis label and its name in alt text (with rate)."""
    outcome = str(result.effects["outcome"].iloc[0])
    label = label or outcome.replace("_", " ")
    per = result.diagnostics.get("rate_per")
    if per:
        return label, f"{label}\nper {per:,.0f}", f"{label} per {per:,.0f}"
    return label, label, label


def _level(conf_level) -> str:
    return f"{round(float(conf_level) * 100)}%"


def _num(value: float) -> str:
    return format_sig(value)


def _pretrend_text(p: float, k: int | None, what: str) -> str:
    if p is None or not np.isfinite(p):
        return "There is no pre-trend test (no pre-adoption estimates)."
    verdict = ("evidence that pre-adoption trends were not parallel" if p < 0.05
               else "no evidence against parallel pre-adoption trends")
    count = f"the {k} " if k else "the "
    return f"A joint test that {count}{what} are zero gives p = {p:.3f} ({verdict})."


# ------------------------------------------------------------------ event study


def _event_frame(result: DesignResult) -> tuple[pd.DataFrame, dict]:
    """Event-time estimates with pointwise intervals and the band, from either design.

    Returns the frame (``event_time, estimate, ci_low, ci_high, band_low, band_high,
    reference``) and facts for the alt text.
    """
    eff = result.effects
    diag = result.diagnostics
    conf = float(result.options.get("conf_level", eff["conf_level"].iloc[0]))
    if result.design == "event_study":
        frame = result.plot_data()["event_study"]
        reference = int(diag["reference"])
        frame["reference"] = frame["event_time"] == reference
        records = {int(e.split(":")[1]): r for e, r in
                   zip(eff["estimand"], eff.to_dict("records"), strict=True)}
        info = {"reference": reference, "records": records, "unit": "periods",
                "pre_k": sum(1 for e in records if e < 0), "conf": conf,
                "method": "two-way fixed-effects regression with leads and lags",
                "band": "simultaneous (sup-t) band", "average": None}
        return frame.drop(columns="se"), info
    keep = eff["estimand"].str.startswith("att_event:")
    rec = eff[keep]
    frame = pd.DataFrame({"event_time": [int(e.split(":")[1]) for e in rec["estimand"]],
                          "estimate": rec["estimate"].to_numpy(float),
                          "ci_low": rec["ci_low"].to_numpy(float),
                          "ci_high": rec["ci_high"].to_numpy(float)})
    band = result.plot_data()["event"][["event_time", "band_low", "band_high"]]
    frame = frame.merge(band, on="event_time", how="left")
    frame["reference"] = False
    reference = None
    if result.options.get("base_period") == "universal":
        # Every cohort's comparisons share the base period -1 - anticipation: its
        # estimate is 0 by construction, drawn as the reference.
        reference = -1 - int(result.options.get("anticipation", 0))
        frame = pd.concat([frame, pd.DataFrame({
            "event_time": [reference], "estimate": [0.0], "ci_low": [0.0], "ci_high": [0.0],
            "band_low": [0.0], "band_high": [0.0], "reference": [True]})])
    frame = frame.sort_values("event_time").reset_index(drop=True)
    records = {int(e.split(":")[1]): r for e, r in
               zip(rec["estimand"], rec.to_dict("records"), strict=True)}
    gt = result.frames.get("att_gt")
    unit = "periods"
    if gt is not None and len(gt):
        unit = "months" if parse_periods(gt["time"].astype(str))[1].kind == "month" \
            else "periods"
    average = eff.set_index("estimand").loc["att_dynamic"] \
        if "att_dynamic" in set(eff["estimand"]) else None
    info = {"reference": reference, "records": records, "unit": unit, "conf": conf,
            "pre_k": len(diag.get("pretrend_event_times", [])),
            "method": "Callaway-Sant'Anna event-time aggregation",
            "band": "simultaneous band (multiplier bootstrap)", "average": average}
    return frame, info


def event_study_plot(result: DesignResult, *, label: str | None = None,
                     window: tuple[int, int] | None = None):
    """Effects by event time relative to adoption, with pointwise and simultaneous bands.

    Works for ``event_study`` results (its ``event:<e>`` coefficients) and for
    ``staggered_did`` results (the ``att_event:<e>`` records). Pre-adoption estimates are
    circles and post-adoption ones squares, each with its pointwise confidence interval
    as error bars; a reference period fixed at 0 is a hollow diamond. The simultaneous
    band is shaded when the result has one (``staggered_did`` needs ``n_boot > 0``;
    otherwise only pointwise intervals are drawn and the alt text says so). A dashed
    line marks zero and a vertical line falls between the last pre-adoption period and
    the first treated period.

    Parameters
    ----------
    result
        An ``event_study`` or ``staggered_did`` result.
    label
        The outcome's display name.
    window
        ``(first, last)`` event times to show (inclusive); all by default. Long panels
        give many event times, the far ones each resting on few cohorts.

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and its alt text.
    """
    _check(result, ("event_study", "staggered_did"), "event_study_plot")
    frame, info = _event_frame(result)
    full = (int(frame["event_time"].min()), int(frame["event_time"].max()))
    if window is not None:
        lo, hi = window
        frame = frame[(frame["event_time"] >= lo) & (frame["event_time"] <= hi)]
        if frame.empty:
            raise ValueError(f"no event times in window {window}; the result has "
                             f"{full[0]} to {full[1]}")
        frame = frame.reset_index(drop=True)
    label, ylabel, alt_name = _names(result, label)
    level = _level(info["conf"])
    est = frame[~frame["reference"]]
    pre, post = est[est["event_time"] < 0], est[est["event_time"] >= 0]
    has_band = bool(np.isfinite(est[["band_low", "band_high"]].to_numpy(float)).all()) \
        and len(est) > 0
    n = len(frame)
    size = 5.5 if n <= 20 else 4 if n <= 50 else 2.8
    cap = 2.5 if n <= 20 else 0
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    if has_band:
        ax.fill_between(frame["event_time"], frame["band_low"], frame["band_high"],
                        color=NHS_LIGHT_BLUE, alpha=0.3, linewidth=0, zorder=1,
                        label=f"{level} simultaneous band", gid="simultaneous-band")
    for part, marker, colour, name in ((pre, "o", ANALYSIS_FUNCTION[1], "before adoption"),
                                       (post, "s", ANALYSIS_FUNCTION[0], "after adoption")):
        if part.empty:
            continue
        yerr = np.vstack([part["estimate"] - part["ci_low"], part["ci_high"] - part["estimate"]])
        ax.errorbar(part["event_time"], part["estimate"], yerr=yerr, fmt=marker, color=colour,
                    markersize=size, elinewidth=1, capsize=cap, zorder=3,
                    label=f"{name} ({level} CI)")
    ref = frame[frame["reference"]]
    if len(ref):
        ax.plot(ref["event_time"], ref["estimate"], "D", color=GREY, markerfacecolor="white",
                markersize=size + 0.5, linestyle="none", zorder=4,
                label="reference period (fixed at 0)", gid="reference")
    ax.axhline(0, color=GREY, linestyle="--", linewidth=1, zorder=2, gid="zero-line")
    ax.axvline(-0.5, color=GREY, linewidth=1, zorder=2, gid="adoption-line")
    ax.text(-0.5, 1.0, " adoption", transform=ax.get_xaxis_transform(), ha="left",
            va="bottom", fontsize=8)
    if not has_band:
        ax.text(1.02, 0.0, "pointwise intervals only:\nno simultaneous band\n(no bootstrap draws)",
                transform=ax.transAxes, fontsize=7, va="bottom", color=GREY)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    unit = info["unit"]
    ax.set_xlabel(f"{unit} relative to adoption (0 = first treated {unit[:-1]})", fontsize=9)
    ax.set_ylabel(f"effect on {ylabel}", fontsize=9)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    apply_style(ax)
    fig.tight_layout()

    first, last = int(frame["event_time"].min()), int(frame["event_time"].max())
    shown = ("" if (first, last) == full else
             f" (the result has {format_number(full[0])} to {format_number(full[1])})")
    ref_text = (f" Event time {format_number(info['reference'])} is the reference period, "
                "fixed at 0."
                if info["reference"] is not None and len(ref) else "")
    band_text = (f" The shaded region is the {level} {info['band']}, which covers all "
                 "the event-time effects together." if has_band else
                 " No simultaneous band is drawn: the result has none (it needs bootstrap "
                 "draws, n_boot > 0), so only pointwise intervals are shown.")
    what = ("pre-adoption coefficients" if result.design == "event_study"
            else "pre-adoption event-time effects closest to adoption")
    parts = [f"Event study of {alt_name}: effects by {unit} relative to adoption, from "
             f"{format_number(first)} to {format_number(last)}{shown}, from a "
             f"{info['method']}.{ref_text} Circles are "
             f"estimates before adoption and squares after, with pointwise {level} "
             f"confidence intervals as error bars.{band_text}",
             _pretrend_text(result.diagnostics.get("pretrend_p"), info["pre_k"], what)]
    if info["average"] is not None:
        parts.append("Averaged over event times from 0 on, the effect after adoption is "
                     f"{format_effect(info['average'])}.")
    elif len(post):
        parts.append(f"The {len(post)} post-adoption coefficients shown average "
                     f"{_num(post['estimate'].mean())} (a simple mean; they range from "
                     f"{_num(post['estimate'].min())} to {_num(post['estimate'].max())}).")
    if 0 in info["records"] and len(post) and 0 in set(post["event_time"]):
        parts.append(f"At adoption (event time 0) the effect is "
                     f"{format_effect(info['records'][0])}.")
    return fig, " ".join(parts)


# ------------------------------------------------------------------ cohort trajectories


def _cohort_style(i: int) -> dict:
    return {"color": COHORT_COLOURS[i % len(COHORT_COLOURS)],
            "marker": COHORT_MARKERS[i % len(COHORT_MARKERS)],
            "linestyle": COHORT_LINESTYLES[i % len(COHORT_LINESTYLES)]}


def _draw_cohort(ax, g: pd.DataFrame, x: np.ndarray, adopt: float, style: dict, name: str,
                 size: float) -> None:
    """One cohort: interval ribbon, line (filled markers), open markers before adoption."""
    ax.fill_between(x, g["ci_low"], g["ci_high"], color=style["color"], alpha=0.12,
                    linewidth=0, zorder=1)
    ax.plot(x, g["att"], color=style["color"], marker=style["marker"],
            linestyle=style["linestyle"], linewidth=1.3, markersize=size, zorder=3,
            label=name, gid=f"cohort:{name}")
    before = ~g["post"].to_numpy(bool)
    ax.plot(x[before], g["att"].to_numpy(float)[before], marker=style["marker"],
            color=style["color"], markerfacecolor="white", markersize=size, linestyle="none",
            zorder=4)
    ax.axvline(adopt, color=style["color"], linestyle=style["linestyle"], linewidth=1,
               zorder=2, gid=f"adoption:{name}")
    ax.plot(adopt, 1.0, marker="v", color=style["color"], markersize=6, clip_on=False,
            transform=ax.get_xaxis_transform(), zorder=5)


def cohort_trajectories_plot(result: DesignResult, *, label: str | None = None):
    """Group-time effects ATT(g, t) by calendar period, one line per adoption cohort.

    Each cohort has its own colour, marker and line style; markers are open before the
    cohort's adoption and filled after, and a vertical line (with a triangle at the top)
    in the cohort's style marks its first treated period. Shaded ribbons are pointwise
    confidence intervals; a dashed line marks zero.

    With up to four cohorts observed over at most 40 periods each, all lines share one
    panel, where cohorts are easiest to compare. With more cohorts, overlapping lines
    and ribbons stop being legible (and the accessible palette has only five non-grey
    colours); with long series (e.g. several years of months) even two or three noisy
    lines tangle. Then the figure becomes small multiples: one panel per cohort on
    shared axes (stacked in one column for up to four cohorts, so calendar time lines
    up; two or three columns for more), each titled with its cohort and showing the
    other cohorts as thin grey lines for context. That stays readable to about a dozen
    cohorts.

    Parameters
    ----------
    result
        A ``staggered_did`` result.
    label
        The outcome's display name.

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and its alt text.
    """
    _check(result, ("staggered_did",), "cohort_trajectories_plot")
    gt = result.plot_data()["att_gt"]
    if gt.empty:
        raise ValueError("cohort_trajectories_plot: the result has no group-time effects")
    label, ylabel, alt_name = _names(result, label)
    gt["cohort"], gt["time"] = gt["cohort"].astype(str), gt["time"].astype(str)
    cohorts = list(dict.fromkeys(gt["cohort"]))
    codes, axis = parse_periods(pd.concat([gt["time"], pd.Series(cohorts)],
                                          ignore_index=True))
    gt["x"] = codes[: len(gt)]
    start = dict(zip(cohorts, codes[len(gt):].tolist(), strict=True))
    cohorts.sort(key=start.get)
    gt = gt.sort_values(["x"], kind="stable")
    conf = float(result.options.get("conf_level", result.effects["conf_level"].iloc[0]))
    level = _level(conf)
    k = len(cohorts)
    per_cohort = int(gt.groupby("cohort").size().max())
    facets = k > MAX_COHORTS_ONE_PANEL or (k > 1 and per_cohort > MAX_PERIODS_ONE_PANEL)
    size = 4.5 if per_cohort <= 15 else 3 if per_cohort <= 40 else 2.2
    ncols = 1
    if facets:
        ncols = 1 if k <= MAX_COHORTS_ONE_PANEL else 2 if k <= 6 else 3
        nrows = math.ceil(k / ncols)
        fig = Figure(figsize=(7.5, (1.6 if ncols == 1 else 1.9) * nrows + 0.9))
        axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    else:
        fig = Figure(figsize=(7.5, 3.8))
        axes = np.array([fig.subplots()])
    for i, cohort in enumerate(cohorts):
        ax = axes[i] if facets else axes[0]
        g = gt[gt["cohort"] == cohort]
        if facets:
            for other in cohorts:
                if other != cohort:
                    o = gt[gt["cohort"] == other]
                    ax.plot(o["x"], o["att"], color=NHS_MID_GREY, linewidth=0.7, alpha=0.6,
                            zorder=0)
            ax.set_title(f"cohort {cohort}", fontsize=8, loc="left")
        _draw_cohort(ax, g, g["x"].to_numpy(), start[cohort] - 0.5, _cohort_style(i),
                     f"cohort {cohort}", size)
    for ax in axes[k:]:
        ax.set_visible(False)
    used = axes[:k] if facets else axes
    span = np.unique(np.concatenate([gt["x"].to_numpy(), list(start.values())]))
    ticks = calendar_ticks(span, axis.kind, 8 if ncols == 1 else 4)
    for ax in used:
        ax.axhline(0, color=GREY, linestyle="--", linewidth=1, zorder=2, gid="zero-line")
        ax.set_xticks(ticks, axis.labels(ticks), fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        apply_style(ax)
    key = [Line2D([], [], color=GREY, marker="o", markerfacecolor="white", linestyle="none",
                  label="open: before adoption"),
           Line2D([], [], color=GREY, marker="o", linestyle="none",
                  label="filled: after adoption"),
           Line2D([], [], color=GREY, marker="v", linestyle="none",
                  label="cohort's first treated period")]
    if facets:
        key.append(Line2D([], [], color=NHS_MID_GREY, linewidth=0.7, label="other cohorts"))
        fig.supylabel(f"ATT(g, t): effect on {ylabel}", fontsize=9)
        fig.legend(handles=key, frameon=False, fontsize=7, loc="lower center",
                   ncol=len(key))
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    else:
        ax = axes[0]
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles + key, frameon=False, fontsize=7, loc="upper left",
                  bbox_to_anchor=(1.0, 1.0))
        ax.set_ylabel(f"ATT(g, t): effect on {ylabel}", fontsize=9)
        fig.tight_layout()

    eff = result.effects.set_index("estimand")
    control = {"never": "never-treated units", "notyet": "not-yet-treated units"}.get(
        result.diagnostics.get("control_group"), "comparison units")
    layout = (" Small multiples, one panel per cohort, show each cohort with the others in "
              "grey." if facets else "")
    by_cohort = [f"cohort {c}: {format_effect(eff.loc[f'att_group:{c}'])}"
                 for c in cohorts if f"att_group:{c}" in eff.index]
    parts = [f"Group-time effects of the scheme on {alt_name} by calendar period for {k} "
             f"adoption cohort{'s' if k > 1 else ''} ({', '.join(cohorts)}), each compared "
             f"with {control}, from {axis.label(gt['x'].min())} to "
             f"{axis.label(gt['x'].max())}: one line per cohort, in a distinct colour, marker "
             "and line style, with open markers before the cohort's adoption and filled "
             "after, a vertical line at its first treated period and shaded pointwise "
             f"{level} confidence intervals.{layout}"]
    if by_cohort:
        parts.append("Average effect after adoption by cohort: " + "; ".join(by_cohort) + ".")
    if "att_simple" in eff.index:
        parts.append(f"Overall average effect after adoption: "
                     f"{format_effect(eff.loc['att_simple'])}.")
    parts.append(_pretrend_text(result.diagnostics.get("pretrend_p"),
                                len(result.diagnostics.get("pretrend_event_times", [])),
                                "pre-adoption event-time effects closest to adoption"))
    return fig, " ".join(parts)


# ------------------------------------------------------------------ Bacon decomposition


def bacon_plot(result: DesignResult, *, label: str | None = None):
    """The Goodman-Bacon decomposition: each 2x2 comparison's estimate against its weight.

    Comparison types differ in colour and marker: earlier- against later-treated units
    (circles), later- against earlier-treated units, whose controls are already treated
    (triangles: the comparisons that bias TWFE when effects change over time), and
    treated against never-treated units (squares). The dashed line is the TWFE
    estimate, the weighted average of the points. With up to 12 comparisons each point
    is labelled "treated cohort v control cohort".

    Parameters
    ----------
    result
        A ``did`` result with staggered adoption (it has ``plot_data()["bacon"]``).
    label
        The outcome's display name.

    Returns
    -------
    (matplotlib.figure.Figure, str)
        The figure and its alt text.
    """
    _check(result, ("did",), "bacon_plot")
    if "bacon" not in result.frames:
        raise ValueError("bacon_plot needs a 'did' result with staggered adoption; this one "
                         "has no Bacon decomposition (all treated units start together)")
    bacon = result.plot_data()["bacon"]
    twfe = result.effects.set_index("estimand").loc["att_twfe"]
    label, ylabel, alt_name = _names(result, label)
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    for kind, (colour, marker, name) in BACON_STYLES.items():
        part = bacon[bacon["type"] == kind]
        if part.empty:
            continue
        ax.plot(part["weight"], part["estimate"], marker=marker, color=colour, markersize=7,
                linestyle="none", markeredgecolor="white", markeredgewidth=0.6, zorder=3,
                label=name, gid=f"bacon:{kind}")
    if len(bacon) <= 12:
        for _, row in bacon.iterrows():
            ax.annotate(f"{row['treated_cohort']} v {row['control_cohort']}",
                        (row["weight"], row["estimate"]), xytext=(5, 3),
                        textcoords="offset points", fontsize=6.5, color=GREY)
    ax.axhline(0, color=NHS_MID_GREY, linewidth=0.8, zorder=1, gid="zero-line")
    ax.axhline(twfe["estimate"], color=GREY, linestyle="--", linewidth=1.2, zorder=2,
               label=f"TWFE estimate ({_num(twfe['estimate'])})", gid="twfe-line")
    ax.set_xlim(left=0, right=max(bacon["weight"].max() * 1.25, 1e-9))
    ax.set_xlabel("weight in the TWFE estimate", fontsize=9)
    ax.set_ylabel(f"2x2 estimate\n{ylabel}", fontsize=9)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    apply_style(ax)
    fig.tight_layout()

    forbidden = float(bacon.loc[bacon["type"] == "later vs earlier treated", "weight"].sum())
    summary = []
    for kind in BACON_STYLES:
        part = bacon[bacon["type"] == kind]
        if part.empty:
            continue
        w = float(part["weight"].sum())
        avg = float(np.average(part["estimate"], weights=part["weight"])) if w > 0 \
            else float(part["estimate"].mean())
        summary.append(f"{kind}: {len(part)} comparison{'s' if len(part) > 1 else ''}, "
                       f"{w:.1%} of the weight, weighted average estimate {_num(avg)}")
    neg = result.diagnostics.get("negative_weight_share")
    alt = (f"Goodman-Bacon decomposition of the two-way fixed-effects (TWFE) estimate for "
           f"{alt_name}: each of the {len(bacon)} points is a 2x2 difference-in-differences "
           "comparison between adoption cohorts, its estimate plotted against its weight; "
           "marker shape and colour give the comparison type. The dashed line is the TWFE "
           f"estimate, {format_effect(twfe)}, the weighted average of the points. "
           f"Comparisons that use already-treated units as controls carry {forbidden:.1%} of "
           "the weight; these are biased when effects change over time. By type: "
           + "; ".join(summary) + "."
           + (f" {neg:.1%} of treated cells get a negative TWFE weight." if neg is not None
              else ""))
    return fig, alt
