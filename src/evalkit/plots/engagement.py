"""Engagement figures: referring units, concentration, MDT attendance, staff surveys,
dose-response and network maturity.

Each function draws a result's stored frames (see :mod:`evalkit.engagement`);
nothing is re-estimated. Every function returns ``(figure, alt_text)``; the alt text
states the finding with its numbers. Colour never carries meaning alone: lines differ
in style and marker, survey bars carry hatching on the disagreeing side and labels.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import LinearSegmentedColormap, to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from evalkit.engagement.dose_response import DoseResponseResult
from evalkit.engagement.indices import EngagementResult
from evalkit.engagement.maturity import BUILDING_BLOCKS, MaturityResult
from evalkit.engagement.survey import LikertSummary
from evalkit.evidence.disclosure import show_share
from evalkit.evidence.narrative import format_sig
from evalkit.plots.palette import (
    ANALYSIS_FUNCTION,
    NHS_BLUE,
    NHS_DARK_BLUE,
    NHS_LIGHT_BLUE,
    NHS_MID_GREY,
    NHS_PALE_GREY,
    apply_style,
)

__all__ = ["referral_share_plot", "lorenz_plot", "mdt_attendance_plot", "likert_plot",
           "dose_response_plot", "maturity_radar", "LIKERT_COLOURS"]

#: Ordered, colour-blind-safe colours for a 5-point agreement scale, strongly disagree
#: (Analysis Function orange) to strongly agree (NHS dark blue), grey in the middle.
LIKERT_COLOURS = ("#F46A25", "#F9B48F", "#BFC6CC", NHS_LIGHT_BLUE, NHS_DARK_BLUE)
_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
_MARKERS = ("o", "s", "^", "D", "v", "P")
_DOSE_LABELS = {"per_1000": "referrals per 1,000 patients",
                "mdt_attendance": "MDT attendance (share of meetings)",
                "share_active": "share of periods with a referral"}


def _need(result, kind, what: str) -> None:
    if not isinstance(result, kind):
        raise ValueError(f"this plot needs {what}, not {type(result).__name__}")


def _pct(v: float) -> str:
    return "n/a" if pd.isna(v) else f"{v:.0%}"


def _thin_ticks(ax, labels: Sequence[str], max_ticks: int = 12) -> None:
    step = max(1, int(np.ceil(len(labels) / max_ticks)))
    pos = np.arange(0, len(labels), step)
    ax.set_xticks(pos, [labels[i] for i in pos], rotation=45, ha="right", fontsize=8)


# --------------------------------------------------------------------------- referrals


def referral_share_plot(result: EngagementResult) -> tuple[Figure, str]:
    """The share of scheme units referring in each period, with its Wilson band."""
    _need(result, EngagementResult, "an engagement() result")
    s = result.frames["share_referring"]
    xcol = s.columns[0]
    labels = [str(v) for v in s[xcol]]
    x = np.arange(len(s))
    level = round(float(result.options.get("conf_level", 0.95)) * 100)
    fig = Figure(figsize=(7.0, 3.8))
    ax = fig.add_subplot()
    ax.fill_between(x, s["ci_low"], s["ci_high"], color=NHS_LIGHT_BLUE, alpha=0.35,
                    linewidth=0, label=f"{level}% Wilson interval")
    ax.plot(x, s["share"], color=NHS_BLUE, marker="o", markersize=3, linewidth=1.8,
            label="share of units referring")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    _thin_ticks(ax, labels)
    ax.set_xlabel("Period since launch" if xcol == "period" else "Period")
    ax.set_ylabel("Units referring")
    apply_style(ax)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    first, last = s.iloc[0], s.iloc[-1]
    peak = s.loc[s["share"].idxmax()]
    d = result.diagnostics
    alt = (f"Line chart of the share of scheme units referring at least once in each period "
           f"({int(first['units'])} units at the start), with {level}% Wilson intervals: "
           f"{_pct(first['share'])} in {labels[0]}, {_pct(last['share'])} in {labels[-1]}, "
           f"highest {_pct(peak['share'])} in {peak[xcol]}. Over their first "
           f"{d['window']} {d['period_word']}s, {d['share_referring']:.0%} of units referred "
           f"at least once.")
    return fig, alt


def lorenz_plot(result: EngagementResult) -> tuple[Figure, str]:
    """The Lorenz curve of referrals across units, with the Gini and top-20% share."""
    _need(result, EngagementResult, "an engagement() result")
    curve = result.frames["lorenz"]
    c = result.frames["concentration"].iloc[0]
    fig = Figure(figsize=(4.8, 4.6))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color=NHS_MID_GREY, linestyle="--", linewidth=1,
            label="equal referrals")
    ax.plot(curve["share_of_units"], curve["share_of_total"], color=NHS_BLUE, marker="o",
            markersize=3, linewidth=2, label="units, fewest referrals first")
    if not pd.isna(c["top20_share"]):
        ax.axvline(0.8, color=ANALYSIS_FUNCTION[3], linestyle=":", linewidth=1.2)
        ax.annotate(f"top 20% of units:\n{c['top20_share']:.0%} of referrals",
                    xy=(0.8, 1 - c["top20_share"]), xytext=(0.3, 0.78), fontsize=8,
                    arrowprops={"arrowstyle": "->", "color": NHS_MID_GREY})
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Cumulative share of units")
    ax.set_ylabel("Cumulative share of referrals")
    ax.set_title(f"Gini {c['gini']:.2f}" if not pd.isna(c["gini"]) else "No referrals",
                 fontsize=10, loc="left")
    apply_style(ax)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    if pd.isna(c["gini"]):
        alt = (f"Lorenz curve of referrals across {int(c['units'])} units: no unit referred, "
               "so concentration is undefined.")
    else:
        alt = (f"Lorenz curve of referrals across {int(c['units'])} units: Gini coefficient "
               f"{c['gini']:.2f} (0 if every unit referred equally); the top 20% of units "
               f"made {c['top20_share']:.0%} of the {int(c['referrals']):,} referrals, "
               "against 20% if referrals were spread evenly.")
    return fig, alt


def mdt_attendance_plot(result: EngagementResult) -> tuple[Figure, str]:
    """MDT attendance by profession with Wilson intervals, sorted from highest to lowest."""
    _need(result, EngagementResult, "an engagement() result")
    m = result.frames["mdt"]
    if m.empty:
        raise ValueError("this result has no MDT data (pass mdt= to engagement())")
    m = m.sort_values("rate", ascending=True).reset_index(drop=True)
    level = round(float(result.options.get("conf_level", 0.95)) * 100)
    fig = Figure(figsize=(6.4, 0.5 * len(m) + 1.5))
    ax = fig.add_subplot()
    y = np.arange(len(m))
    m.loc[m["hidden"].astype(bool), ["rate", "ci_low", "ci_high"]] = np.nan  # not drawn
    err = np.vstack([m["rate"] - m["ci_low"], m["ci_high"] - m["rate"]])
    ax.errorbar(m["rate"], y, xerr=err, fmt="o", color=NHS_BLUE, ecolor=NHS_DARK_BLUE,
                capsize=3, markersize=6, label=f"attendance ({level}% Wilson interval)")
    for yi, (r, n, h) in enumerate(zip(m["rate"], m["invited"], m["hidden"], strict=True)):
        ax.text(1.01, yi, f"{show_share(r, h)} of {int(n):,}", va="center", fontsize=8,
                transform=ax.get_yaxis_transform())
    ax.set_yticks(y, m["profession"])
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Meetings attended, of those invited to")
    apply_style(ax)
    ax.legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0))
    fig.tight_layout()
    lo, hi = m.iloc[0], m.iloc[-1]

    def said(r) -> str:
        return ("not shown: small numbers" if pd.isna(r["rate"]) else
                f"{r['rate']:.0%}, {r['ci_low']:.0%} to {r['ci_high']:.0%}")
    alt = (f"Dot plot of MDT meeting attendance by profession with {level}% Wilson "
           f"intervals, sorted: highest for {hi['profession']} ({said(hi)}), lowest for "
           f"{lo['profession']} ({said(lo)}).")
    return fig, alt


# --------------------------------------------------------------------------- survey


def _likert_colours(n: int) -> list[str]:
    """The 5-point palette, or ``n`` steps from orange through grey to dark blue."""
    if n == 5:
        return list(LIKERT_COLOURS)
    cmap = LinearSegmentedColormap.from_list("likert", [LIKERT_COLOURS[0], LIKERT_COLOURS[2],
                                                        LIKERT_COLOURS[4]])
    return [to_hex(cmap(v)) for v in np.linspace(0, 1, n)]


def likert_plot(summary: LikertSummary) -> tuple[Figure, str]:
    """Diverging stacked bars of Likert responses, one bar per item and wave.

    Disagreeing levels extend left of zero (hatched), agreeing levels right, and a
    middle level (odd scales) straddles zero. Each bar is labelled with its shares
    disagreeing and agreeing. Under disclosure control (:mod:`evalkit.evidence.disclosure`) a
    group with a small count at some level is drawn with its levels merged into
    disagreeing, neutral and agreeing (the merged bar drawn in the inner level's colour)
    when none of those three is a small count, and is not drawn at all otherwise (its
    bar says so; the labels, which add up with the neutral share to the whole, would give
    it away).
    """
    _need(summary, LikertSummary, "a likert_summary() result")
    dist, agree = summary.distribution, summary.agreement
    by = list(summary.by)
    lo, hi = summary.scale
    levels = list(range(lo, hi + 1))
    n_lv = len(levels)
    wide = dist.pivot_table(index=by, columns="level", values="share", fill_value=0.0)
    wide = wide.reindex(columns=levels, fill_value=0.0)
    if "wave" in by and set(wide.index.get_level_values("wave")) >= {"before", "after"}:
        order = {"before": 0, "after": 1}
        wide = wide.sort_index(key=lambda idx: idx.map(order) if idx.name == "wave"
                               else idx)
    mid = (lo + hi) / 2
    colours = _likert_colours(n_lv)
    hatches = ["///" if lv < summary.agree_from and lv < mid else "" for lv in levels]
    hatches = ["////" if lv == lo else h for lv, h in zip(levels, hatches, strict=True)]
    fig = Figure(figsize=(7.6, 0.42 * len(wide) + 1.9))
    ax = fig.add_subplot()
    y = np.arange(len(wide))[::-1]
    shares = wide.to_numpy().copy()
    flags = agree.set_index(by).reindex(wide.index)
    row_hidden = flags["collapsed_hidden"].to_numpy(bool)
    merge = flags["levels_hidden"].to_numpy(bool) & ~row_hidden
    disagree_lv, agree_lv = lo + hi - summary.agree_from, summary.agree_from
    lv = np.asarray(levels)
    for group, inner in ((lv <= disagree_lv, disagree_lv), (lv >= agree_lv, agree_lv)):
        j = levels.index(inner)
        shares[np.ix_(merge, [j])] = shares[np.ix_(merge, group)].sum(axis=1, keepdims=True)
        outer = group & (lv != inner)
        shares[np.ix_(merge, outer)] = 0.0  # merged: the levels would give a count away
    shares[row_hidden] = 0.0  # not drawn
    neutral = shares[:, [i for i, lv in enumerate(levels) if lv == mid]].sum(axis=1)
    below = shares[:, [i for i, lv in enumerate(levels) if lv < mid]].sum(axis=1)
    left = -(below + neutral / 2)
    for j, lv in enumerate(levels):
        ax.barh(y, shares[:, j], left=left, color=colours[j], hatch=hatches[j],
                edgecolor="white", linewidth=0.6, label=summary.labels.get(lv, str(lv)))
        left = left + shares[:, j]
    ax.axvline(0, color="black", linewidth=0.8)
    a = agree.set_index(by).reindex(wide.index)
    for yi, (dis, ag, start, end, h_dis, h_ag, h_row) in enumerate(zip(
            a["disagree_share"], a["share"], -(below + neutral / 2), left,
            a["disagree_hidden"], a["hidden"], a["collapsed_hidden"], strict=True)):
        if h_row:  # collapsed_hidden
            ax.text(0, y[yi], "not shown: small numbers", ha="center", va="center",
                    fontsize=8, color=NHS_MID_GREY)
            continue
        ax.text(start - 0.02, y[yi], show_share(dis, h_dis), ha="right", va="center",
                fontsize=8)
        ax.text(end + 0.02, y[yi], show_share(ag, h_ag), ha="left", va="center", fontsize=8)
    names = [" · ".join(str(v).replace("_", " ") for v in (k if isinstance(k, tuple) else (k,)))
             for k in wide.index]
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(-1.15, 1.15)
    ax.set_xticks(np.linspace(-1, 1, 5), ["100%", "50%", "0", "50%", "100%"])
    ax.set_xlabel("Share of respondents: disagreeing (left), agreeing (right)")
    apply_style(ax)
    ax.grid(False, axis="y")
    ax.legend(frameon=False, fontsize=7, ncol=min(n_lv, 3), loc="lower center",
              bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig, _likert_alt(summary, a, by)


def _likert_alt(summary: LikertSummary, a: pd.DataFrame, by: list[str]) -> str:
    head = (f"Diverging stacked bar chart of staff survey responses on a {summary.scale[0]} "
            f"to {summary.scale[1]} scale; agreeing is {summary.agree_from} or above.")
    if by == ["item", "wave"] or set(by) == {"item", "wave"}:
        t = a.reset_index()
        waves = list(pd.unique(t["wave"]))
        if {"before", "after"} <= set(waves):
            t["text"] = [show_share(v, h) for v, h in zip(t["share"], t["hidden"],
                                                             strict=True)]
            p = t.pivot(index="item", columns="wave", values="text")
            parts = [f"{str(i).replace('_', ' ')} {r['before']} before and "
                     f"{r['after']} after" for i, r in p.iterrows()]
            return head + " Share agreeing: " + "; ".join(parts) + _hidden_note(t) + "."
    t = a.reset_index()
    parts = [f"{' '.join(str(r[c]) for c in by).replace('_', ' ')} "
             f"{show_share(r['share'], r['hidden'])}" for _, r in t.iterrows()]
    return head + " Share agreeing: " + "; ".join(parts) + _hidden_note(t) + "."


def _hidden_note(t: pd.DataFrame) -> str:
    """What the alt text says about bars and shares hidden by disclosure control."""
    n_rows = int(t["collapsed_hidden"].sum())
    n_merged = int((t["levels_hidden"] & ~t["collapsed_hidden"]).sum())
    n_shares = int(t["hidden"].sum())
    def bars(n: int) -> str:
        return f"{n} {'bar' if n == 1 else 'bars'}"

    parts = ([f"{bars(n_merged)} drawn as disagree, neutral and agree only"] if n_merged
             else []) + ([f"{bars(n_rows)} not drawn"] if n_rows else []) + (
                 [f"{n_shares} {'share' if n_shares == 1 else 'shares'} shown as *"]
                 if n_shares else [])
    if not parts:
        return ""
    return f" ({', '.join(parts)}: disclosure control, small numbers)"


# --------------------------------------------------------------------------- dose-response


def dose_response_plot(result: DoseResponseResult, *, dose_label: str | None = None,
                       effect_label: str | None = None) -> tuple[Figure, str]:
    """Unit effects against engagement (cross-sectional) and the fitted dose-response line."""
    _need(result, DoseResponseResult, "a dose_response() or dose_response_panel() result")
    d = result.diagnostics
    line = result.frames["line"]
    level = round(float(result.options.get("conf_level", 0.95)) * 100)
    xl = dose_label or _DOSE_LABELS.get(str(d["dose"]), str(d["dose"]).replace("_", " "))
    outcome = str(result.options.get("outcome") or "the outcome").replace("_", " ")
    yl = effect_label or (f"Change in {outcome} (ratio)" if d.get("log_effect") else
                          f"Change in {outcome},\nrelative to the mean dose"
                          if d.get("line_relative") else f"Change in {outcome}")
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    pts = result.frames.get("points")
    if pts is not None and len(pts):
        w = pts["weight"].to_numpy(dtype=float)
        size = 12 + 60 * w / w.max() if np.isfinite(w).all() and w.max() > 0 else 20
        ax.scatter(pts["dose"], pts["effect"], s=size, facecolor="none",
                   edgecolor=NHS_MID_GREY, linewidths=1, label="unit effects (size: weight)")
    ax.fill_between(line["dose"], line["ci_low"], line["ci_high"], color=NHS_LIGHT_BLUE,
                    alpha=0.35, linewidth=0, label=f"{level}% confidence band")
    ax.plot(line["dose"], line["effect"], color=NHS_BLUE, linewidth=2, label="fitted line")
    ax.axhline(1.0 if d.get("log_effect") else 0.0, color="black", linewidth=0.8,
               linestyle="--", label="no effect")
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    apply_style(ax)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    e = result.effects.set_index("estimand").loc["dose_response_slope"]
    if d.get("log_effect"):
        slope = (f"each additional unit of {xl} multiplies the effect by {e['estimate']:.3f} "
                 f"({level}% CI {e['ci_low']:.3f} to {e['ci_high']:.3f})")
    else:
        slope = (f"each additional unit of {xl} changes the effect by "
                 f"{format_sig(e['estimate'], sign=True)} "
                 f"({level}% CI {format_sig(e['ci_low'], sign=True)} to "
                 f"{format_sig(e['ci_high'], sign=True)})")
    form = ("unit-level effects" if d["form"] == "cross_sectional"
            else "a panel model with unit random intercepts")
    lo_d, hi_d = (("* (small numbers)" if v is None else f"{v:.3g}")
                  for v in d["dose_range"])
    alt = (f"Dose-response chart from {form} of {d['n_units']} units: {slope}, over doses "
           f"from {lo_d} to {hi_d}. This is an association between engagement and "
           "effect, open to confounding by practice characteristics.")
    return fig, alt


# --------------------------------------------------------------------------- maturity


def maturity_radar(result: MaturityResult, *, networks: Sequence | None = None,
                   waves: Sequence | None = None) -> tuple[Figure, str]:
    """A radar (polar) chart of building-block scores, one line per network and wave.

    Each network-wave has its own line style and marker (waves differ in line style,
    networks in marker and colour).
    """
    _need(result, MaturityResult, "a maturity() result")
    nets = list(networks) if networks is not None else list(result.networks)
    wvs = list(waves) if waves is not None else list(result.waves)
    unknown = [n for n in nets if n not in result.networks] + \
        [w for w in wvs if w not in result.waves]
    if unknown:
        raise ValueError(f"not in the result: {', '.join(map(str, unknown))}")
    s = result.scores
    blocks = list(BUILDING_BLOCKS)
    angles = np.linspace(0, 2 * np.pi, len(blocks), endpoint=False)
    fig = Figure(figsize=(7.2, 6.4))
    ax = fig.add_subplot(projection="polar")
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)
    lo, hi = result.scale
    for i, n in enumerate(nets):
        for j, w in enumerate(wvs):
            sub = s[(s["network"] == n) & (s["wave"] == w)].set_index("block")["score"]
            if sub.empty:
                continue
            vals = sub.reindex(blocks).to_numpy(dtype=float)
            closed = np.append(vals, vals[0])
            ax.plot(np.append(angles, angles[0]), closed,
                    color=ANALYSIS_FUNCTION[i % len(ANALYSIS_FUNCTION)],
                    linestyle=_LINESTYLES[j % len(_LINESTYLES)],
                    marker=_MARKERS[i % len(_MARKERS)], markersize=4, linewidth=1.6,
                    label=f"{n}, {w}")
    ax.set_xticks(angles, [textwrap.fill(BUILDING_BLOCKS[b], 16) for b in blocks], fontsize=7)
    ax.tick_params(axis="x", pad=10)
    ax.set_ylim(lo - 0.5 if lo > 0 else lo, hi)
    ax.set_yticks(np.arange(lo, hi + 1))
    ax.tick_params(axis="y", labelsize=7, colors=NHS_MID_GREY)
    ax.grid(color=NHS_PALE_GREY)
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08),
              ncol=min(len(wvs), 4))
    fig.tight_layout()
    return fig, _maturity_alt(result, nets, wvs)


def _wave(w) -> str:
    """'wave 2' for numbered waves, the name itself (e.g. 'baseline') otherwise."""
    return f"wave {w}" if isinstance(w, (int, float, np.integer, np.floating)) else str(w)


def _maturity_alt(result: MaturityResult, nets: list, wvs: list) -> str:
    o = result.overall
    parts = []
    for n in nets:
        rows = o[(o["network"] == n) & o["wave"].isin(wvs)]
        if rows.empty:
            continue
        rows = rows.assign(_w=rows["wave"].map({w: k for k, w in enumerate(result.waves)})
                           ).sort_values("_w")
        last = rows.iloc[-1]
        text = (f"{n} scores {last['score']:.2f} overall in {_wave(last['wave'])}, strongest "
                f"on {BUILDING_BLOCKS[last['strongest']].lower()} and weakest on "
                f"{BUILDING_BLOCKS[last['weakest']].lower()}")
        if len(rows) > 1:
            first = rows.iloc[0]
            ch = result.change
            ch = ch[(ch["network"] == n) & (ch["to_wave"] == last["wave"])
                    & (ch["block"] != "overall")]
            text += (f"; overall {last['score'] - first['score']:+.2f} since "
                     f"{_wave(first['wave'])}")
            if len(ch):
                up = ch.loc[ch["change"].idxmax()]
                text += (f", most on {BUILDING_BLOCKS[up['block']].lower()} "
                         f"({up['change']:+.2f})")
        parts.append(text)
    return (f"Radar chart of network maturity on the ten building blocks of high-performing "
            f"primary care ({result.scale[0]} to {result.scale[1]}), one line per network and "
            "wave: " + "; ".join(parts) + ".")

