"""Mixed-effects meta-regression: do scheme effects vary with scheme characteristics?

The model is ``y = X b + u + e`` with ``u_i ~ N(0, tau2)`` (the residual heterogeneity,
left unexplained by the moderators) and ``e_i ~ N(0, v_i)``. ``tau2`` is estimated by the
chosen method on the residuals (REML by default; DerSimonian-Laird and Paule-Mandel in
their generalised forms with ``k - p`` degrees of freedom), and ``b`` by weighted least
squares with weights ``1 / (v_i + tau2)`` (Raudenbush, 2009; Viechtbauer, 2010).

Reported
    - coefficients with standard errors, Wald z (or, with ``hksj=True``, Knapp-Hartung t
      on ``k - p`` df, the variance multiplied by ``sum w_i e_i^2 / (k - p)``) intervals;
    - ``tau2`` (residual), its Q-profile interval, residual ``I2`` and ``H2`` (with the
      typical sampling variance ``s2 = (k - p) / tr(P_0)``);
    - ``R2``, the percentage of the total ``tau2`` (of the model without moderators, same
      method) that the moderators account for: ``max(0, 100 (tau2_0 - tau2) / tau2_0)``
      (Raudenbush, 2009); NaN when ``tau2_0 = 0``;
    - ``QM``, the omnibus Wald test of all moderators (chi-square on ``m`` df, or
      ``F = QM / m`` on ``m`` and ``k - p`` df with HKSJ), and one such test for each
      moderator (all the dummies of a categorical one together);
    - ``QE``, the test of residual heterogeneity: Cochran's Q of the fixed-effect
      meta-regression on ``k - p`` df.

Moderators
    Numeric columns enter as they are (a boolean as 0/1). Text or categorical columns
    enter as one dummy per level against a reference level: the first category of a
    pandas ``Categorical``, else the first level in alphabetical order (ignoring case, as R
    does), unless ``reference`` names it. A term is named ``<moderator>`` (numeric) or
    ``<moderator>=<level>``.

For the bubble plot, ``lines`` holds the fitted effect over each numeric moderator's
observed range, with a confidence and a prediction band (``crit * sqrt(se^2 + tau2)``),
the other numeric moderators at their means and categorical ones at their reference.

References
----------
Raudenbush SW (2009). Analyzing effect sizes: random-effects models. In Cooper H, Hedges
LV, Valentine JC (eds), *The Handbook of Research Synthesis and Meta-Analysis*, 2nd ed.
Russell Sage Foundation, 295-315.
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a
single covariate. *Stat Med* 22:2693-2710.
Thompson SG, Higgins JPT (2002). How should meta-regression analyses be undertaken and
interpreted? *Stat Med* 21:1559-1573.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *J Stat
Softw* 36(3):1-48.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.errors import DataError, DesignError
from evalkit.results import EffectRecord
from evalkit.synthesis.model import _need, _p, _rows, fit_model, q_profile

__all__ = ["MetaRegression", "design_matrix", "fit_meta_regression"]

_GRID = 50


@dataclass(frozen=True)
class Term:
    """One column of the design matrix."""

    name: str
    moderator: str
    kind: str              # "intercept", "numeric" or "level"
    level: str | None = None
    reference: str | None = None


def design_matrix(data: pd.DataFrame, moderators: Sequence[str], *,
                  reference: Mapping[str, str] | None = None, file: str | None = None
                  ) -> tuple[np.ndarray, list[Term]]:
    """The meta-regression design matrix (intercept first) and its terms.

    Refuses missing moderator columns, missing values (naming the rows), an unknown
    reference level, and a moderator that does not vary.

    Examples
    --------
    >>> import pandas as pd
    >>> X, terms = design_matrix(pd.DataFrame({"form": ["PCN", "federation", "PCN", "PCN"],
    ...                                        "size": [10.0, 20.0, 30.0, 25.0]}),
    ...                          ["form", "size"])
    >>> [t.name for t in terms]
    ['intercept', 'form=PCN', 'size']
    """
    reference = dict(reference or {})
    unknown = [m for m in reference if m not in moderators]
    if unknown:
        raise DesignError(f"reference levels given for {', '.join(unknown)}, which are not "
                          "moderators", fix="name the reference of a categorical moderator "
                                            "listed in moderators=")
    if not moderators:
        raise DesignError("moderators= names no column", fix="name at least one moderator")
    cols = [np.ones(len(data))]
    terms = [Term("intercept", "intercept", "intercept")]
    for m in moderators:
        _need(data, m, "moderator", file)
        raw = data[m]
        blank = raw.isna().to_numpy()
        if blank.any():
            raise DataError(f"the moderator '{m}' is missing", file=file, column=m,
                            rows=_rows(blank), fix="fill in the moderator for every scheme, "
                                                   "or drop those schemes (or the moderator)")
        categorical = isinstance(raw.dtype, pd.CategoricalDtype) or (
            not pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw))
        if not categorical:
            x = raw.to_numpy(dtype=float)
            if np.ptp(x) == 0:
                raise DesignError(f"the moderator '{m}' takes one value ({x[0]:g}) for every "
                                  "scheme", column=m, fix="drop it: a constant cannot "
                                                          "explain differences")
            if m in reference:
                raise DesignError(f"'{m}' is numeric, so it has no reference level",
                                  column=m, fix="drop it from reference=, or give the "
                                                "column as text to treat it as categories")
            cols.append(x)
            terms.append(Term(m, m, "numeric"))
            continue
        values = raw.astype(str)
        if isinstance(raw.dtype, pd.CategoricalDtype):
            order = [str(c) for c in raw.cat.categories if (values == str(c)).any()]
        else:
            order = sorted(pd.unique(values), key=lambda s: (s.casefold(), s))
        if len(order) < 2:
            raise DesignError(f"the moderator '{m}' has one level ({order[0]}) for every "
                              "scheme", column=m, fix="drop it: a constant cannot explain "
                                                      "differences")
        ref = str(reference.get(m, order[0]))
        if ref not in order:
            raise DesignError(f"'{ref}' is not a level of the moderator '{m}'", column=m,
                              fix=f"use one of {', '.join(order)}")
        for level in order:
            if level == ref:
                continue
            cols.append((values == level).to_numpy(dtype=float))
            terms.append(Term(f"{m}={level}", m, "level", level, ref))
    X = np.column_stack(cols)
    k, p = X.shape
    if k <= p:
        raise DesignError(f"{k} schemes cannot fit {p} coefficients (an intercept and "
                          f"{p - 1} moderator terms)", fix="use fewer moderators (or fewer "
                                                           "levels), or add schemes")
    if np.linalg.matrix_rank(X) < p:
        raise DesignError("the moderators are collinear: one is a combination of the "
                          "others", fix="drop one of the moderators that carry the same "
                                        "information")
    return X, terms


@dataclass(frozen=True)
class MetaRegression:
    """A fitted mixed-effects meta-regression.

    Attributes
    ----------
    coefficients
        One row per term: ``term``, ``moderator``, ``level``, ``reference``, ``coef``,
        ``se``, ``statistic``, ``p_value``, ``ci_low``, ``ci_high`` (analysis scale) and,
        for ratios, ``ratio``, ``ratio_ci_low``, ``ratio_ci_high`` (``exp``).
    moderator_tests
        One row per moderator: ``moderator``, ``terms``, ``df``, ``statistic``, ``test``
        (``"chi2"`` or ``"F"``), ``df2``, ``p_value``.
    lines
        Fitted effect over each numeric moderator (reported scale): ``moderator``, ``x``,
        ``fit``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high``.
    design_matrix
        The design matrix, one column per term, one row per scheme (index: labels).
    tau2, tau2_ci, i2, h2
        Residual heterogeneity (``i2`` in percent).
    r2
        Percentage of the total ``tau2`` accounted for.
    qm, qm_df, qm_df2, qm_test, qm_p
        Omnibus test of the moderators.
    qe, qe_df, qe_p
        Test of residual heterogeneity.
    references
        The reference level of each categorical moderator.
    weights
        ``1 / (v_i + tau2)`` of the fitted model.
    """

    coefficients: pd.DataFrame
    moderator_tests: pd.DataFrame
    lines: pd.DataFrame
    design_matrix: pd.DataFrame
    method: str
    hksj: bool
    tau2: float
    tau2_ci: tuple[float, float]
    i2: float
    h2: float
    r2: float
    qm: float
    qm_df: int
    qm_df2: int | None
    qm_test: str
    qm_p: float
    qe: float
    qe_df: int
    qe_p: float
    k: int
    ratio: bool
    weights: np.ndarray
    conf_level: float = 0.95
    references: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "references", MappingProxyType(dict(self.references)))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    @property
    def fit(self) -> pd.DataFrame:
        """Alias of :attr:`coefficients` (a copy)."""
        return self.coefficients.copy()

    def records(self, common: dict, *, k: int, level: int) -> list[EffectRecord]:
        """Effect records: ``intercept`` and ``moderator:<term>`` (ratios as ratios)."""
        back = np.exp if self.ratio else (lambda x: x)
        diag_base = {"method": self.method, "hksj": self.hksj, "tau2_residual": self.tau2,
                     "i2_residual": self.i2, "r2": self.r2, "qm": self.qm,
                     "qm_df": self.qm_df, "qm_p": self.qm_p, "qm_test": self.qm_test,
                     "qe": self.qe, "qe_df": self.qe_df, "qe_p": self.qe_p,
                     "references": dict(self.references),
                     "interval": "t" if self.hksj else "z"}
        out = []
        for _, r in self.coefficients.iterrows():
            estimand = "intercept" if r["term"] == "intercept" else f"moderator:{r['term']}"
            diag = {**diag_base, "term": r["term"], "moderator": r["moderator"],
                    "level": r["level"], "reference": r["reference"]}
            out.append(EffectRecord(
                estimand=estimand, estimate=float(back(r["coef"])), se=float(r["se"]),
                ci_low=float(back(r["ci_low"])), ci_high=float(back(r["ci_high"])),
                p_value=float(r["p_value"]), n_units=int(k), evidence_level=int(level),
                diagnostics=diag, warnings=self.warnings, **common))
        return out

    def summary(self) -> str:
        """Plain text: the coefficients and the heterogeneity tests."""
        lvl = f"{self.conf_level:.0%}"
        lines = [f"Meta-regression ({self.k} schemes; residual tau2 = {self.tau2:.4g}, "
                 f"{lvl} CI {self.tau2_ci[0]:.4g} to {self.tau2_ci[1]:.4g}; residual "
                 f"I2 = {self.i2:.1f}%; R2 = "
                 + (f"{self.r2:.1f}%" if np.isfinite(self.r2) else "NA") + ")"]
        shown = self.coefficients.copy()
        cols = ["term", "coef", "se", "ci_low", "ci_high", "p_value"]
        if self.ratio:
            cols += ["ratio", "ratio_ci_low", "ratio_ci_high"]
        for c in cols[1:]:
            shown[c] = shown[c].map(lambda x: f"{x:.4g}")
        lines.append(shown[cols].to_string(index=False))
        if self.references:
            lines.append("Reference levels: " + ", ".join(f"{m} = {r}" for m, r in
                                                         self.references.items()))
        df_text = (f"F({self.qm_df}, {self.qm_df2})" if self.qm_test == "F"
                   else f"chi2({self.qm_df})")
        lines.append(f"Test of moderators: QM {df_text} = {self.qm:.3f}, {_p(self.qm_p)}")
        lines.append(f"Residual heterogeneity: QE = {self.qe:.2f} on {self.qe_df} df, "
                     f"{_p(self.qe_p)}")
        return "\n".join(lines)


def _wald(beta: np.ndarray, vb: np.ndarray, idx: list[int], hksj: bool, df_resid: int
          ) -> tuple[float, str, int | None, float]:
    """Wald test that ``beta[idx]`` are all zero: (statistic, test, df2, p)."""
    b = beta[idx]
    V = vb[np.ix_(idx, idx)]
    chi = float(b @ np.linalg.solve(V, b))
    m = len(idx)
    if hksj:
        f = chi / m
        return f, "F", df_resid, float(stats.f.sf(f, m, df_resid))
    return chi, "chi2", None, float(stats.chi2.sf(chi, m))


def fit_meta_regression(y: np.ndarray, v: np.ndarray, X: np.ndarray, terms: list[Term], *,
                        labels: Sequence[str], method: str = "reml", hksj: bool = False,
                        hksj_floor: bool = False, conf_level: float = 0.95,
                        tau2_total: float | None = None, ratio: bool = False
                        ) -> MetaRegression:
    """Fit the mixed-effects meta-regression ``y = X b + u + e``.

    Parameters
    ----------
    y, v
        Effects and sampling variances on the analysis scale.
    X, terms
        From :func:`design_matrix`.
    labels
        Scheme labels (the design matrix' index).
    method, hksj, hksj_floor, conf_level
        As for :func:`~evalkit.synthesis.meta_analysis.meta_analysis`.
    tau2_total
        ``tau2`` of the model without moderators, for ``R2`` (estimated here if None).
    ratio
        Whether ``y`` are log ratios (adds ``exp`` columns).

    Returns
    -------
    MetaRegression

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> x = np.arange(8.0)
    >>> X, terms = design_matrix(pd.DataFrame({"x": x}), ["x"])
    >>> reg = fit_meta_regression(0.5 - 0.1 * x, np.full(8, 0.01), X, terms,
    ...                           labels=list("abcdefgh"))
    >>> round(float(reg.coefficients["coef"].iloc[1]), 6)
    -0.1
    """
    fit = fit_model(y, v, X, method=method, hksj=hksj, hksj_floor=hksj_floor,
                    conf_level=conf_level)
    if tau2_total is None:
        tau2_total = fit_model(y, v, method=method).tau2
    warnings: list[str] = []
    if not fit.converged:
        warnings.append("REML did not converge by Fisher scoring in the meta-regression; "
                        "tau2 was found by direct maximisation")
    k, p = X.shape
    tau2_ci = q_profile(y, v, X, conf_level=conf_level)
    r2 = (max(0.0, 100.0 * (tau2_total - fit.tau2) / tau2_total) if tau2_total > 0
          else math.nan)
    coefs = pd.DataFrame({
        "term": [t.name for t in terms], "moderator": [t.moderator for t in terms],
        "level": [t.level for t in terms], "reference": [t.reference for t in terms],
        "coef": fit.beta, "se": fit.se, "statistic": fit.stat, "p_value": fit.p_value,
        "ci_low": fit.ci_low, "ci_high": fit.ci_high})
    if ratio:
        coefs["ratio"] = np.exp(fit.beta)
        coefs["ratio_ci_low"] = np.exp(fit.ci_low)
        coefs["ratio_ci_high"] = np.exp(fit.ci_high)
    qm, qm_test, qm_df2, qm_p = _wald(fit.beta, fit.vb_used, list(range(1, p)), hksj, k - p)
    tests = []
    for m in dict.fromkeys(t.moderator for t in terms[1:]):
        idx = [i for i, t in enumerate(terms) if t.moderator == m]
        stat, test, df2, pv = _wald(fit.beta, fit.vb_used, idx, hksj, k - p)
        tests.append({"moderator": m, "terms": ", ".join(terms[i].name for i in idx),
                      "df": len(idx), "statistic": stat, "test": test, "df2": df2,
                      "p_value": pv})
    references = {t.moderator: t.reference for t in terms if t.kind == "level"}
    if k - p < 5:
        warnings.append(f"the meta-regression has {k} schemes for {p} coefficients: with so "
                        "few degrees of freedom its tests have little power and the "
                        "coefficients can be driven by one scheme")
    return MetaRegression(
        coefficients=coefs, moderator_tests=pd.DataFrame(tests),
        lines=_lines(X, terms, fit, ratio), design_matrix=pd.DataFrame(
            X, columns=[t.name for t in terms], index=list(labels)),
        method=method, hksj=hksj, tau2=fit.tau2, tau2_ci=tau2_ci, i2=fit.i2, h2=fit.h2,
        r2=r2, qm=qm, qm_df=p - 1, qm_df2=qm_df2, qm_test=qm_test, qm_p=qm_p, qe=fit.q,
        qe_df=fit.q_df, qe_p=fit.q_p, k=k, ratio=ratio, weights=fit.weights,
        conf_level=conf_level, references=references, warnings=tuple(warnings))


def _lines(X: np.ndarray, terms: list[Term], fit: Any, ratio: bool) -> pd.DataFrame:
    """Fitted effect (with CI and PI bands) over each numeric moderator's range."""
    back = np.exp if ratio else (lambda x: x)
    numeric = [i for i, t in enumerate(terms) if t.kind == "numeric"]
    base = np.zeros(X.shape[1])
    base[0] = 1.0
    base[numeric] = X[:, numeric].mean(axis=0)
    frames = []
    for i in numeric:
        grid = np.linspace(X[:, i].min(), X[:, i].max(), _GRID)
        X0 = np.tile(base, (_GRID, 1))
        X0[:, i] = grid
        pred = X0 @ fit.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", X0, fit.vb_used, X0))
        pi_half = fit.crit * np.sqrt(se**2 + fit.tau2)
        frames.append(pd.DataFrame({
            "moderator": terms[i].name, "x": grid, "fit": back(pred),
            "ci_low": back(pred - fit.crit * se), "ci_high": back(pred + fit.crit * se),
            "pi_low": back(pred - pi_half), "pi_high": back(pred + pi_half)}))
    if not frames:
        return pd.DataFrame(columns=["moderator", "x", "fit", "ci_low", "ci_high", "pi_low",
                                     "pi_high"])
    return pd.concat(frames, ignore_index=True)
