"""Regression to the mean (RTM): detect it and adjust a before/after for it.

When a scheme enrols the practices (or patients) with the highest recent
activity, their activity falls next year even if the scheme does nothing:
part of what made them high was transient. An uncontrolled before/after
comparison then credits the scheme with that fall (Barnett, van der Pols and
Dobson, 2005, "Regression to the mean: what it is and how to deal with it",
Int J Epidemiol 34:215-220).

The guard uses only pre-period data. Three windows of equal length matter:

- R, the *reference* window, just before the baseline;
- B, the *baseline* window, just before the start, on which units were chosen;
- F, the *follow-up* window after the start.

If selection acted on values in B (a transient peak) and on stable traits, but
not on R, then for a stationary process the scheme group's level in R is an
unbiased prediction of its no-scheme level in F: R and F sit symmetrically
around B. The whole population (scheme and other units together, so that
selection averages out) carries the common change between R and B (trend and
seasonal mix). So

    adjusted effect = (F - R for the scheme group) - (B - R for the population),

on the log scale for rate ratios and the natural scale for differences. The
expected RTM is the difference between the naive and the adjusted effects,
and the scheme group's rise from R into B, beyond the population's, is the
test that it was selected at a peak.

Unlike adjustments that predict from the baseline value alone (regressing on
B), this stays unbiased when clinicians select on stable traits that the
baseline cannot see: then R and B agree and no RTM is inferred.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RTMCheck"]


@dataclass(frozen=True)
class RTMCheck:
    """The regression-to-the-mean check of a before/after comparison.

    All effects are on the estimation scale: log ratios for ``scale="ratio"``,
    natural units for ``"difference"``.

    Attributes
    ----------
    scale
        ``"ratio"`` or ``"difference"``.
    rise_into_baseline, rise_se
        How much more the scheme group rose from the reference window into the
        baseline window than the population did (positive = selected at a peak).
    adjusted, adjusted_se
        The adjusted effect and its standard error.
    population_shift
        The population's change from the reference window to the baseline window.
    reference_window
        Labels of the first and last periods of the reference window.
    n_population
        Units (scheme and others) that carry the population's change.
    """

    scale: str
    rise_into_baseline: float
    rise_se: float
    adjusted: float
    adjusted_se: float
    naive: float
    population_shift: float
    reference_window: tuple[str, str]
    n_population: int

    @property
    def expected_change(self) -> float:
        """The change expected from RTM alone (log ratio or difference)."""
        return self.naive - self.adjusted

    @property
    def selection_z(self) -> float:
        """The rise into the baseline, in standard errors."""
        return self.rise_into_baseline / self.rise_se if self.rise_se > 0 else 0.0

    @property
    def detected(self) -> bool:
        """True when the scheme group rose clearly into its baseline (z > 2) by over 1%."""
        threshold = 0.01 if self.scale == "ratio" else 0.0
        return self.selection_z > 2.0 and abs(self.rise_into_baseline) > threshold

    def as_dict(self) -> dict:
        """Diagnostics for an effect record (ratios exponentiated)."""
        ratio = self.scale == "ratio"
        f = np.exp if ratio else (lambda v: v)
        return {
            "rtm_expected_change": float(f(self.expected_change)),
            "rtm_rise_into_baseline": float(f(self.rise_into_baseline)),
            "rtm_selection_z": float(self.selection_z),
            "rtm_population_shift": float(f(self.population_shift)),
            "rtm_reference_window": list(self.reference_window),
            "rtm_population_units": int(self.n_population),
            "rtm_detected": bool(self.detected),
        }

    def describe(self, what: str = "the outcome") -> str:
        """One sentence on the expected regression."""
        if self.scale == "ratio":
            rise = (np.exp(self.rise_into_baseline) - 1) * 100
            fall = (np.exp(self.expected_change) - 1) * 100
            return (f"Scheme units' {what} rose {rise:.1f}% more than other units' between the "
                    f"reference and baseline windows; a change of {fall:+.1f}% is expected "
                    "from regression to the mean alone.")
        return (f"Scheme units' {what} rose {self.rise_into_baseline:+.3g} more than other "
                f"units' between the reference and baseline windows; a change of "
                f"{self.expected_change:+.3g} is expected from regression to the mean alone.")
