"""Covariate balance: standardised mean differences, variance ratios, ESS, Love frame.

MatchIt's conventions for the ATT: the SMD denominator is the treated group's standard
deviation before matching (``sqrt(p(1 - p))`` for two-valued variables), the same
before and after; weighted variances use the reliability-weights divisor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalkit.designs._cohort import _covariates, _treatment
from evalkit.errors import DesignError


def _wmean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w @ x) / w.sum()


def _wvar(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted variance with the reliability-weights divisor (n - 1 for equal weights)."""
    m = _wmean(x, w)
    sw = w.sum()
    denom = sw - (w @ w) / sw
    return (w @ (x - m) ** 2) / denom if denom > 0 else np.full(x.shape[1], np.nan)


def _wks(x: np.ndarray, t: np.ndarray, w: np.ndarray) -> float:
    """Weighted Kolmogorov-Smirnov statistic: the largest gap between the groups' ECDFs."""
    keep = w > 0
    x, t, w = x[keep], t[keep], w[keep]
    order = np.argsort(x, kind="stable")
    xs, ts, ws = x[order], t[order], w[order]
    ft = np.cumsum(np.where(ts, ws, 0.0)) / ws[ts].sum()
    fc = np.cumsum(np.where(ts, 0.0, ws)) / ws[~ts].sum()
    last = np.r_[xs[1:] != xs[:-1], True]  # evaluate after each run of ties
    return float(np.abs(ft[last] - fc[last]).max())


def _smd_denominator(B: np.ndarray, binary: np.ndarray, t: np.ndarray) -> np.ndarray:
    """SD of the treated before matching (two-valued variables: sqrt(p(1-p)));
    the pooled SD where the treated do not vary."""
    Bt = B[t]
    sd = np.where(binary, Bt.std(0, ddof=0), Bt.std(0, ddof=1))
    pooled = np.sqrt((Bt.var(0, ddof=1) + B[~t].var(0, ddof=1)) / 2)
    return np.where(sd > 0, sd, np.where(pooled > 0, pooled, 1.0))


def _balance(B: np.ndarray, names: list[str], binary: np.ndarray, t: np.ndarray,
             w: np.ndarray) -> pd.DataFrame:
    """The balance table (see :func:`balance_table`)."""
    ones = np.ones(len(t))
    denom = _smd_denominator(B, binary, t)
    out: dict[str, Any] = {}
    for stage, ww in (("before", ones), ("after", w)):
        wt, wc = ww[t], ww[~t]
        mt, mc = _wmean(B[t], wt), _wmean(B[~t], wc)
        vr = _wvar(B[t], wt) / _wvar(B[~t], wc)
        out[stage] = dict(mt=mt, mc=mc, smd=(mt - mc) / denom,
                          vr=np.where(binary, np.nan, vr),
                          ks=np.array([_wks(B[:, j], t, ww) for j in range(B.shape[1])]))
    b, a = out["before"], out["after"]
    table = pd.DataFrame({
        "type": np.where(binary, "binary", "continuous"),
        "mean_treated": b["mt"], "mean_control_before": b["mc"],
        "mean_treated_after": a["mt"], "mean_control_after": a["mc"],
        "smd_before": b["smd"], "smd_after": a["smd"],
        "variance_ratio_before": b["vr"], "variance_ratio": a["vr"],
        "ks_before": b["ks"], "ks_after": a["ks"], "sd_denominator": denom,
    }, index=pd.Index(names, name="covariate"))
    return table


def balance_table(data: pd.DataFrame, *, treated: str, covariates: Sequence[str],
                  weights: pd.Series | np.ndarray | None = None,
                  file: str | None = None) -> pd.DataFrame:
    """Covariate balance between treated and comparison units, before and after weights.

    Parameters
    ----------
    data
        One row per unit.
    treated
        The 0/1 treatment column.
    covariates
        Columns to check; categorical ones are shown one row per level (``"var=level"``).
    weights
        Matching or balancing weights aligned with ``data`` (all 1 when omitted).
    file
        For messages.

    Returns
    -------
    DataFrame
        Indexed by covariate: ``type`` (binary or continuous), ``mean_treated`` (before),
        ``mean_control_before``, ``mean_treated_after``, ``mean_control_after``,
        ``smd_before``, ``smd_after`` (standardised by the SD of the treated before
        matching; ``sqrt(p(1-p))`` for binary variables; MatchIt's ATT convention),
        ``variance_ratio_before``, ``variance_ratio`` (after; treated over control
        weighted variances; NaN for binary variables), ``ks_before``, ``ks_after``
        (weighted Kolmogorov-Smirnov statistics) and ``sd_denominator``.
    """
    file = file or data.attrs.get("source")
    t = _treatment(data, treated, file)
    cov = _covariates(data, covariates, file)
    if weights is None:
        w = np.ones(len(data))
    elif isinstance(weights, pd.Series):
        w = weights.reindex(data.index).to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float)
    if w.shape != (len(data),) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise DesignError("weights must be one finite, non-negative number per row of the "
                          "data", fix="pass MatchResult.weights, or a Series on the data's "
                          "index")
    return _balance(cov.balance, cov.balance_names, cov.binary, t, w)


def _love(balance: pd.DataFrame) -> pd.DataFrame:
    """Long frame for the Love plot: covariate, stage, smd."""
    long = balance[["smd_before", "smd_after"]].rename(
        columns={"smd_before": "before", "smd_after": "after"}).reset_index()
    long = long.melt(id_vars="covariate", var_name="stage", value_name="smd")
    return long.sort_values(["stage"], key=lambda s: s.map({"before": 0, "after": 1}),
                            kind="stable").reset_index(drop=True)


def _ess(w: np.ndarray) -> float:
    """Kish's effective sample size of the positive weights."""
    w = w[w > 0]
    return float(w.sum() ** 2 / (w @ w)) if w.size else 0.0
