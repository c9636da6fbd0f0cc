"""The one result shape every design returns.

A design returns a :class:`DesignResult`. Its ``effects`` is a tidy DataFrame of
effect records, one row per estimand, with the columns in :data:`EFFECT_FIELDS`
(documented in ``docs/results.md`` and ``schemas/results.schema.json``).
Plots and reports consume results; they never refit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ReadOnlyOptions", "HEADLINE_ESTIMANDS", "headline_effects", "EFFECT_FIELDS",
           "EffectRecord", "DesignResult", "effects_frame", "SCALES", "DOMAINS", "jsonable"]

SCALES = ("difference", "ratio", "percent")
DOMAINS = ("engagement", "cost", "outcome")

EFFECT_FIELDS = (
    "scheme", "domain", "outcome", "design", "estimand", "scale", "estimate", "se",
    "ci_low", "ci_high", "conf_level", "p_value", "n_units", "pre_periods", "post_periods",
    "evidence_level", "diagnostics", "warnings",
)


#: The estimands a report leads with, by design (others stay in results.json).
HEADLINE_ESTIMANDS = {
    "prepost": ("before_after", "before_after_rtm_adjusted"),
    "its": ("level_change", "effect_at_12"),
    "staggered_did": ("att_simple",),
    "did": ("att_twfe", "rate_ratio"),
    "matched": ("att_did", "difference_in_means", "difference_in_proportions"),
    "synthetic_control": ("gap_mean", "att_sdid"),
    "meta_analysis": ("pooled",),
}


def headline_effects(effects: pd.DataFrame) -> pd.DataFrame:
    """The rows of an effects frame that a report leads with (batch rows excluded)."""
    keep = [est in HEADLINE_ESTIMANDS.get(design, ()) and not diag.get("batch", False)
            for design, est, diag in zip(effects["design"], effects["estimand"],
                                         effects["diagnostics"], strict=True)]
    return effects[keep]


def jsonable(value: Any) -> Any:
    """Convert numpy and pandas scalars (and NaN) into plain JSON values."""
    if type(value) in (str, int, bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is None:
        return None
    if hasattr(value, "isoformat"):  # dates in a spec (YAML reads 2019-10-01 as a date)
        return value.isoformat()
    return value


@dataclass(frozen=True)
class EffectRecord:
    """One estimated effect, tidy and self-describing.

    For ``scale="ratio"`` the estimate and interval are ratios (e.g. a rate ratio) and
    ``se`` is the standard error of the log ratio. For ``"difference"`` and
    ``"percent"`` everything is on the natural scale.
    """

    outcome: str
    design: str
    estimand: str
    scale: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    conf_level: float
    p_value: float
    n_units: int
    pre_periods: int
    post_periods: int
    evidence_level: int
    scheme: str | None = None
    domain: str = "outcome"
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    warnings: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, not {self.scale!r}")
        if self.domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, not {self.domain!r}")
        if not 1 <= int(self.evidence_level) <= 5:
            raise ValueError("evidence_level is a Maryland SMS level, 1 to 5")

    def to_dict(self, *, diagnostics: dict[str, Any] | None = None) -> dict[str, Any]:
        """The record as a plain dict in :data:`EFFECT_FIELDS` order.

        ``diagnostics`` may pass the diagnostics already converted to plain values.
        """
        out = {name: getattr(self, name) for name in EFFECT_FIELDS if name != "diagnostics"}
        out["warnings"] = list(self.warnings)
        out = jsonable(out)
        out["diagnostics"] = jsonable(dict(self.diagnostics)) if diagnostics is None \
            else diagnostics
        return {name: out[name] for name in EFFECT_FIELDS}


def effects_frame(records: Sequence[EffectRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """A tidy DataFrame of effect records with the standard columns."""
    rows, plain = [], {}  # a design's records share one diagnostics dict: convert it once
    for r in records:
        if not isinstance(r, EffectRecord):
            rows.append(dict(r))
            continue
        key = id(r.diagnostics)
        if key not in plain:
            plain[key] = jsonable(dict(r.diagnostics))
        rows.append(r.to_dict(diagnostics=plain[key]))
    frame = pd.DataFrame(rows, columns=list(EFFECT_FIELDS))
    return frame


class ReadOnlyOptions:
    """For frozen result dataclasses with ``options`` and ``warnings`` fields: after
    construction ``options`` is a read-only mapping and ``warnings`` a tuple, so a result
    cannot be changed after the fact."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "warnings", tuple(self.warnings))


@dataclass(frozen=True)
class DesignResult:
    """What a design returns.

    Attributes
    ----------
    design
        The design's name, e.g. ``"prepost"``.
    effects
        Tidy effect records (see :data:`EFFECT_FIELDS`).
    diagnostics
        Design-level diagnostics.
    warnings
        Design-level warnings, in plain words.
    options
        The options the design ran with, as given.
    """

    design: str
    effects: pd.DataFrame
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "diagnostics", MappingProxyType(dict(self.diagnostics)))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "frames", MappingProxyType(dict(self.frames)))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    def to_frame(self) -> pd.DataFrame:
        """The effect records as a DataFrame (a copy)."""
        return self.effects.copy()

    def to_records(self) -> list[dict[str, Any]]:
        """The effect records as JSON-ready dicts."""
        return [jsonable(r) for r in self.effects.to_dict(orient="records")]

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """The frames the plots draw, by name (copies)."""
        return {k: v.copy() for k, v in self.frames.items()}

    def __getattr__(self, name: str) -> pd.DataFrame:
        """A design's frames by name, e.g. ``result.att_gt`` (a copy)."""
        frames = self.__dict__.get("frames", {})
        if name in frames:
            return frames[name].copy()
        raise AttributeError(f"{type(self).__name__} of design "
                             f"{self.__dict__.get('design')!r} has no attribute {name!r}"
                             + (f"; its frames are {', '.join(frames)}" if frames else ""))

    def summary(self) -> str:
        """A plain-text table of the effects, with warnings."""
        cols = ["outcome", "estimand", "scale", "estimate", "ci_low", "ci_high", "p_value",
                "n_units", "evidence_level"]
        table = self.effects[cols].copy()
        for c in ("estimate", "ci_low", "ci_high"):
            table[c] = table[c].map(lambda v: f"{v:.4g}" if pd.notna(v) else "")
        table["p_value"] = table["p_value"].map(lambda v: f"{v:.3g}" if pd.notna(v) else "")
        lines = [f"{self.design} — {len(self.effects)} effect(s)",
                 table.to_string(index=False)]
        warns = list(self.warnings)
        for w in self.effects["warnings"]:
            warns.extend(x for x in w if x not in warns)
        if warns:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in warns)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<DesignResult {self.design}: {len(self.effects)} effect(s)>"

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        return self.effects.drop(columns=["diagnostics", "warnings"]).to_html(index=False)

    def to_json(self) -> str:
        """The effect records as canonical JSON (sorted keys)."""
        return json.dumps(self.to_records(), sort_keys=True, indent=2)
