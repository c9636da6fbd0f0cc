"""What an SPC chart returns: limits, points with rule flags, classes and plain words.

:func:`build` turns a chart's per-point centre line and limits, and the rule signals,
into an :class:`SPCResult`. It classifies every point (common cause, or special cause
of an improving, concerning or neither nature), and every group's latest point and
latest phase into the Making Data Count variation and assurance icons, with a
sentence per group. All of it is array work over the flat, sorted points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import DesignError
from evalkit.results import ReadOnlyOptions
from evalkit.variation.spc.prepare import Prepared, label
from evalkit.variation.spc.rules import RULE_COLUMNS, Signals

__all__ = ["SPCResult", "VARIATION_CLASSES", "VARIATION_ICONS", "ASSURANCE_CLASSES",
           "ASSURANCE_ICONS", "build", "check_improvement", "fmt_number"]

#: The variation class of a point, by code 0-3.
VARIATION_CLASSES = ("common_cause", "special_cause_improvement", "special_cause_concern",
                     "special_cause_neither")
#: Variation icon names (as in the Making Data Count icon set) and their labels.
VARIATION_ICONS = {
    "common_cause": "Common cause variation",
    "improvement_high": "Special cause improvement (higher values)",
    "improvement_low": "Special cause improvement (lower values)",
    "concern_high": "Special cause concern (higher values)",
    "concern_low": "Special cause concern (lower values)",
    "neither_high": "Special cause variation (higher values)",
    "neither_low": "Special cause variation (lower values)",
}
#: The assurance classes against a target.
ASSURANCE_CLASSES = ("pass", "fail", "hit_and_miss")
#: Assurance icon names and their labels.
ASSURANCE_ICONS = {
    "pass": "Consistently meets the target",
    "fail": "Consistently misses the target",
    "hit_and_miss": "Hit and miss: sometimes meets and sometimes misses the target",
}
_CHART_NAMES = {"xmr": "XmR chart", "p": "p-chart", "u": "u-chart"}


def fmt_number(value: float) -> str:
    """A number for prose: four significant figures, thousands with commas."""
    if value is None or not np.isfinite(value):
        return "n/a"
    v = float(value)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    text = f"{v:.4g}"
    return "0" if text == "-0" else text


def check_improvement(improvement, file=None) -> int:
    """``"increase"`` -> 1, ``"decrease"`` -> -1, ``None`` (or ``"neutral"``) -> 0.

    A ``{group: direction}`` mapping (one direction per measure or practice) is checked
    value by value, and gives 0 here; :func:`_per_group_improvement` spreads it.
    """
    codes = {"increase": 1, "decrease": -1, None: 0, "neutral": 0}
    if isinstance(improvement, Mapping):
        for v in improvement.values():
            check_improvement(v, file)
        return 0
    if improvement not in codes:
        raise DesignError(f"improvement={improvement!r} is not a direction", file=file,
                          fix="use 'increase' (higher is better), 'decrease' (lower is "
                              "better) or None")
    return codes[improvement]


@dataclass(frozen=True)
class SPCResult(ReadOnlyOptions):
    """A statistical process control chart: limits, points, classes and assurance.

    Attributes
    ----------
    chart
        ``"xmr"``, ``"p"`` or ``"u"``.
    limits
        One row per group and phase: ``group``, ``phase``, ``start``, ``end``,
        ``n_points``, ``n_baseline`` (points the limits are computed from), ``mean``,
        ``upper``, ``lower``, ``upper_2sigma``, ``lower_2sigma``, and ``mr_bar`` (XmR)
        or the totals and mean denominator (p- and u-charts, whose ``upper`` and
        ``lower`` here are at the mean denominator; each point has its own).
    points
        One row per point, sorted by group and time: ``group``, ``time``, ``value``,
        ``phase``, ``mean``, ``upper``, ``lower``, the two-sigma lines, the chart's own
        columns (``moving_range``, ``mr_in_limits``; or ``numerator``,
        ``denominator``), the rule columns ``rule_outside_limits``, ``rule_shift``,
        ``rule_trend``, ``rule_two_of_three``, ``special_cause``, ``direction``
        (``"high"``/``"low"`` for special-cause points), ``variation`` and ``row`` (the
        input's spreadsheet row).
    assurance
        One row per group and phase: ``group``, ``phase``, ``target``, ``assurance``
        (``pass``, ``fail``, ``hit_and_miss``, or None without a target or an
        improvement direction).
    overview
        One row per group: its latest point's variation class and icon, its latest
        phase's limits and assurance, counts of special-cause points and a
        ``sentence`` in plain English.
    options
        The options the chart ran with.
    warnings
        Warnings raised while computing it, in plain words.
    """

    chart: str
    limits: pd.DataFrame
    points: pd.DataFrame
    assurance: pd.DataFrame
    overview: pd.DataFrame
    options: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def groups(self) -> list:
        """The group labels, in order."""
        return self.overview["group"].tolist()

    def to_frame(self) -> pd.DataFrame:
        """The points, one row each (a copy)."""
        return self.points.copy()

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The frames the plots draw (copies): points, limits, assurance, overview."""
        return {"points": self.points.copy(), "limits": self.limits.copy(),
                "assurance": self.assurance.copy(), "overview": self.overview.copy()}

    def sentence(self, group=None) -> str:
        """The plain-English sentence of one group (the only group by default)."""
        ov = self.overview
        if group is None:
            if len(ov) != 1:
                raise ValueError(f"the chart has {len(ov)} groups; name one")
            return str(ov["sentence"].iloc[0])
        hit = ov.loc[ov["group"] == group, "sentence"]
        if hit.empty:
            raise KeyError(f"no group {group!r}")
        return str(hit.iloc[0])

    def summary(self) -> str:
        """A plain-text account of the limits, the signals and the classes."""
        o = self.options
        name = _CHART_NAMES.get(self.chart, self.chart)
        pts, ov = self.points, self.overview
        imp = o.get("improvement")
        better = ("improvement direction set per group" if isinstance(imp, Mapping) else
                  {"increase": "higher is better", "decrease": "lower is better"}.get(
                      imp, "no improvement direction"))
        head = (f"{name} of {o.get('value', 'value')}: {len(pts):,} points in "
                f"{len(ov):,} group{'s' if len(ov) != 1 else ''} and {len(self.limits):,} "
                f"phase{'s' if len(self.limits) != 1 else ''} ({better}"
                + ("; screened moving ranges" if self.chart == "xmr"
                   and o.get("screen_outliers") else "")
                + (f"; limits fixed after {o['fix_after']} points" if o.get("fix_after")
                   else "") + ").")
        lines = [head]
        counts = {c.removeprefix("rule_").replace("_", " "): int(pts[c].sum())
                  for c in RULE_COLUMNS}
        lines.append(f"Special-cause points: {int(pts['special_cause'].sum()):,} ("
                     + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ").")
        if len(ov) == 1:
            cols = ["phase", "start", "end", "n_points", "mean", "lower", "upper"]
            table = self.limits[cols].copy()
            for c in ("start", "end"):
                table[c] = table[c].map(lambda v: label(v, o.get("time_kind")))
            for c in ("mean", "lower", "upper"):
                table[c] = table[c].map(fmt_number)
            lines.append(table.to_string(index=False))
            lines.append(str(ov["sentence"].iloc[0]))
        else:
            by_var = ov["variation"].value_counts().reindex(VARIATION_CLASSES).dropna()
            lines.append("Latest point by group: " + ", ".join(
                f"{k.replace('_', ' ')} {int(v):,}" for k, v in by_var.items()) + ".")
            if ov["assurance"].notna().any():
                by_as = ov["assurance"].value_counts().reindex(ASSURANCE_CLASSES).dropna()
                lines.append("Assurance (latest phase): " + ", ".join(
                    f"{k.replace('_', ' ')} {int(v):,}" for k, v in by_as.items()) + ".")
            shown = ov.head(10)
            lines.extend(shown["sentence"].tolist())
            if len(ov) > 10:
                lines.append(f"... and {len(ov) - 10:,} more groups (see .overview).")
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<SPCResult {self.chart}: {len(self.points):,} points, "
                f"{len(self.overview):,} group(s), {len(self.limits):,} phase(s)>")


