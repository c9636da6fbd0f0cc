"""evalkit: evaluate collaborative working in health care.

Notebook users write ``import evalkit as ek``. Each design is one top-level
function that takes a DataFrame first and keyword-only options, and returns a
:class:`~evalkit.results.DesignResult` whose ``.effects`` are tidy effect records.
"""

import sys
from importlib import import_module
from types import ModuleType
from typing import Any

from evalkit.errors import DataError, DesignError, EvalkitError, SpecError

# Public names and the module each lives in. They are imported on first use (PEP 562), so
# that ``import evalkit`` and the command line start quickly: scipy, statsmodels and
# matplotlib load only when a design, a plot or a report needs them.
_LAZY: dict[str, tuple[str, str]] = {
    **{n: (".designs", n) for n in (
        "did", "event_study", "its", "its_placebo", "its_power", "its_sensitivity", "match",
        "matched", "prepost", "staggered_did", "synthetic_control")},
    "honest_did": (".designs.honest_did", "honest_did"),
    **{n: (".power", n) for n in (
        "its_mde", "did_mde", "matched_mde", "synth_mde", "cost_mde", "PowerResult")},
    "rate_certainty": (".evidence.certainty", "rate_certainty"),
    "triangulate": (".evidence.certainty", "triangulate"),
    "check": (".evaluation.check", "check"),
    "funnel": (".variation", "funnel"),
    "standardised_rates": (".variation", "standardised_rates"),
    "continuity": (".engagement.continuity", "continuity"),
    "check_panel": (".data.contract", "check_panel"),
    "DisclosureRules": (".evidence.disclosure", "DisclosureRules"),
    "suppress": (".evidence.disclosure", "suppress"),
    **{n: (".economics", n) for n in (
        "bootstrap_ci", "ce_bootstrap", "ceac", "cost_compare", "economic", "evpi", "icer",
        "net_cost", "nmb", "one_way", "psa")},
    **{n: (".engagement", n) for n in (
        "BUILDING_BLOCKS", "composite_index", "cronbach_alpha", "dose_response",
        "dose_response_panel", "engagement", "likert_change", "likert_summary", "maturity",
        "weight_sensitivity")},
    "finding": (".evidence.findings", "finding"),
    "findings": (".evidence.findings", "findings"),
    "read": (".data.io", "read"),
    "init": (".planning", "init"),
    "advise": (".planning", "advise"),
    "plan": (".planning", "plan"),
    "Evaluation": (".evaluation.pipeline", "Evaluation"),
    "run_spec": (".evaluation.pipeline", "run_spec"),
    "aggregate_records": (".records", "aggregate"),
    "generate_records": (".records", "generate_records"),
    "load_records_spec": (".records", "load_records_spec"),
    "DesignResult": (".results", "DesignResult"),
    "EffectRecord": (".results", "EffectRecord"),
    **{n: (".variation.spc", n) for n in ("SPCWarning", "p_chart", "u_chart", "xmr")},
    "load_spec": (".evaluation.spec", "load_spec"),
    **{n: (".synthesis", n) for n in (
        "MetaResult", "egger_test", "influence", "leave_one_out", "meta_analysis")},
    "synth": (".synthetic", "synth"),
    "plots": (".plots", ""),
}


class _Package(ModuleType):
    """The package module: a public function keeps its name when the submodule of the same
    name (``check``, ``continuity``, ``findings``) is imported, as with eager imports."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and name in _LAZY and _LAZY[name][1] and \
                value.__name__ == f"{__name__}.{name}":
            value = getattr(value, _LAZY[name][1], value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    """Import a public name, or a submodule (``ek.results``), on first use."""
    if name == "__version__":  # importlib.metadata costs a fresh process about 0.1 s
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("evalkit")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            value = "0.0.0"
        globals()[name] = value
        return value
    module, attr = _LAZY.get(name, (f".{name}", ""))
    try:
        value = import_module(module, __name__)
    except ModuleNotFoundError as exc:  # neither a public name nor a submodule
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module 'evalkit' has no attribute {name!r}") from None
    if attr:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))



__all__ = [
    # designs
    "prepost", "its", "its_placebo", "its_sensitivity", "its_power", "did", "event_study",
    "staggered_did", "honest_did", "match", "matched", "synthetic_control",
    # power and the minimum detectable effect
    "its_mde", "did_mde", "matched_mde", "synth_mde", "cost_mde", "PowerResult",
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
    "init", "advise", "plan",
    # results, plots and errors
    "DesignResult", "EffectRecord", "plots", "EvalkitError", "DataError", "SpecError",
    "DesignError", "__version__",
]
