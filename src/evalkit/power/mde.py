"""The arithmetic every power calculation shares: the minimum detectable effect (MDE)
and the power of a two-sided test, from a standard error under no effect.

For an estimator that is approximately normal with standard error ``se`` under no
effect, a two-sided test at level ``alpha`` has power ``target`` against an effect of
``(z_{1-alpha/2} + z_target) * se``; that effect is the MDE (Bloom, 1995, Evaluation
Review 19:547-556).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["multiplier", "mde", "power_at", "FOLLOWUPS"]

#: The follow-up lengths of the MDE curve, in periods (months): 3 to 36, every 3.
FOLLOWUPS = tuple(range(3, 37, 3))


def multiplier(alpha: float = 0.05, power: float = 0.8) -> float:
    """``z_{1-alpha/2} + z_power``: 2.80 at the usual 5% and 80%."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must lie strictly between 0 and 1")
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def mde(se, alpha: float = 0.05, power: float = 0.8):
    """The minimum detectable effect (on the scale of ``se``) for each standard error."""
    return multiplier(alpha, power) * np.asarray(se, dtype=float)


def power_at(effect, se, alpha: float = 0.05):
    """Power of a two-sided z test at level ``alpha`` against ``effect`` (same scale as
    ``se``), counting rejections in either direction."""
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.abs(np.asarray(effect, dtype=float)) / np.asarray(se, dtype=float)
    return stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z)
