"""evalkit: evaluate collaborative working in health care.

Notebook users write ``import evalkit as ek``. Each design is one top-level
function that takes a DataFrame first and keyword-only options, and returns a
:class:`~evalkit.results.DesignResult` whose ``.effects`` are tidy effect records.
"""

from importlib.metadata import PackageNotFoundError, version

from . import plots
from .certainty import rate_certainty, triangulate
from .check import check
from .comparison import funnel, standardised_rates
from .continuity import continuity
from .contract import check_panel
from .designs import (
    did,
    event_study,
    its,
    its_placebo,
    its_power,
    its_sensitivity,
    match,
    matched,
    prepost,
    staggered_did,
    synthetic_control,
)
from .designs.honest_did import honest_did
from .disclosure import DisclosureRules, suppress
from .economics import (
    bootstrap_ci,
    ce_bootstrap,
    ceac,
    cost_compare,
    economic,
    evpi,
    icer,
    net_cost,
    nmb,
    one_way,
    psa,
)
from .engagement_measures import (
    BUILDING_BLOCKS,
    composite_index,
    cronbach_alpha,
    dose_response,
    dose_response_panel,
    engagement,
    likert_change,
    likert_summary,
    maturity,
    weight_sensitivity,
)
from .errors import DataError, DesignError, EvalkitError, SpecError
from .findings import finding, findings
from .io import read
from .pipeline import Evaluation, run_spec
from .records import aggregate as aggregate_records
from .records import generate_records, load_records_spec
from .results import DesignResult, EffectRecord
from .spc import SPCWarning, p_chart, u_chart, xmr
from .spec import load_spec
from .synthesis import MetaResult, egger_test, influence, leave_one_out, meta_analysis
from .synthetic import synth

try:
    __version__ = version("evalkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    # designs
    "prepost", "its", "its_placebo", "its_sensitivity", "its_power", "did", "event_study",
    "staggered_did", "honest_did", "match", "matched", "synthetic_control",
    # costs and economic evaluation
    "cost_compare", "bootstrap_ci", "icer", "nmb", "ceac", "evpi", "ce_bootstrap", "net_cost",
    "psa", "one_way", "economic",
    # engagement, SPC and practice comparison
    "engagement", "composite_index", "weight_sensitivity", "likert_summary", "likert_change",
    "cronbach_alpha", "maturity", "BUILDING_BLOCKS", "dose_response", "dose_response_panel",
    "continuity", "xmr", "p_chart", "u_chart", "SPCWarning", "funnel", "standardised_rates",
    # patient-level records to panels
    "aggregate_records", "generate_records", "load_records_spec",
    # synthesis across schemes
    "meta_analysis", "MetaResult", "leave_one_out", "influence", "egger_test",
    "rate_certainty", "triangulate", "finding", "findings", "suppress", "DisclosureRules",
    # data, specs and pipeline
    "read", "check", "check_panel", "load_spec", "run_spec", "Evaluation", "synth",
    # results, plots and errors
    "DesignResult", "EffectRecord", "plots", "EvalkitError", "DataError", "SpecError",
    "DesignError", "__version__",
]
