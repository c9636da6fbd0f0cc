"""Figures for a meta-analysis: forest plot, bubble plot and funnel plot of effects.

Each draws a :func:`~evalkit.synthesis.meta_analysis` result's stored frames
(``studies``, ``pooled``, ``subgroups``, ``lines``, ``funnel``) and, for the funnel plot,
an optional :func:`~evalkit.synthesis.egger_test` result; nothing is re-estimated. Ratios
are drawn on a log axis. Colour never carries meaning alone: schemes are squares (sized by
weight), pooled estimates diamonds (subgroups hatched), the prediction interval a dashed
bar with end caps, confidence bands dashed and prediction bands dotted, and each has a
legend entry. Every function returns ``(figure, alt_text)``; the alt text states the
pooled effect, its interval, the prediction interval, I² and the number of schemes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    NullFormatter,
    NullLocator,
)

from evalkit.data.contract import nearest
from evalkit.errors import DesignError
from evalkit.evidence.narrative import format_number
from evalkit.naming import column_label, column_words
from evalkit.plots.layout import interval_decimals, ratio_ticks
from evalkit.plots.palette import (
    ANALYSIS_FUNCTION,
    NHS_BLUE,
    NHS_DARK_BLUE,
    NHS_MID_GREY,
    NHS_PALE_GREY,
    apply_style,
)
from evalkit.synthesis.model import METHOD_NAMES
from evalkit.synthesis.result import MetaResult

__all__ = ["forest_plot", "bubble_plot", "effect_funnel_plot"]

_PI_COLOUR = ANALYSIS_FUNCTION[3]
_SUB_COLOUR = ANALYSIS_FUNCTION[1]
_NAMED = 3
_BUBBLE = (0.255, 0.714, 0.902, 0.55)   # NHS light blue #41B6E6, translucent


def _fmt(x: float) -> str:
    return f"{x:.3g}" if np.isfinite(x) else "NA"


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _check(result) -> None:
    if not isinstance(result, MetaResult):
        raise DesignError(f"this plot needs a meta_analysis result, not "
                          f"{type(result).__name__}", fix="run ek.meta_analysis(...) first")


def _what(result: MetaResult) -> str:
    return "ratio" if result.is_ratio else "effect"


def _outcome(result: MetaResult) -> str:
    outcome = result.options.get("outcome")
    return column_words(str(outcome)) if outcome else "the outcome"


def pooled_sentence(result: MetaResult) -> str:
    """The pooled effect, its interval, prediction interval, I² and k, in words."""
    lvl = f"{result.conf_level:.0%}"
    lo, hi = result.prediction_interval
    if np.isfinite(lo):
        pi = f"{lvl} prediction interval {_fmt(lo)} to {_fmt(hi)}"
    elif result.method == "fe":
        pi = "no prediction interval (a fixed-effect model assumes one true effect)"
    else:
        pi = "no prediction interval (fewer than 3 schemes)"
    how = METHOD_NAMES[result.method] + (", Hartung-Knapp-Sidik-Jonkman interval"
                                         if result.hksj else "")
    return (f"pooled {_what(result)} {_fmt(result.estimate)} ({lvl} CI {_fmt(result.ci[0])} "
            f"to {_fmt(result.ci[1])}; {how}); {pi}; I² = {result.i2:.1f}%; "
            f"{result.k} schemes")


def _null(result: MetaResult, log: bool) -> float:
    return 1.0 if (log or result.is_ratio) else 0.0


def _ratio_axis(axis, lo: float, hi: float) -> None:
    """Log axis ticked at round ratios a reader can use (0.8, 0.9, 1, 1.1), never 1 alone."""
    axis.set_major_locator(FixedLocator(ratio_ticks(lo, hi)))
    axis.set_major_formatter(FuncFormatter(lambda x, _: format_number(x, "g")))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def _names_itself(value: str, column: str) -> bool:
    """Whether a group's value says what it is without the column's name before it."""
    words = column_label(column).lower().split()
    return any(w in value.lower() for w in words) or value.lower().startswith("maryland")


def _diamond(ax, est: float, lo: float, hi: float, y: float, *, colour: str,
             hatch: str | None = None, half: float = 0.32) -> None:
    ax.add_patch(Polygon([(lo, y), (est, y + half), (hi, y), (est, y - half)], closed=True,
                         facecolor=colour, edgecolor="black", linewidth=0.8, hatch=hatch,
                         zorder=3))


def _label_column(studies: pd.DataFrame, labels) -> pd.Series:
    if labels is None:
        return studies["label"].astype(str)
    if isinstance(labels, Mapping):
        return studies["label"].map(lambda s: str(labels.get(s, s)))
    if labels not in studies.columns:
        guess = nearest(str(labels), map(str, studies.columns))
        raise DesignError(f"the label column '{labels}' is not in the result's studies",
                          fix=f"did you mean '{guess}'?" if guess else
                          "name a column of result.studies, or pass a mapping")
    return studies[labels].astype(str)


def forest_plot(result: MetaResult, *, group: str | None = None,
                labels: str | Mapping[str, str] | None = None, ratio: bool | None = None,
                title: str | None = None) -> tuple[Figure, str]:
    """Each scheme's effect and interval, the pooled diamond and the prediction interval.

    Parameters
    ----------
    result
        A :func:`~evalkit.synthesis.meta_analysis` result.
    group
        A column of the result's studies to group rows by (e.g. design strength, nation).
        Default: the result's ``group``. Subgroup diamonds are drawn when it is the
        column the result pooled within.
    labels
        The studies column (or a mapping from scheme label) to name rows by.
    ratio
        Draw a log axis (default: when the result reports ratios).
    title
        Figure title.

    Returns
    -------
    (matplotlib.figure.Figure, str)

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.synthesis import meta_analysis
    >>> d = pd.DataFrame({"scheme": list("ABCD"), "estimate": [0.8, 0.7, 0.95, 0.6],
    ...                   "se": [0.1, 0.15, 0.08, 0.2], "scale": "ratio"})
    >>> fig, alt = forest_plot(meta_analysis(d, se="se"))
    >>> alt.startswith("Forest plot of 4 schemes")
    True
    """
    _check(result)
    studies = result.frames["studies"]
    log = result.is_ratio if ratio is None else bool(ratio)
    if log and (studies[["ci_low", "estimate"]].to_numpy() <= 0).any():
        raise DesignError("a log axis needs positive effects and intervals",
                          fix="use ratio=False for effects on a difference scale")
    group = group if group is not None else result.options.get("group")
    if group is not None and group not in studies.columns:
        guess = nearest(str(group), map(str, studies.columns))
        raise DesignError(f"the group column '{group}' is not in the result's studies",
                          fix=f"did you mean '{guess}'?" if guess else
                          "name a column of the data the meta-analysis was given")
    names = _label_column(studies, labels)
    diamonds = (group is not None and group == result.options.get("group")
                and "subgroups" in result.frames)
    sub = result.frames["subgroups"].set_index("group") if diamonds else None
    lvl = f"{result.conf_level:.0%}"

    rows: list[dict] = []
    blocks = ([(None, studies.index)] if group is None else
              [(g, idx) for g, idx in studies.groupby(group, sort=False).groups.items()])
    heading = column_label(group) if group is not None else ""
    for g, idx in blocks:
        if g is not None:
            # The group's value alone when it names itself ("Maryland level 4"), else the
            # column's plain name before it; never the column's code name.
            text = str(g)
            rows.append({"kind": "header",
                         "text": text if _names_itself(text, group) else f"{heading}: {text}"})
        for i in idx:
            r = studies.loc[i]
            rows.append({"kind": "study", "text": names.loc[i], "est": r["estimate"],
                         "lo": r["ci_low"], "hi": r["ci_high"], "weight": r["weight"]})
        if diamonds and str(g) in sub.index:
            s = sub.loc[str(g)]
            rows.append({"kind": "subgroup", "text": f"Subtotal ({int(s['k'])} scheme"
                         + ("s)" if int(s["k"]) != 1 else ")"),
                         "est": s["estimate"], "lo": s["ci_low"], "hi": s["ci_high"],
                         "weight": float(studies.loc[idx, "weight"].sum())})
        if g is not None:
            rows.append({"kind": "gap", "text": ""})
    rows.append({"kind": "pooled", "text": f"Pooled ({result.k} schemes)",
                 "est": result.estimate, "lo": result.ci[0], "hi": result.ci[1],
                 "weight": 100.0})
    pi_lo, pi_hi = result.prediction_interval
    if np.isfinite(pi_lo):
        rows.append({"kind": "pi", "text": f"{lvl} prediction interval", "est": np.nan,
                     "lo": pi_lo, "hi": pi_hi, "weight": np.nan})

    n = len(rows)
    fig = Figure(figsize=(9.4, 0.3 * n + 1.9))
    gs = fig.add_gridspec(1, 2, width_ratios=[3.0, 1.7], wspace=0.02)
    ax = fig.add_subplot(gs[0])
    axt = fig.add_subplot(gs[1], sharey=ax)
    ypos = np.arange(n)[::-1].astype(float)
    wmax = float(studies["weight"].max())
    # One number of decimals for every estimate and interval on the figure, with true
    # minus signs ("0.96 (0.91 to 1.05)", not "1 (0.958 to 1.05)").
    shown_rows = [r for r in rows if "lo" in r]
    decimals = interval_decimals([r["lo"] for r in shown_rows], [r["hi"] for r in shown_rows],
                                 least=2 if log else 0)

    def shown(v: float) -> str:
        return format_number(v, f",.{decimals}f") if np.isfinite(v) else "NA"

    for y, r in zip(ypos, rows, strict=True):
        kind = r["kind"]
        if kind == "study":
            ax.plot([r["lo"], r["hi"]], [y, y], color=NHS_BLUE, linewidth=1.3, zorder=2)
            ax.scatter([r["est"]], [y], marker="s", s=18 + 160 * r["weight"] / wmax,
                       color=NHS_BLUE, edgecolor=NHS_DARK_BLUE, zorder=3)
        elif kind == "subgroup":
            _diamond(ax, r["est"], r["lo"], r["hi"], y, colour=_SUB_COLOUR, hatch="///")
        elif kind == "pooled":
            _diamond(ax, r["est"], r["lo"], r["hi"], y, colour=NHS_DARK_BLUE)
        elif kind == "pi":
            ax.plot([r["lo"], r["hi"]], [y, y], color=_PI_COLOUR, linewidth=2.2,
                    linestyle=(0, (4, 2)), zorder=3)
            ax.plot([r["lo"], r["hi"]], [y, y], linestyle="none", marker="|", markersize=11,
                    markeredgewidth=2, color=_PI_COLOUR, zorder=3)
        if kind in ("study", "subgroup", "pooled", "pi"):
            text = f"{shown(r['est'])} ({shown(r['lo'])} to {shown(r['hi'])})" \
                if kind != "pi" else f"{shown(r['lo'])} to {shown(r['hi'])}"
            weight = f"{r['weight']:.1f}%" if np.isfinite(r["weight"]) else ""
            bold = "bold" if kind in ("pooled", "subgroup") else "normal"
            axt.text(0.02, y, text, va="center", fontsize=8, fontweight=bold)
            axt.text(0.98, y, weight, va="center", ha="right", fontsize=8, fontweight=bold)
    null = _null(result, log)
    ax.axvline(null, color=NHS_MID_GREY, linewidth=1, zorder=1)
    ax.axvline(result.estimate, color=NHS_DARK_BLUE, linewidth=0.9, linestyle=":", zorder=1)
    if log:
        ax.set_xscale("log")
        lo_x, hi_x = ax.get_xlim()
        _ratio_axis(ax.xaxis, lo_x, hi_x)
    else:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: format_number(x, ",g")))
    ax.set_yticks(ypos, [r["text"] for r in rows], fontsize=8)
    for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
        if r["kind"] in ("header", "pooled"):
            tick.set_fontweight("bold")
    ax.set_ylim(-0.8, n - 0.2)
    ax.tick_params(axis="y", length=0)
    outcome = _outcome(result)
    ax.set_xlabel(f"{outcome}: ratio (log scale; 1 = no difference)" if log
                  else f"{outcome}: difference (0 = no difference)", fontsize=9)
    apply_style(ax)
    ax.grid(False, axis="y")
    axt.set_xlim(0, 1)
    axt.axis("off")
    axt.text(0.02, n - 0.3, f"Estimate ({lvl} CI)", fontsize=8, fontweight="bold",
             va="bottom")
    axt.text(0.98, n - 0.3, "Weight", fontsize=8, fontweight="bold", va="bottom", ha="right")
    handles = [Line2D([], [], marker="s", color=NHS_BLUE, markeredgecolor=NHS_DARK_BLUE,
                      linestyle="-", label=f"scheme ({lvl} CI; size = weight)"),
               Patch(facecolor=NHS_DARK_BLUE, edgecolor="black", label="pooled estimate")]
    if diamonds:
        handles.append(Patch(facecolor=_SUB_COLOUR, edgecolor="black", hatch="///",
                             label="subgroup estimate"))
    if np.isfinite(pi_lo):
        handles.append(Line2D([], [], color=_PI_COLOUR, linestyle=(0, (4, 2)), linewidth=2,
                              marker="|", markersize=9, label="prediction interval"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               fontsize=7.5)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(left=0.27, right=0.99, top=0.93 if title else 0.96,
                        bottom=max(0.08, 1.05 / (0.3 * n + 1.9)))

    parts = [f"Forest plot of {result.k} schemes' effects on {outcome}"
             + (f", grouped by {heading.lower()}" if group is not None else "")
             + f": {pooled_sentence(result)}."]
    if diamonds:
        s = result.frames["subgroups"]
        parts.append(f"By {heading.lower()}: " + "; ".join(
            f"{r['group']} {_fmt(r['estimate'])} ({_fmt(r['ci_low'])} to "
            f"{_fmt(r['ci_high'])}, {int(r['k'])} scheme{'s' if r['k'] != 1 else ''})"
            for _, r in s.iterrows())
            + f"; test of subgroup differences {_p(result.subgroup_test['p'])}.")
    top = studies.assign(_name=names).nlargest(min(_NAMED, len(studies)), "weight")
    parts.append("Largest weights: " + ", ".join(
        f"{r['_name']} ({r['weight']:.0f}%)" for _, r in top.iterrows()) + ".")
    return fig, " ".join(parts)


def bubble_plot(result: MetaResult, moderator: str, *, title: str | None = None
                ) -> tuple[Figure, str]:
    """Each scheme's effect against a numeric moderator, sized by weight, with the fit.

    Parameters
    ----------
    result
        A meta-analysis result fitted with ``moderators`` that include ``moderator``.
    moderator
        A numeric moderator.
    title
        Figure title.

    Returns
    -------
    (matplotlib.figure.Figure, str)

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.synthesis import meta_analysis
    >>> d = pd.DataFrame({"estimate": [0.1, 0.3, 0.2, 0.5, 0.6], "list_size": [5, 9, 7, 12, 14],
    ...                   "se": [0.1, 0.1, 0.2, 0.15, 0.1]})
    >>> fig, alt = bubble_plot(meta_analysis(d, se="se", moderators="list_size"), "list_size")
    >>> "list size" in alt
    True
    """
    _check(result)
    reg = result.regression
    if reg is None:
        raise DesignError("this result has no meta-regression",
                          fix=f"refit with moderators=['{moderator}']")
    numeric = list(pd.unique(reg.lines["moderator"]))
    if moderator not in numeric:
        if moderator in set(reg.coefficients["moderator"]):
            raise DesignError(f"'{moderator}' is categorical: a bubble plot needs a numeric "
                              "moderator", fix=f"draw forest_plot(result, group='{moderator}')"
                                               " to compare its levels")
        guess = nearest(moderator, numeric)
        raise DesignError(f"'{moderator}' is not a numeric moderator of this result",
                          fix=f"did you mean '{guess}'?" if guess else
                          f"use one of {', '.join(numeric) or '(none)'}")
    studies = result.frames["studies"]
    line = reg.lines[reg.lines["moderator"] == moderator]
    log = result.is_ratio
    lvl = f"{result.conf_level:.0%}"
    fig = Figure(figsize=(8.0, 4.4))
    ax = fig.add_subplot()
    w = studies["weight_regression"].to_numpy(float)
    ax.scatter(studies[moderator], studies["estimate"], s=25 + 500 * w / w.max(),
               facecolor=_BUBBLE, edgecolor=NHS_DARK_BLUE, linewidth=0.9,
               zorder=3, label="scheme (area = weight)")
    ax.plot(line["x"], line["fit"], color=NHS_DARK_BLUE, linewidth=2, label="fitted effect")
    ax.fill_between(line["x"], line["ci_low"], line["ci_high"], color=NHS_PALE_GREY,
                    alpha=0.8, zorder=1)
    ax.plot(line["x"], line["ci_low"], color=NHS_DARK_BLUE, linestyle="--", linewidth=1,
            label=f"{lvl} confidence band")
    ax.plot(line["x"], line["ci_high"], color=NHS_DARK_BLUE, linestyle="--", linewidth=1)
    ax.plot(line["x"], line["pi_low"], color=_PI_COLOUR, linestyle=":", linewidth=1.4,
            label=f"{lvl} prediction band")
    ax.plot(line["x"], line["pi_high"], color=_PI_COLOUR, linestyle=":", linewidth=1.4)
    ax.axhline(_null(result, log), color=NHS_MID_GREY, linewidth=1)
    if log:
        ax.set_yscale("log")
        _ratio_axis(ax.yaxis, *ax.get_ylim())
    name = column_words(moderator)
    outcome = _outcome(result)
    ax.set_xlabel(name)
    ax.set_ylabel(f"{outcome}: ratio (log scale)" if log else f"{outcome}: difference")
    apply_style(ax)
    handles, names_ = ax.get_legend_handles_labels()
    handles[0] = Line2D([], [], marker="o", linestyle="none", markersize=9,
                        markerfacecolor=_BUBBLE, markeredgecolor=NHS_DARK_BLUE)
    ax.legend(handles, names_, frameon=False, fontsize=8, loc="upper left",
              bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    c = reg.coefficients.set_index("term").loc[moderator]
    if log:
        slope = (f"each one-unit increase in {name} multiplies the ratio by "
                 f"{np.exp(c['coef']):.3g} ({lvl} CI {np.exp(c['ci_low']):.3g} to "
                 f"{np.exp(c['ci_high']):.3g}, {_p(c['p_value'])})")
    else:
        slope = (f"each one-unit increase in {name} changes the effect by {c['coef']:+.3g} "
                 f"({lvl} CI {c['ci_low']:.3g} to {c['ci_high']:.3g}, {_p(c['p_value'])})")
    direction = "rises" if c["coef"] > 0 else "falls"
    r2 = f"{reg.r2:.0f}%" if np.isfinite(reg.r2) else "none (no heterogeneity to explain)"
    alt = (f"Bubble plot of {result.k} schemes' effects on {outcome} against {name}, each "
           f"bubble sized by its weight: the fitted line {direction}; {slope}. Residual "
           f"tau² = {reg.tau2:.3g} (residual I² = {reg.i2:.1f}%); the moderators account for "
           f"{r2} of the between-scheme variance. Without moderators: "
           f"{pooled_sentence(result)}.")
    return fig, alt



def effect_funnel_plot(result: MetaResult, *, egger=None, title: str | None = None
                       ) -> tuple[Figure, str]:
    """Each scheme's effect against its standard error, with pseudo confidence limits.

    Parameters
    ----------
    result
        A meta-analysis result.
    egger
        An :func:`~evalkit.synthesis.egger_test` result, to draw its fitted line and
        state the test in the alt text.
    title
        Figure title.

    Returns
    -------
    (matplotlib.figure.Figure, str)

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.synthesis import meta_analysis
    >>> d = pd.DataFrame({"estimate": [0.1, 0.3, 0.2, 0.5], "se": [0.1, 0.1, 0.2, 0.15]})
    >>> fig, alt = effect_funnel_plot(meta_analysis(d, se="se"))
    >>> alt.startswith("Funnel plot")
    True
    """
    _check(result)
    from evalkit.synthesis.sensitivity import EggerResult

    if egger is not None and not isinstance(egger, EggerResult):
        raise DesignError("egger= takes the result of egger_test(result)",
                          fix="pass egger=ek.egger_test(result), or leave it out")
    studies = result.frames["studies"]
    funnel = result.frames["funnel"]
    log = result.is_ratio
    lvl = f"{result.conf_level:.0%}"
    fig = Figure(figsize=(8.0, 4.6))
    ax = fig.add_subplot()
    ax.fill_betweenx(funnel["se"], funnel["lower"], funnel["upper"], color=NHS_PALE_GREY,
                     alpha=0.7, zorder=0)
    ax.plot(funnel["lower"], funnel["se"], color=NHS_MID_GREY, linestyle="--", linewidth=1,
            label=f"pseudo {lvl} limits")
    ax.plot(funnel["upper"], funnel["se"], color=NHS_MID_GREY, linestyle="--", linewidth=1)
    ax.axvline(result.estimate, color=NHS_DARK_BLUE, linewidth=1.2,
               label=f"pooled {_what(result)}")
    out = studies["outside_funnel"].to_numpy(bool)
    ax.scatter(studies.loc[~out, "estimate"], studies.loc[~out, "se"], marker="o", s=36,
               color=NHS_BLUE, edgecolor=NHS_DARK_BLUE, zorder=3, label="scheme")
    if out.any():
        ax.scatter(studies.loc[out, "estimate"], studies.loc[out, "se"], marker="D", s=40,
                   facecolor="white", edgecolor=NHS_DARK_BLUE, linewidth=1.3, zorder=3,
                   label="scheme outside the limits")
    if egger is not None:
        eg = egger.line
        ax.plot(eg["effect"], eg["se"], color=_PI_COLOUR, linestyle="-.", linewidth=1.6,
                label="Egger regression line")
    if log:
        ax.set_xscale("log")
        _ratio_axis(ax.xaxis, *ax.get_xlim())
    ax.set_ylim(float(funnel["se"].max()), 0.0)
    outcome = _outcome(result)
    ax.set_xlabel(f"{outcome}: ratio (log scale)" if log else f"{outcome}: difference")
    ax.set_ylabel("Standard error" + (" (of the log ratio)" if log else ""))
    apply_style(ax)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    alt = (f"Funnel plot of {result.k} schemes: each scheme's effect on {outcome} against "
           f"its standard error (the most precise schemes at the top), with pseudo {lvl} "
           f"limits around the pooled {_what(result)} of {_fmt(result.estimate)}; "
           f"{int(out.sum())} of {result.k} schemes lie outside them. "
           f"{pooled_sentence(result)[0].upper()}{pooled_sentence(result)[1:]}.")
    if egger is not None:
        alt += (f" Egger's test: intercept {egger.intercept:.3g} (SE {egger.intercept_se:.3g}),"
                f" {_p(egger.p_value)}"
                + (f"; with {egger.k} schemes it has little power" if egger.k < 10 else "")
                + ".")
    return fig, alt
