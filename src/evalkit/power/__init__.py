"""Power and the minimum detectable effect (MDE), from the user's own data, for every
design family.

=====================  =============================================================
design                 how the standard error under no effect is found
=====================  =============================================================
ITS, controlled ITS    :func:`its_mde`: simulation from the pre-period fit, refitted
                       with evalkit's default ITS estimator
DiD, staggered DiD     :func:`did_mde`: placebo start dates in the pre-period
matched cohorts        :func:`matched_mde`: two-sample t test, with a simulation check
synthetic control      :func:`synth_mde`: the placebo distribution of gaps
costs                  :func:`cost_mde`: a (cluster) bootstrap of skewed costs
=====================  =============================================================

Each returns a :class:`PowerResult`: the MDE at 80% power and two-sided 5% for the
planned follow-up and as a curve over follow-up length, power for a named effect and,
for multi-site designs, the MDE by number of units. :func:`null_finding_text` words the
MDE beside an effect whose interval includes no effect.
"""

from evalkit.power.costs import cost_mde
from evalkit.power.did import did_mde
from evalkit.power.its import its_mde
from evalkit.power.matched import matched_mde
from evalkit.power.mde import FOLLOWUPS, mde, multiplier, power_at
from evalkit.power.null_findings import null_finding_text
from evalkit.power.result import PowerResult
from evalkit.power.synth import synth_mde

__all__ = ["its_mde", "did_mde", "matched_mde", "synth_mde", "cost_mde", "PowerResult",
           "mde", "multiplier", "power_at", "FOLLOWUPS", "null_finding_text"]
