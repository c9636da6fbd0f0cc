"""The tables behind a report's words, as ``results.json`` publishes them.

The evidence summary's engagement section shows MDT attendance by profession, the staff
survey, its reliability, network maturity, continuity of care, and the SPC charts and funnel
plot in words. Every number it shows must come from a result record, so ``results.json``
holds these tables too, under the same disclosure control as the report: a count the rules
hide is ``null``, and so is every share or rate from which it could be worked out
(:func:`evalkit.evidence.disclosure.share_hidden`). Counts of organisations are not people and are
kept; per-unit referral counts are not published (a unit's rate times its list size gives
its count back), only the funnel's summary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evalkit.evidence.disclosure import DisclosureRules, proportions, share_hidden, small_counts
from evalkit.results import jsonable

__all__ = ["engagement_tables", "published_frames", "PUBLISHED_FRAMES"]

#: The result frames of each design that the report shows as tables or states in words,
#: published in ``results.json`` beside the effects (none holds a count of people).
PUBLISHED_FRAMES = {
    "economic": ("net_cost", "scheme_costs", "evpi", "one_way"),
    "matched": ("balance",),
    "synthetic_control": ("weights", "predictors", "rmspe"),
}


def _records(frame: pd.DataFrame, hidden: dict[str, np.ndarray] | None = None
             ) -> list[dict[str, Any]]:
    out = frame.copy()
    for column, mask in (hidden or {}).items():
        out[column] = out[column].astype(object).where(~np.asarray(mask, dtype=bool), None)
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m")
    return [jsonable(r) for r in out.to_dict(orient="records")]


def published_frames(design: str, result) -> dict[str, Any]:
    """``{"tables": {name: records}}`` for the frames of :data:`PUBLISHED_FRAMES` that a
    result has, or ``{}``."""
    names = [n for n in PUBLISHED_FRAMES.get(design, ()) if n in result.frames]
    if not names:
        return {}
    tables = {}
    for name in names:
        frame = result.frames[name]
        if frame.index.name is not None:
            frame = frame.reset_index()
        tables[name] = _records(frame)
    return {"tables": tables}


def _limits(chart) -> list[dict[str, Any]]:
    """Each phase's centre line and limits, then the latest point's (a u-chart's limits
    move with the denominator: the report states those at the latest point too)."""
    cols = ["phase", "start", "end", "n_points", "mean", "lower", "upper"]
    rows = _records(chart.limits[[c for c in cols if c in chart.limits]])
    latest = ["latest_value", "mean", "lower", "upper", "n_special_cause", "n_improvement",
              "n_concern"]
    ov = chart.overview
    rows += [{"phase": "latest", **r} for r in _records(ov[[c for c in latest if c in ov]])]
    return rows


def engagement_tables(profile, rules: DisclosureRules | None = None
                      ) -> dict[str, list[dict[str, Any]]]:
    """The engagement section's tables, each a list of JSON records.

    Parameters
    ----------
    profile
        An :class:`~evalkit.engagement.profile.EngagementProfile`.
    rules
        The disclosure rules (default: NHS HES small numbers, as the report's).

    Returns
    -------
    dict
        ``mdt``, ``survey``, ``reliability``, ``maturity``, ``maturity_blocks``,
        ``continuity``, ``outcome_spc``, ``referral_spc`` and ``funnel``, for the parts the
        profile has.
    """
    rules = rules or DisclosureRules()
    out: dict[str, list[dict[str, Any]]] = {}
    ind = profile.indices
    if ind is not None and "mdt" in ind.frames:
        mdt = ind.frames["mdt"].reset_index(drop=True)
        res = proportions(mdt["attended"], mdt["invited"], mdt["profession"], rules=rules)
        hide = res.suppressed["numerator"].to_numpy()[:-1]
        den = res.suppressed["denominator"].to_numpy()[:-1]
        out["mdt"] = _records(mdt[["profession", "invited", "attended", "rate", "ci_low",
                                   "ci_high"]],
                              {"attended": hide, "invited": den, "rate": hide,
                               "ci_low": hide, "ci_high": hide})
    if profile.survey is not None:
        sv = profile.survey.to_frame().reset_index(drop=True)
        hide = sv["hidden"].to_numpy(bool) | share_hidden(sv["agree"], sv["respondents"],
                                                          rules)
        cols = [c for c in ("item", "wave", "respondents", "agree", "share", "ci_low",
                            "ci_high") if c in sv]
        out["survey"] = _records(sv[cols], {"agree": hide, "share": hide, "ci_low": hide,
                                            "ci_high": hide,
                                            "respondents": small_counts(sv["respondents"],
                                                                        rules)})
    if profile.reliability is not None:
        rel = profile.reliability.to_frame()
        out["reliability"] = _records(rel[[c for c in ("wave", "alpha", "ci_low", "ci_high",
                                                       "respondents", "items") if c in rel]])
    if profile.maturity is not None:
        m = profile.maturity
        out["maturity"] = _records(m.overall[["network", "wave", "score",
                                              "change_from_first"]])
        blocks = m.to_frame().groupby(["label", "wave"], sort=False)["score"].mean() \
            .unstack("wave")
        first, last = m.waves[0], m.waves[-1]
        blocks = blocks.assign(change=blocks[last] - blocks[first]).reset_index()
        out["maturity_blocks"] = _records(blocks)
        out["maturity_by_network"] = _records(m.to_frame()[["network", "wave", "label",
                                                            "score", "change_from_first"]])
    if profile.continuity is not None:
        g = profile.continuity.groups.reset_index(drop=True)
        hide = small_counts(g["n_eligible"], rules)
        cols = ["group", "n_eligible", "upc_mean", "coc_mean", "secon_mean"]
        out["continuity"] = _records(g[cols], {c: hide for c in cols[1:]})
    if profile.outcome_spc is not None:
        out["outcome_spc"] = _limits(profile.outcome_spc)
    if profile.referral_spc is not None:
        out["referral_spc"] = _limits(profile.referral_spc)
    if profile.funnel is not None:
        f = profile.funnel
        flags = f.units["flag"].astype(str)
        out["funnel"] = [jsonable({
            "target": f.target, "phi": f.phi, "tau2": f.tau2, "n_units": len(f.units),
            "above_95": int(flags.str.startswith("above").sum()),
            "below_95": int(flags.str.startswith("below").sum()),
            "above_998": int((flags == "above 99.8%").sum()),
            "below_998": int((flags == "below 99.8%").sum())})]
    return out
