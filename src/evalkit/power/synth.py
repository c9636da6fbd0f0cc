"""Power and the minimum detectable effect of a synthetic control, from the placebo
distribution of gaps.

Every donor is refitted as if it were treated (placebo in space, as
:func:`evalkit.synthetic_control` does for its rank p-value). No donor was treated, so
each placebo's mean gap over the first ``h`` post-period periods is a draw of the
estimate under no effect; their root mean square (over the placebos whose pre-period fit
passes the design's RMSPE screen) is the standard error under no effect, and the MDE is
``(z_{1-alpha/2} + z_power)`` times it. The curve runs as far as the observed
post-period. The rank test cannot reach ``alpha`` at all with fewer than
``1 / alpha - 1`` placebos, whatever the effect; the result then says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.inputs import takes_frame
from evalkit.power.mde import FOLLOWUPS, power_at
from evalkit.power.result import PowerResult, mde_columns

__all__ = ["synth_mde", "gap_curve"]


def gap_curve(gaps: pd.DataFrame, post_times: Sequence[Any], followups: Sequence[int]
              ) -> pd.DataFrame:
    """Root mean square of the placebos' mean post-period gaps, by follow-up length.

    ``gaps`` has ``unit``, ``time`` and ``gap`` (one row a placebo and period)."""
    order = {t: i for i, t in enumerate(post_times)}
    post = gaps[gaps["time"].isin(order)]
    wide = post.pivot_table(index="unit", columns="time", values="gap")
    wide = wide[[t for t in post_times if t in wide.columns]].to_numpy(float)
    csum = np.cumsum(wide, axis=1)
    rows = []
    for h in followups:
        if h > wide.shape[1] or wide.shape[0] == 0:
            continue
        means = csum[:, h - 1] / h
        rows.append({"followup": h, "se": float(np.sqrt(np.mean(means**2))),
                     "n_draws": int(means.size)})
    return pd.DataFrame(rows, columns=["followup", "se", "n_draws"])


@takes_frame
def synth_mde(data: pd.DataFrame, *, followup: int = 12,
              followups: Sequence[int] = FOLLOWUPS, effect: float | None = None,
              alpha: float = 0.05, power: float = 0.8, result=None,
              **options: Any) -> PowerResult:
    """MDE and power of a synthetic control from its placebo gaps.

    Parameters
    ----------
    data
        As for :func:`evalkit.synthetic_control`.
    followup, followups
        The planned follow-up and the curve's follow-up lengths (up to the observed
        post-period).
    effect
        A gap (outcome units) to give the power for.
    alpha, power
        Two-sided level and target power.
    result
        A synthetic-control result already fitted with placebos (saves refitting).
    **options
        The options of :func:`evalkit.synthetic_control` (``outcome``, ``unit``, ...).

    Returns
    -------
    PowerResult
    """
    from evalkit.designs.synthetic_control import synthetic_control

    if result is None:
        result = synthetic_control(data, placebos=True, **options)
    frames = result.frames
    rm = frames["rmspe"]
    keep = set(rm.loc[rm["included"] & ~rm["treated"], "unit"].astype(str))
    plac = frames["placebos"].assign(unit=lambda f: f["unit"].astype(str))
    plac = plac[plac["unit"].isin(keep)]
    path = frames["path"]
    # The post-period in time order, from the treated unit's path (period labels are
    # text, and "3" sorts after "25").
    post_times = [str(t) for t in path.loc[path["post"].astype(bool), "time"]]
    plac = plac.assign(time=plac["time"].astype(str))
    curve = gap_curve(plac, post_times, sorted({int(h) for h in followups} | {followup}))
    pre = plac[~plac["time"].isin(set(post_times))]
    level = float(path.loc[~path["post"].astype(bool), "treated"].tail(12).mean())
    cols = mde_columns(curve["se"].to_numpy(), scale="difference", baseline=level,
                       alpha=alpha, power=power)
    curve = pd.concat([curve[["followup"]], pd.DataFrame(cols), curve[["n_draws"]]], axis=1)
    warnings = []
    n = len(keep)
    if (n + 1) * alpha < 1:
        warnings.append(f"With {n} placebos the rank p-value cannot fall below "
                        f"1/{n + 1} = {1 / (n + 1):.3f}: no effect, however large, is "
                        f"significant at {alpha:g} by the rank test.")
    if followup not in set(curve["followup"]):
        warnings.append(f"The observed post-period is shorter than the planned follow-up of "
                        f"{followup}; the MDE is given at the longest observed.")
        followup = int(curve["followup"].max()) if len(curve) else None
    planned_se = float(curve.loc[curve["followup"] == followup, "se"].iloc[0]) \
        if followup is not None else np.nan
    return PowerResult(
        design="synthetic_control", outcome=str(result.options["outcome"]),
        scale="difference", curve=curve, followup=followup,
        method=f"placebo-in-space gaps ({n} donors refitted as if treated)",
        effect=effect,
        power=None if effect is None else float(power_at(effect, planned_se, alpha)),
        alpha=alpha, target_power=power, baseline=level,
        diagnostics={"n_units": n + 1, "n_placebos": n,
                     "pre_rmse_placebos": float(np.sqrt(np.mean(pre["gap"] ** 2)))
                     if len(pre) else np.nan},
        warnings=tuple(warnings))
