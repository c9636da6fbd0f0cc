"""Sensitivity of a meta-analysis: leave-one-out, influence and Egger's test.

:func:`leave_one_out`
    The pooled estimate, its interval, ``tau2``, ``I2``, ``H2`` and ``Q`` with each scheme
    omitted in turn, refitted with the same method and interval (for a meta-regression
    result: of the model without moderators).

:func:`influence`
    Case-deletion diagnostics of Viechtbauer and Cheung (2010), for the fitted model (the
    meta-regression when there are moderators). With ``b_(-i)``, ``tau2_(-i)`` and
    ``s2w_(-i)`` from the fit without scheme ``i`` (``s2w`` is 1, or the HKSJ variance
    multiplier with ``hksj=True``), and ``h_i = w_i x_i' (X'WX)^-1 x_i`` the hat value
    of the full model:

    - ``rstudent`` (externally studentised residual):
      ``(y_i - x_i b_(-i)) / sqrt(s2w_(-i) (v_i + tau2_(-i)) + x_i V_(-i) x_i')``;
    - ``dffits``: ``(x_i b - x_i b_(-i)) / sqrt(s2w_(-i) h_i (tau2_(-i) + v_i))``;
    - ``cooks_distance``: ``(b - b_(-i))' V^-1 (b - b_(-i))`` with ``V`` the full model's
      covariance;
    - ``cov_ratio``: ``det V_(-i) / det V``;
    - ``dfbetas_<term>``: ``(b - b_(-i)) / sqrt(s2w_(-i) diag((X' W_(-i) X)^-1))`` with
      ``W_(-i) = diag(1 / (v + tau2_(-i)))`` over all schemes;
    - ``tau2_deleted``, ``q_deleted``, ``hat`` and ``weight`` (percent).

    A scheme is flagged ``influential`` as in metafor: ``|dffits| > 3 sqrt(p / (k - p))``,
    or the chi-square (``p`` df) probability of Cook's distance above 0.5, or
    ``hat > 3 p / k``, or any ``|dfbetas| > 1``.

:func:`egger_test`
    Egger et al.'s (1997) regression test for funnel-plot asymmetry: ordinary least
    squares of ``y_i / se_i`` on ``1 / se_i``; the intercept measures asymmetry (t test on
    ``k - 2`` df) and the slope is the effect "as the standard error goes to zero". This
    is metafor's ``regtest(model="lm")`` (a weighted regression of ``y`` on ``se`` with
    multiplicative dispersion). It has little power with fewer than 10 schemes (Sterne et
    al., 2011) and needs at least 3. It ignores moderators.

References
----------
Viechtbauer W, Cheung MWL (2010). Outlier and influence diagnostics for meta-analysis.
*Res Synth Methods* 1:112-125.
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a
simple, graphical test. *BMJ* 315:629-634.
Sterne JAC, Sutton AJ, Ioannidis JPA, et al. (2011). Recommendations for examining and
interpreting funnel plot asymmetry in meta-analyses of randomised controlled trials.
*BMJ* 343:d4002.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.errors import DesignError
from evalkit.synthesis.model import _p, fit_model
from evalkit.synthesis.result import MetaResult

__all__ = ["leave_one_out", "influence", "egger_test", "EggerResult", "loo_table",
           "EGGER_POWER_WARNING"]

EGGER_POWER_WARNING = (
    "Egger's test has little power with fewer than 10 schemes (Sterne et al., 2011): a "
    "non-significant result does not show that small-study effects are absent.")
_ASYMMETRY_CAVEAT = (
    "Funnel-plot asymmetry is not proof of publication or reporting bias: smaller schemes "
    "can differ for real reasons (what they did, who they served), and heterogeneity alone "
    "can produce it.")
_GRID = 60


def _check(result) -> None:
    if not isinstance(result, MetaResult):
        raise DesignError(f"this needs a meta_analysis result, not {type(result).__name__}",
                          fix="run ek.meta_analysis(...) first")


def loo_table(y: np.ndarray, v: np.ndarray, labels: Sequence[str], *, method: str,
              hksj: bool, hksj_floor: bool = False, conf_level: float = 0.95,
              ratio: bool = False) -> pd.DataFrame:
    """Leave-one-out refits of the intercept-only model (see :func:`leave_one_out`)."""
    back = np.exp if ratio else (lambda x: x)
    k = len(y)
    z = float(stats.norm.ppf(1 - (1 - conf_level) / 2))
    rows = []
    keep = ~np.eye(k, dtype=bool)
    for i in range(k):
        yi, vi = y[keep[i]], v[keep[i]]
        if k - 1 < 2:
            m, s = float(yi[0]), math.sqrt(float(vi[0]))
            rows.append({"omitted": labels[i], "y": m, "se": s, "estimate": float(back(m)),
                         "ci_low": float(back(m - z * s)), "ci_high": float(back(m + z * s)),
                         "p_value": float(2 * stats.norm.sf(abs(m / s))), "tau2": math.nan,
                         "i2": math.nan, "h2": math.nan, "q": math.nan, "q_p": math.nan})
            continue
        f = fit_model(yi, vi, method=method, hksj=hksj, hksj_floor=hksj_floor,
                      conf_level=conf_level)
        rows.append({"omitted": labels[i], "y": float(f.beta[0]), "se": float(f.se[0]),
                     "estimate": float(back(f.beta[0])), "ci_low": float(back(f.ci_low[0])),
                     "ci_high": float(back(f.ci_high[0])), "p_value": float(f.p_value[0]),
                     "tau2": f.tau2, "i2": f.i2, "h2": f.h2, "q": f.q, "q_p": f.q_p})
    return pd.DataFrame(rows)


def _inputs(result: MetaResult) -> tuple[np.ndarray, np.ndarray, list[str]]:
    s = result.frames["studies"]
    return (s["y"].to_numpy(float), s["v"].to_numpy(float), s["label"].astype(str).tolist())


def leave_one_out(result: MetaResult) -> pd.DataFrame:
    """The pooled estimate with each scheme omitted in turn.

    Parameters
    ----------
    result
        A :func:`~evalkit.synthesis.meta_analysis.meta_analysis` result.

    Returns
    -------
    pandas.DataFrame
        One row per omitted scheme: ``omitted``, ``y`` and ``se`` (analysis scale),
        ``estimate``, ``ci_low``, ``ci_high`` (reported scale), ``p_value``, ``tau2``,
        ``i2`` (percent), ``h2``, ``q``, ``q_p``, and ``change`` (the estimate minus the
        full pooled estimate, analysis scale).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.synthesis.meta_analysis import meta_analysis
    >>> d = pd.DataFrame({"estimate": [0.1, 0.3, 0.2, 0.5], "se": [0.1, 0.1, 0.2, 0.15]})
    >>> len(leave_one_out(meta_analysis(d, se="se")))
    4
    """
    _check(result)
    y, v, labels = _inputs(result)
    out = loo_table(y, v, labels, method=result.method, hksj=result.hksj,
                    hksj_floor=bool(result.options.get("hksj_floor")),
                    conf_level=result.conf_level, ratio=result.is_ratio)
    out["change"] = out["y"] - result.mu
    return out


def influence(result: MetaResult) -> pd.DataFrame:
    """Case-deletion influence diagnostics (Viechtbauer and Cheung, 2010).

    Parameters
    ----------
    result
        A meta-analysis result (with moderators: diagnostics of the meta-regression).

    Returns
    -------
    pandas.DataFrame
        One row per scheme: ``label``, ``rstudent``, ``dffits``, ``cooks_distance``,
        ``cov_ratio``, ``tau2_deleted``, ``q_deleted``, ``hat``, ``weight`` (percent),
        ``dfbetas_<term>`` for each coefficient, and ``influential`` (see the module
        notes).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.synthesis.meta_analysis import meta_analysis
    >>> d = pd.DataFrame({"estimate": [0.1, 0.3, 0.2, 1.5], "se": [0.1, 0.1, 0.2, 0.15]})
    >>> inf = influence(meta_analysis(d, se="se"))
    >>> str(inf.loc[inf["cooks_distance"].idxmax(), "label"])
    'row 5'
    """
    _check(result)
    y, v, labels = _inputs(result)
    reg = result.regression
    if reg is not None:
        X = reg.design_matrix.to_numpy(float)
        names = list(reg.design_matrix.columns)
    else:
        X, names = np.ones((len(y), 1)), ["intercept"]
    k, p = X.shape
    if k - 1 <= p:
        raise DesignError(f"influence needs more than {p + 1} schemes for {p} coefficient(s)",
                          fix="add schemes")
    method, hksj = result.method, result.hksj
    floor = bool(result.options.get("hksj_floor"))
    full = fit_model(y, v, X, method=method, hksj=hksj, hksj_floor=floor,
                     conf_level=result.conf_level)
    hat = full.weights * np.einsum("ij,jk,ik->i", X, full.vb, X)
    keep = ~np.eye(k, dtype=bool)
    V_inv = np.linalg.inv(full.vb_used)
    det_full = np.linalg.det(full.vb_used)
    cols = {c: np.full(k, np.nan) for c in ("rstudent", "dffits", "cooks_distance",
                                            "cov_ratio", "tau2_deleted", "q_deleted")}
    dfbetas = np.full((k, p), np.nan)
    for i in range(k):
        d = fit_model(y[keep[i]], v[keep[i]], X[keep[i]], method=method, hksj=hksj,
                      hksj_floor=floor, conf_level=result.conf_level)
        s2w = d.hksj_scale if hksj else 1.0
        xi = X[i]
        pred_del = float(xi @ d.beta)
        resid = y[i] - pred_del
        cols["rstudent"][i] = resid / math.sqrt(s2w * (v[i] + d.tau2)
                                                + float(xi @ d.vb_used @ xi))
        cols["dffits"][i] = (float(xi @ full.beta) - pred_del) / math.sqrt(
            s2w * hat[i] * (d.tau2 + v[i]))
        diff = full.beta - d.beta
        cols["cooks_distance"][i] = float(diff @ V_inv @ diff)
        cols["cov_ratio"][i] = np.linalg.det(d.vb_used) / det_full
        cols["tau2_deleted"][i] = d.tau2
        cols["q_deleted"][i] = d.q
        w_del = 1.0 / (v + d.tau2)
        vb_del = np.linalg.inv(X.T @ (X * w_del[:, None]))
        dfbetas[i] = diff / np.sqrt(s2w * np.diag(vb_del))
    out = pd.DataFrame({"label": labels, **cols, "hat": hat,
                        "weight": 100 * full.weights / full.weights.sum()})
    for j, name in enumerate(names):
        out[f"dfbetas_{name}"] = dfbetas[:, j]
    out["influential"] = ((np.abs(out["dffits"]) > 3 * math.sqrt(p / (k - p)))
                          | (stats.chi2.cdf(out["cooks_distance"], p) > 0.5)
                          | (out["hat"] > 3 * p / k)
                          | (np.abs(dfbetas) > 1).any(axis=1))
    return out


@dataclass(frozen=True)
class EggerResult:
    """Egger's regression test for funnel-plot asymmetry.

    Attributes
    ----------
    intercept, intercept_se, t, df, p_value
        The asymmetry intercept of ``y / se`` on ``1 / se`` and its t test.
    slope, slope_ci
        The slope: the effect as the standard error goes to zero (analysis scale; log for
        ratios).
    k
        The number of schemes.
    warnings
        The power warning (fewer than 10 schemes) and the caveat that asymmetry is not
        proof of bias.
    line
        For the funnel plot: ``se`` and ``effect`` (reported scale) of the fitted line
        ``effect = slope + intercept * se``.
    """

    intercept: float
    intercept_se: float
    t: float
    df: int
    p_value: float
    slope: float
    slope_se: float
    slope_ci: tuple[float, float]
    k: int
    conf_level: float
    ratio: bool
    line: pd.DataFrame
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """Plain text: the test, then the warnings."""
        back = math.exp if self.ratio else (lambda x: x)
        lines = [f"Egger's regression test ({self.k} schemes): intercept "
                 f"{self.intercept:.4g} (SE {self.intercept_se:.4g}), t = {self.t:.3f} on "
                 f"{self.df} df, {_p(self.p_value)}",
                 f"Effect as the standard error goes to zero: {back(self.slope):.4g} "
                 f"({self.conf_level:.0%} CI {back(self.slope_ci[0]):.4g} to "
                 f"{back(self.slope_ci[1]):.4g})"]
        lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row: the test's numbers."""
        return pd.DataFrame([{"intercept": self.intercept, "intercept_se": self.intercept_se,
                              "t": self.t, "df": self.df, "p_value": self.p_value,
                              "slope": self.slope, "slope_se": self.slope_se,
                              "slope_ci_low": self.slope_ci[0],
                              "slope_ci_high": self.slope_ci[1], "k": self.k}])

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The fitted line (a copy)."""
        return {"line": self.line.copy()}


def egger_test(result: MetaResult) -> EggerResult:
    """Egger's regression test for funnel-plot asymmetry (small-study effects).

    Parameters
    ----------
    result
        A meta-analysis result (moderators are ignored).

    Returns
    -------
    EggerResult

    Raises
    ------
    DesignError
        Fewer than 3 schemes (the regression would have no residual degrees of freedom).

    Examples
    --------
    >>> import pandas as pd
    >>> from evalkit.synthesis.meta_analysis import meta_analysis
    >>> d = pd.DataFrame({"estimate": [0.1, 0.3, 0.2, 0.5, 0.4],
    ...                   "se": [0.05, 0.1, 0.08, 0.2, 0.15]})
    >>> eg = egger_test(meta_analysis(d, se="se"))
    >>> eg.df
    3
    """
    _check(result)
    y, v, _ = _inputs(result)
    k = len(y)
    if k < 3:
        raise DesignError(f"Egger's test needs at least 3 schemes; this meta-analysis has {k}",
                          fix="with so few schemes, asymmetry cannot be tested: describe the "
                              "schemes instead")
    s = np.sqrt(v)
    Z = np.column_stack([np.ones(k), 1.0 / s])
    beta, *_ = np.linalg.lstsq(Z, y / s, rcond=None)
    resid = y / s - Z @ beta
    df = k - 2
    sigma2 = float(resid @ resid) / df
    cov = sigma2 * np.linalg.inv(Z.T @ Z)
    se_b = np.sqrt(np.diag(cov))
    t = float(beta[0] / se_b[0])
    crit = float(stats.t.ppf(1 - (1 - result.conf_level) / 2, df))
    warns = [EGGER_POWER_WARNING] if k < 10 else []
    warns.append(_ASYMMETRY_CAVEAT)
    back = np.exp if result.is_ratio else (lambda x: x)
    grid = np.linspace(0.0, float(s.max()) * 1.08, _GRID)
    line = pd.DataFrame({"se": grid, "effect": back(beta[1] + beta[0] * grid)})
    return EggerResult(intercept=float(beta[0]), intercept_se=float(se_b[0]), t=t, df=df,
                       p_value=float(2 * stats.t.sf(abs(t), df)), slope=float(beta[1]),
                       slope_se=float(se_b[1]),
                       slope_ci=(float(beta[1] - crit * se_b[1]),
                                 float(beta[1] + crit * se_b[1])),
                       k=k, conf_level=result.conf_level, ratio=result.is_ratio, line=line,
                       warnings=tuple(warns))