def _group_positions(mapping: Mapping, names: np.ndarray, what: str, file) -> dict[int, Any]:
    """A ``{group: value}`` mapping as ``{position in names: value}``; groups not in the data
    are refused."""
    lookup = {str(g): i for i, g in enumerate(names)}
    unknown = [g for g in mapping if str(g) not in lookup]
    if unknown:
        raise DesignError(f"{what} names groups not in the data: "
                          f"{', '.join(map(str, unknown[:5]))}", file=file,
                          fix="use group labels as they appear in the group column")
    return {lookup[str(g)]: v for g, v in mapping.items()}


def _per_group_improvement(improvement, names: np.ndarray, file) -> np.ndarray:
    """The improvement direction of every group (1, -1 or 0), from one value or a mapping."""
    if not isinstance(improvement, Mapping):
        return np.full(names.size, check_improvement(improvement, file))
    out = np.zeros(names.size, dtype=int)
    for i, v in _group_positions(improvement, names, "improvement", file).items():
        out[i] = check_improvement(v, file)
    return out


def _per_group_target(target, names: np.ndarray, file) -> np.ndarray:
    out = np.full(names.size, np.nan)
    if target is None:
        return out
    if isinstance(target, Mapping):
        for i, v in _group_positions(target, names, "target", file).items():
            out[i] = _target_value(v, file)
        return out
    out[:] = _target_value(target, file)
    return out


