"""The one result shape of every power calculation: :class:`PowerResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from evalkit.power.mde import multiplier, power_at

__all__ = ["PowerResult", "mde_columns", "POWER_FIELDS"]

#: Columns of :attr:`PowerResult.effects`.
POWER_FIELDS = ("outcome", "design", "quantity", "followup", "n_units", "scale", "value",
                "mde_fall", "mde_rise", "percent", "se", "alpha", "target_power", "method")


def mde_columns(se, *, scale: str, baseline: float | None, alpha: float,
                power: float) -> dict[str, np.ndarray]:
    """The MDE columns of a curve from standard errors under no effect.

    ``scale="ratio"``: ``se`` is on the log scale; ``mde_fall`` is the rate ratio below 1
    and ``mde_rise`` the one above 1 that are detectable, ``percent`` the fall in percent.
    ``"difference"``: ``mde_fall``/``mde_rise`` are ``-/+ MDE``, ``percent`` the MDE as a
    percentage of ``baseline`` (NaN without one).
    """
    se = np.asarray(se, dtype=float)
    k = multiplier(alpha, power) * se
    if scale == "ratio":
        return {"se": se, "mde": k, "mde_fall": np.exp(-k), "mde_rise": np.exp(k),
                "percent": 100 * (1 - np.exp(-k))}
    pct = 100 * k / abs(baseline) if baseline else np.full(se.shape, np.nan)
    return {"se": se, "mde": k, "mde_fall": -k, "mde_rise": k, "percent": pct}


@dataclass(frozen=True)
class PowerResult:
    """What a power calculation returns.

    Attributes
    ----------
    design
        The design family (``its``, ``controlled_its``, ``did``, ``staggered_did``,
        ``matched``, ``synthetic_control``, ``costs``).
    outcome
        The outcome.
    scale
        ``"ratio"`` (standard errors of a log ratio) or ``"difference"``.
    curve
        One row per follow-up length: ``followup``, ``se`` (under no effect), ``mde`` (on
        the analysis scale), ``mde_fall``, ``mde_rise``, ``percent`` and ``n_draws`` (the
        replications or placebos the standard error rests on).
    followup
        The planned follow-up (a row of ``curve``).
    units
        For multi-site and staggered designs, how the MDE at the planned follow-up changes
        with the number of units (``n_units``, ``multiple`` of the observed, ``se``, ...);
        otherwise empty.
    effect, power
        The effect the user named (on the analysis's natural scale: a ratio or a
        difference) and the power against it at the planned follow-up.
    alpha, target_power
        Two-sided significance level and the power the MDE is for.
    method
        How the standard error was found, in words.
    diagnostics, warnings
        Details of the fit and plain-words cautions.
    """

    design: str
    outcome: str
    scale: str
    curve: pd.DataFrame
    followup: int | None
    method: str
    units: pd.DataFrame = field(default_factory=pd.DataFrame)
    effect: float | None = None
    power: float | None = None
    alpha: float = 0.05
    target_power: float = 0.8
    baseline: float | None = None
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "diagnostics", MappingProxyType(dict(self.diagnostics)))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    # ------------------------------------------------------------------ headline numbers
    def planned(self) -> pd.Series:
        """The curve's row at the planned follow-up."""
        c = self.curve
        if self.followup is None or "followup" not in c:
            return c.iloc[0]
        row = c[c["followup"] == self.followup]
        if row.empty:
            raise KeyError(f"no row for the planned follow-up of {self.followup}")
        return row.iloc[0]

    @property
    def mde(self) -> float:
        """The MDE at the planned follow-up, on the analysis scale (a log ratio for
        ``scale="ratio"``, a difference otherwise)."""
        return float(self.planned()["mde"])

    @property
    def se(self) -> float:
        """The standard error under no effect at the planned follow-up."""
        return float(self.planned()["se"])

    @property
    def effects(self) -> pd.DataFrame:
        """The headline numbers as a tidy frame (columns :data:`POWER_FIELDS`): the MDE at
        the planned follow-up and, when an effect was named, the power against it."""
        row = self.planned()
        n_units = self.diagnostics.get("n_units")
        common = dict(outcome=self.outcome, design=self.design, followup=self.followup,
                      n_units=n_units, scale=self.scale, se=float(row["se"]),
                      alpha=self.alpha, target_power=self.target_power, method=self.method)
        rows = [{**common, "quantity": "mde", "value": float(row["mde"]),
                 "mde_fall": float(row["mde_fall"]), "mde_rise": float(row["mde_rise"]),
                 "percent": float(row["percent"])}]
        if self.effect is not None:
            rows.append({**common, "quantity": "power", "value": self.power,
                         "mde_fall": np.nan, "mde_rise": np.nan, "percent": np.nan})
        return pd.DataFrame(rows, columns=list(POWER_FIELDS))

    def to_frame(self) -> pd.DataFrame:
        """:attr:`effects` (a new frame)."""
        return self.effects

    def plot_data(self) -> dict[str, pd.DataFrame]:
        """Frames for the plots (copies): ``mde_by_followup`` and, for multi-site and
        staggered designs, ``mde_by_units``."""
        out = {"mde_by_followup": self.curve.copy()}
        if not self.units.empty:
            out["mde_by_units"] = self.units.copy()
        return out

    def power_for(self, effect: float) -> float:
        """Power (normal approximation) against ``effect`` at the planned follow-up."""
        size = np.log(effect) if self.scale == "ratio" else effect
        return float(power_at(size, self.se, self.alpha))

    def summary(self) -> str:
        """Plain-text summary: the MDE at the planned follow-up, power for the named
        effect, and the curve at a few follow-up lengths."""
        row = self.planned()
        pct = f"{100 * self.target_power:.0f}%"
        lvl = f"{100 * self.alpha:g}%"
        when = f" at {self.followup} periods of follow-up" if self.followup else ""
        lines = [f"power ({self.design}) — {self.outcome}: {self.method}"]
        if self.scale == "ratio":
            lines.append(f"MDE{when} ({pct} power, two-sided {lvl}): a fall to a rate ratio "
                         f"of {row['mde_fall']:.3f} ({row['percent']:.1f}% fewer) or a rise "
                         f"to {row['mde_rise']:.3f}")
        else:
            extra = f" ({row['percent']:.1f}% of the baseline)" if np.isfinite(
                row["percent"]) else ""
            lines.append(f"MDE{when} ({pct} power, two-sided {lvl}): a difference of "
                         f"{row['mde']:.4g}{extra}")
            if not np.isclose(-row["mde_fall"], row["mde_rise"]):
                lines.append(f"Allowing for the pre-period drift: a fall of "
                             f"{-row['mde_fall']:.4g} or a rise of {row['mde_rise']:.4g}")
        if self.effect is not None:
            lines.append(f"Power against an effect of {self.effect:.4g}: {self.power:.2f}")
        if len(self.curve) > 1 and "followup" in self.curve:
            show = self.curve[self.curve["followup"].isin([3, 6, 12, 18, 24, 36])]
            cols = ["followup", "mde_fall", "mde_rise", "percent", "n_draws"]
            lines.append("By follow-up:")
            lines.append(show[[c for c in cols if c in show]].to_string(
                index=False, float_format=lambda v: f"{v:.4g}"))
        if not self.units.empty:
            lines.append("By number of units:")
            lines.append(self.units.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<PowerResult {self.design}: MDE {self.mde:.4g} ({self.scale})>"
