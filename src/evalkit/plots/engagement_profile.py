"""The figures of a scheme's engagement profile, by name, for outputs and reports.

Each entry draws a frame the profile already holds
(:class:`~evalkit.engagement.profile.EngagementProfile`); nothing is re-estimated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from matplotlib.figure import Figure

from evalkit.plots.engagement import dose_response_plot, likert_plot, lorenz_plot, maturity_radar
from evalkit.plots.funnel import funnel_plot
from evalkit.plots.spc import spc_plot

__all__ = ["engagement_figures", "outcome_spc_figure", "referral_spc_figure",
           "maturity_figure"]


def outcome_spc_figure(profile, *, labels: Mapping[str, str] | None = None
                       ) -> tuple[Figure, str] | None:
    """The headline outcome of the scheme's units a month, before and after the start."""
    if profile.outcome_spc is None:
        return None
    name = (labels or {}).get(profile.outcome, profile.outcome.replace("_", " "))
    events = {profile.start: "scheme starts"} if profile.start else None
    unit = "(%)" if profile.outcome_unit == "%" else "per 1,000 a month"
    return spc_plot(profile.outcome_spc, label=f"{name} {unit}, scheme units",
                    title=f"{name}: before and after the start", annotations=events)


def referral_spc_figure(profile) -> tuple[Figure, str] | None:
    """Referrals per 1,000 patients a month across the scheme's units (u-chart)."""
    if profile.referral_spc is None:
        return None
    return spc_plot(profile.referral_spc, label="referrals per 1,000 patients a month",
                    title="Referrals to the scheme", two_sigma=False)


def maturity_figure(profile) -> tuple[Figure, str] | None:
    """The maturity radar of the networks scoring highest and lowest at the last wave."""
    if profile.maturity is None:
        return None
    m = profile.maturity
    last = m.overall[m.overall["wave"] == m.waves[-1]].sort_values(["score", "network"])
    networks = list(dict.fromkeys([last["network"].iloc[-1], last["network"].iloc[0]]))
    return maturity_radar(m, networks=networks)


def engagement_figures(profile, *, labels: Mapping[str, str] | None = None
                       ) -> Iterator[tuple[str, Figure, str]]:
    """Yield ``(name, figure, alt_text)`` for every engagement figure the profile allows."""
    drawn = {
        "spc-outcome": outcome_spc_figure(profile, labels=labels),
        "spc-referrals": referral_spc_figure(profile),
        "funnel-referrals": funnel_plot(profile.funnel, label="referrals per 1,000 patients "
                                        "a year") if profile.funnel is not None else None,
        "lorenz-referrals": lorenz_plot(profile.indices) if profile.indices is not None
        else None,
        "likert-survey": likert_plot(profile.survey) if profile.survey is not None else None,
        "radar-maturity": maturity_figure(profile),
        "dose-response": dose_response_plot(profile.dose_response)
        if profile.dose_response is not None else None,
    }
    for name, out in drawn.items():
        if out is not None:
            yield name, out[0], out[1]