def _target_value(v, file) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise DesignError(f"target {v!r} is not a number", file=file,
                          fix="give one number, or a {group: number} mapping") from None
    if not np.isfinite(x):
        raise DesignError(f"target {v!r} is not a finite number", file=file)
    return x


def _first_of_groups(gcode: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, gcode[1:] != gcode[:-1]])


def build(prep: Prepared, *, chart: str, y: np.ndarray, mean: np.ndarray,
          upper: np.ndarray, lower: np.ndarray, upper_2sigma: np.ndarray,
          lower_2sigma: np.ndarray, signals: Signals, point_extra: Mapping[str, Any],
          limits_extra: Mapping[str, Any], improvement, target, options: Mapping[str, Any],
          file: str | None = None) -> SPCResult:
    """Assemble an :class:`SPCResult` from a chart's arrays (all in ``prep`` order)."""
    names = prep.group_names
    good = _per_group_improvement(improvement, names, file)  # per group
    gp = good[prep.gcode]
    segs = prep.n_segments
    special = signals.special_cause
    favoured = np.where(gp > 0, signals.high, signals.low)
    # a point signalling both ways counts as improvement, as in the Making Data Count
    # single-chart tool (NHSRplotthedots issue #194); without a direction: "neither"
    code = np.where(~special, 0, np.where(gp == 0, 3, np.where(favoured, 1, 2)))
    direction_high = np.where(gp == 0, signals.high,
                              np.where(code == 1, gp > 0, gp < 0))
    # object columns, so that their dtype does not depend on whether any value is set
    direction = pd.Series(np.where(special, np.where(direction_high, "high", "low"), None),
                          dtype=object)
    # explicit object dtype: no per-row conversion to pandas' string type for a panel
    # of hundreds of thousands of points
    variation = pd.Series(np.asarray(VARIATION_CLASSES, dtype=object)[code], dtype=object)
    group = pd.Series(names[prep.gcode], dtype=object)
    points = pd.DataFrame({"group": group, "time": prep.time, "value": y,
                           "phase": prep.phase, "mean": mean, "upper": upper,
                           "lower": lower, "upper_2sigma": upper_2sigma,
                           "lower_2sigma": lower_2sigma, **point_extra,
                           **signals.columns(), "special_cause": special,
                           "direction": direction, "variation": variation,
                           "row": prep.row})

    first, last = prep.seg_first, prep.seg_first + prep.seg_count - 1
    limits = pd.DataFrame({"group": names[prep.seg_group], "phase": prep.seg_phase,
                           "start": prep.time[first], "end": prep.time[last],
                           "n_points": prep.seg_count, **limits_extra})

    # assurance per phase: the target outside the limits at every point of the phase
    tg = _per_group_target(target, names, file)
    tp = tg[prep.gcode]
    above = np.bincount(prep.seg, weights=tp > upper, minlength=segs) == prep.seg_count
    below = np.bincount(prep.seg, weights=tp < lower, minlength=segs) == prep.seg_count
    gs = good[prep.seg_group]
    passes, fails = np.where(gs > 0, below, above), np.where(gs > 0, above, below)
    as_code = np.where(passes, 0, np.where(fails, 1, 2))
    as_code[(gs == 0) | np.isnan(tg[prep.seg_group])] = -1
    as_names = np.asarray(ASSURANCE_CLASSES + (None,), dtype=object)
    seg_assurance = as_names[as_code]
    assurance = pd.DataFrame({"group": limits["group"], "phase": limits["phase"],
                              "target": tg[prep.seg_group],
                              "assurance": pd.Series(seg_assurance, dtype=object)})

    overview = _overview(prep, y, mean, upper, lower, code, direction_high, special,
                         tg, seg_assurance, good, chart, options)
    return SPCResult(chart=chart, limits=limits, points=points, assurance=assurance,
                     overview=overview, options=options, warnings=prep.warnings)


