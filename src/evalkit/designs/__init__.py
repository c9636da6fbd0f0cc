"""Evaluation designs: one module per design, one top-level function each.

The functions are imported on first use (PEP 562), so that ``ek.staggered_did`` loads only
its own module and not every design (scipy.stats, statsmodels). The registry of the designs a
spec can name, which adds the economic evaluation from :mod:`evalkit.economics`, is
:data:`evalkit.evaluation.designs.DESIGNS`.
"""

import sys
from importlib import import_module
from types import ModuleType
from typing import Any

# Public names and the module each lives in.
_LAZY: dict[str, tuple[str, str]] = {
    "did": (".did", "did"),
    "event_study": (".event_study", "event_study"),
    "its": (".its", "its"),
    "its_placebo": (".its_checks", "its_placebo"),
    "its_power": (".its_checks", "its_power"),
    "its_sensitivity": (".its_checks", "its_sensitivity"),
    "match": (".matching", "match"),
    "matched": (".matching", "matched"),
    "prepost": (".prepost", "prepost"),
    "staggered_did": (".staggered_did", "staggered_did"),
    "synthetic_control": (".synthetic_control", "synthetic_control"),
}

class _Package(ModuleType):
    """The package module: a design function keeps its name when the submodule of the same
    name (``did``, ``its``, ``staggered_did``) is imported, as with eager imports."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and name in _LAZY and \
                value.__name__ == f"{__name__}.{name}":
            value = getattr(value, _LAZY[name][1], value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    """Import a design function on first use."""
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(import_module(module, __name__), attr)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["prepost", "its", "did", "event_study", "staggered_did", "its_placebo",
           "its_sensitivity", "its_power", "match", "matched", "synthetic_control"]
