"""The result of a meta-analysis: pooled effects, heterogeneity and the frames behind its plots."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from evalkit.results import DesignResult
from evalkit.synthesis.model import METHOD_NAMES, _num, _p

__all__ = ["MetaResult"]


@dataclass(frozen=True)
class MetaResult(DesignResult):
    """A :class:`~evalkit.results.DesignResult` with the meta-analysis' statistics.

    Effects: ``pooled`` (the chosen method) and ``pooled_fixed`` (inverse-variance fixed
    effect, Wald interval, for comparison); with ``group``, ``subgroup:<level>`` for each
    subgroup; with ``moderators``, ``intercept`` and ``moderator:<term>`` for each
    meta-regression coefficient (``moderator:<name>`` for a numeric moderator,
    ``moderator:<name>=<level>`` for a level of a categorical one, against its reference
    level). Ratios are reported as ratios (``se`` on the log scale).

    Frames (``plot_data()``): ``studies`` (one row per scheme: ``row``, ``label``, ``y``
    and ``v`` on the analysis scale, ``se``, ``estimate``, ``ci_low``, ``ci_high`` on the
    reported scale, ``weight`` and ``weight_fixed`` in percent, the group and moderator
    columns and other plain columns of the input), ``pooled`` (the pooled rows with their
    prediction interval), ``subgroups``, ``loo`` (leave-one-out), ``funnel`` (pseudo
    confidence limits against the standard error) and, with moderators, ``coefficients``,
    ``moderator_tests``, ``lines`` and ``design_matrix``.

    Attributes
    ----------
    method, hksj, scale, conf_level
        As fitted (``scale`` is the reported scale: ``"difference"``, ``"ratio"`` or
        ``"percent"``).
    k
        The number of schemes.
    mu, se
        Pooled estimate and its standard error on the analysis scale (log for ratios;
        ``se`` is the HKSJ one with ``hksj=True``).
    estimate, ci
        Pooled estimate and interval on the reported scale.
    p_value
        Of the pooled estimate (z, or t on ``k - 1`` df with HKSJ).
    tau2, tau2_ci
        Between-scheme variance and its Q-profile interval (analysis scale).
    i2, i2_ci, h2, q, q_df, q_p
        Heterogeneity (``i2`` in percent) and Cochran's Q test.
    prediction_interval
        On the reported scale (NaN for a fixed-effect model or fewer than 3 schemes).
    weights
        Each scheme's weight in the pooled estimate, percent, indexed by label.
    regression
        The :class:`~evalkit.synthesis.meta_regression.MetaRegression` with moderators,
        else ``None``. ``tau2``, ``i2`` and ``q`` above are always those of the model
        without moderators (total heterogeneity); the regression holds the residual ones.
    subgroup_test
        ``{"q": ..., "df": ..., "p": ..., "group": ...}`` with ``group``, else ``None``.
    """

    method: str = "reml"
    hksj: bool = False
    scale: str = "difference"
    conf_level: float = 0.95
    k: int = 0
    mu: float = math.nan
    se: float = math.nan
    estimate: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    p_value: float = math.nan
    tau2: float = math.nan
    tau2_ci: tuple[float, float] = (math.nan, math.nan)
    i2: float = math.nan
    i2_ci: tuple[float, float] = (math.nan, math.nan)
    h2: float = math.nan
    q: float = math.nan
    q_df: int = 0
    q_p: float = math.nan
    prediction_interval: tuple[float, float] = (math.nan, math.nan)
    weights: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    regression: Any = None
    subgroup_test: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.subgroup_test is not None:
            object.__setattr__(self, "subgroup_test",
                               MappingProxyType(dict(self.subgroup_test)))

    @property
    def tau(self) -> float:
        """The between-scheme standard deviation ``sqrt(tau2)``."""
        return math.sqrt(self.tau2)

    @property
    def is_ratio(self) -> bool:
        """Whether effects were pooled on the log scale and are reported as ratios."""
        return self.scale == "ratio"

    def summary(self) -> str:
        """Plain text: the pooled effect, heterogeneity, subgroups, moderators, warnings."""
        lvl = f"{self.conf_level:.0%}"
        what = "ratio" if self.is_ratio else "effect"
        interval = ("Hartung-Knapp-Sidik-Jonkman t interval" if self.hksj
                    else "Wald (normal) interval")
        lines = [f"Meta-analysis of {self.k} schemes: {METHOD_NAMES[self.method]}, "
                 f"{interval}",
                 f"Pooled {what} {_num(self.estimate)} ({lvl} CI {_num(self.ci[0])} to "
                 f"{_num(self.ci[1])}), {_p(self.p_value)}"]
        lo, hi = self.prediction_interval
        if np.isfinite(lo):
            lines.append(f"{lvl} prediction interval {_num(lo)} to {_num(hi)} (where a new "
                         f"scheme's true {what} would lie; t with {self.k - 2} df)")
        lines.append(f"Heterogeneity: tau2 = {self.tau2:.4g} ({lvl} CI {self.tau2_ci[0]:.4g} "
                     f"to {self.tau2_ci[1]:.4g}, Q-profile); I2 = {self.i2:.1f}%; "
                     f"H2 = {self.h2:.3g}; Q = {self.q:.2f} on {self.q_df} df, "
                     f"{_p(self.q_p)}")
        fixed = self.effects[self.effects["estimand"] == "pooled_fixed"]
        if len(fixed) and self.method != "fe":
            f = fixed.iloc[0]
            lines.append(f"Fixed effect (inverse variance), for comparison: "
                         f"{_num(f['estimate'])} ({_num(f['ci_low'])} to {_num(f['ci_high'])})")
        if self.subgroup_test is not None:
            sub = self.frames["subgroups"]
            lines.append(f"Subgroups by {self.subgroup_test['group']}:")
            for _, r in sub.iterrows():
                lines.append(f"  {r['group']}: {_num(r['estimate'])} ({_num(r['ci_low'])} to "
                             f"{_num(r['ci_high'])}), {int(r['k'])} scheme(s), "
                             f"I2 = {r['i2']:.1f}%")
            t = self.subgroup_test
            lines.append(f"  Test of subgroup differences: Q = {t['q']:.2f} on {t['df']} df, "
                         f"{_p(t['p'])}")
        if self.regression is not None:
            lines.append(self.regression.summary())
        warns = list(self.warnings)
        if warns:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in warns)
        return "\n".join(lines)

    def __repr__(self) -> str:
        what = "ratio" if self.is_ratio else "effect"
        return (f"<MetaResult {self.method}: {self.k} schemes, pooled {what} "
                f"{_num(self.estimate)}>")