def _overview(prep, y, mean, upper, lower, code, direction_high, special, tg,
              seg_assurance, good, chart, options) -> pd.DataFrame:
    names, gcode = prep.group_names, prep.gcode
    gfirst = _first_of_groups(gcode)
    glast = np.r_[gfirst[1:], gcode.size] - 1
    counts = np.bincount(gcode, minlength=names.size)
    n_special = np.bincount(gcode, weights=special, minlength=names.size).astype(int)
    n_imp = np.bincount(gcode, weights=code == 1, minlength=names.size).astype(int)
    n_con = np.bincount(gcode, weights=code == 2, minlength=names.size).astype(int)
    n_phases = prep.phase[glast]
    lc = code[glast]
    side = np.where(direction_high[glast], "high", "low")
    kind = np.asarray(["common_cause", "improvement", "concern", "neither"], dtype=object)[lc]
    icon = np.where(lc == 0, "common_cause", kind + "_" + side.astype(object))
    variation = np.asarray(VARIATION_CLASSES, dtype=object)[lc]
    assurance = seg_assurance[prep.seg[glast]]
    as_icon = assurance.copy()
    ov = pd.DataFrame({
        "group": names, "n_points": counts, "n_phases": n_phases,
        "start": prep.time[gfirst], "end": prep.time[glast], "latest_value": y[glast],
        "mean": mean[glast], "lower": lower[glast], "upper": upper[glast],
        "n_special_cause": n_special, "n_improvement": n_imp, "n_concern": n_con,
        "variation": variation, "variation_icon": icon,
        "variation_label": pd.Series(icon).map(VARIATION_ICONS).to_numpy(),
        "target": tg, "assurance": pd.Series(assurance, dtype=object),
        "assurance_icon": pd.Series(as_icon, dtype=object),
        "assurance_label": pd.Series(as_icon, dtype=object).map(ASSURANCE_ICONS)
                             .astype(object),
    })
    ov["sentence"] = _sentences(ov, lc, side, good, chart, options)
    return ov


_format_numbers = np.frompyfunc(fmt_number, 1, 1)


def _sentences(ov: pd.DataFrame, lc, side, good, chart, options) -> np.ndarray:
    """One plain-English sentence per group, built column-wise on object arrays."""
    def num(col: str) -> np.ndarray:
        return _format_numbers(ov[col].to_numpy(dtype=float))

    name = _CHART_NAMES.get(chart, chart)
    varying = chart != "xmr"  # p- and u-chart limits differ from point to point
    value = str(options.get("value", "value")).replace("_", " ")
    kind = options.get("time_kind")
    who = (ov["group"].astype(str).to_numpy(dtype=object) + ": on"
           if options.get("group") is not None else "On")
    latest = np.frompyfunc(lambda v: label(v, kind), 1, 1)(ov["end"].to_numpy(dtype=object))
    better = np.where(good > 0, "higher", "lower").astype(object)
    worse = np.where(good > 0, "lower", "higher").astype(object)
    var = np.select(
        [lc == 0, lc == 1, lc == 2, np.asarray(side) == "high"],
        ["common cause variation, with no signal of change",
         "special cause variation of an improving nature (" + better + " values)",
         "special cause variation of a concerning nature (" + worse + " values)",
         "special cause variation (higher than expected)"],
        default="special cause variation (lower than expected)").astype(object)
    text = (who + f" the {name} of {value}, the latest point (" + latest + ") shows "
            + var + "; the mean is " + num("mean") + " with process limits "
            + num("lower") + " to " + num("upper")
            + (" at that point." if varying else "."))
    meets = np.where(good > 0, "below the lower", "above the upper").astype(object)
    misses = np.where(good > 0, "above the upper", "below the lower").astype(object)
    every = " at every point of the latest phase" if varying else ""
    some = " at some points of the latest phase" if varying else ""
    assurance = ov["assurance"].to_numpy(dtype=object)
    assure = np.select(
        [assurance == "pass", assurance == "fail", assurance == "hit_and_miss"],
        [" is " + meets + f" process limit{every}, so the process will consistently meet "
         "it.",
         " is " + misses + f" process limit{every}, so the process will consistently miss "
         "it unless something changes.",
         f" lies within the process limits{some}, so the process will sometimes meet and "
         "sometimes miss it."], default="").astype(object)
    has = assure != ""
    text[has] = text[has] + " The target of " + num("target")[has] + assure[has]
    no_dir = ov["target"].notna().to_numpy() & (good == 0)
    text[no_dir] = text[no_dir] + (" A target was given but no improvement direction, so "
                                   "there is no assurance class.")
    return text
