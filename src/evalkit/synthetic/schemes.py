"""The nine synthetic case studies: what each scheme is and what truth is built in.

Each is inspired by published descriptions of a real kind of scheme, and makes
no claim about any real scheme's results. True effects are chosen so that some
schemes help, some do nothing and some harm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SchemeDef", "SCHEMES", "FIRST_MONTH", "N_MONTHS", "scheme_names"]

#: The panel runs monthly from April 2015 for 84 months (to March 2022).
FIRST_MONTH = "2015-04"
N_MONTHS = 84


@dataclass(frozen=True)
class SchemeDef:
    """The parameters of one synthetic case study.

    ``effects`` maps outcome to the full (post ramp-up) effect at average engagement:
    a rate ratio for counts, a difference for gaussian outcomes, a difference in
    proportion for binomial ones. ``selection`` says how scheme units were chosen:
    ``"random"`` (an area or volunteers), ``"high"`` (the highest values of
    ``select_on`` in the year before the start, so regression to the mean is built
    in), ``"large"`` (larger practices, a stable trait) or ``"staggered"`` (waves by
    federation).
    """

    name: str
    title: str
    nation: str
    inspired_by: str
    summary: str
    unit_kind: str
    n_units: int
    n_treated: int
    start: str
    selection: str
    effects: dict[str, float]
    select_on: str = "emergency_admissions"
    engagement_mean: float = 0.6
    ramp_months: int = 6
    transient_sd: float = 0.06
    patient_cost_effect: float = 1.0
    community_uplift: float = 1.3
    patients_selected_high: bool = False
    #: QALY gain per enrolled patient in the year after enrolment (truth for ``qaly``).
    qaly_gain: float = 0.0
    #: The scheme's cost per patient served in its first year (set-up included), GBP: sets
    #: ``patients_served`` in the spec (the scheme's first-year cost divided by this).
    cost_per_patient: float = 500.0
    #: How the practices work together: federation, PCN, super-partnership or cluster.
    organisational_form: str = "PCN"
    #: Change in the chance that an enrolled patient's GP consultation is with their usual
    #: GP, in the year after enrolment (truth for the continuity indices).
    continuity_change: float = 0.0
    #: Practice-level effects on patients (log-SD of a practice-year multiplier of resource
    #: use, SD of a practice-year shift in utility); (0, 0): none, patients independent.
    practice_sd: tuple[float, float] = (0.0, 0.0)
    waves: dict[str, str] = field(default_factory=dict)
    localities: int = 0
    patient_cohort: bool = False
    seed: int = 0


SCHEMES: tuple[SchemeDef, ...] = (
    SchemeDef(
        name="virtual-wards",
        title="Community virtual wards for frail older people",
        nation="England",
        inspired_by="community virtual wards in the style of South Devon and Torbay",
        summary="Community nurses, therapists and GPs run a 'ward without walls' that "
                "supports frail older people at home when they become unwell. Practices in "
                "one locality joined together in October 2019. Patients are enrolled after a "
                "period of heavy hospital use.",
        unit_kind="practice", n_units=90, n_treated=30, start="2019-10", selection="random",
        effects={"emergency_admissions": 0.92, "bed_days": 0.88, "ae_attendances": 0.97},
        engagement_mean=0.7, patient_cost_effect=0.80, community_uplift=1.6,
        patients_selected_high=True, localities=30, patient_cohort=True,
        qaly_gain=0.02, cost_per_patient=100, continuity_change=0.05, seed=101,
    ),
    SchemeDef(
        name="palliative-care",
        title="Community palliative care at the end of life",
        nation="England",
        inspired_by="community palliative care in the style of Midhurst",
        summary="A consultant-led community specialist palliative care team works with "
                "practices and district nurses so that more people can die at home. It "
                "covered several localities from April 2019.",
        unit_kind="area", n_units=40, n_treated=12, start="2019-04", selection="random",
        effects={"deaths_at_home": 0.08, "bed_days_last90": 0.82},
        engagement_mean=0.75, patient_cost_effect=0.85, community_uplift=1.8,
        qaly_gain=0.04, cost_per_patient=300, continuity_change=0.1,
        organisational_form="cluster", seed=102,
    ),
    SchemeDef(
        name="dementia-service",
        title="Integrated dementia service in primary care",
        nation="England",
        inspired_by="a memory and dementia service in the style of Oxleas",
        summary="A specialist dementia team works alongside practices to diagnose dementia "
                "earlier and support people and carers at home. Practices volunteered from "
                "October 2019. In this synthetic case study the service has no effect on "
                "admissions.",
        unit_kind="practice", n_units=70, n_treated=25, start="2019-10", selection="random",
        effects={"emergency_admissions": 1.00, "bed_days": 0.98},
        engagement_mean=0.5, patient_cost_effect=1.0, community_uplift=1.4,
        qaly_gain=0.02, cost_per_patient=350, continuity_change=0.05,
        practice_sd=(0.55, 0.027), seed=103,
    ),
    SchemeDef(
        name="mental-health-primary-care",
        title="Primary-care mental health project",
        nation="England",
        inspired_by="a primary-care mental health project in the style of Sandwell",
        summary="Mental-health workers are based in practices to see people early and "
                "reduce crisis attendances. The practices with the highest A&E use in the "
                "previous year were chosen to start in April 2019.",
        unit_kind="practice", n_units=100, n_treated=25, start="2019-04", selection="high",
        select_on="ae_attendances", transient_sd=0.13,
        effects={"ae_attendances": 0.96, "emergency_admissions": 0.99},
        engagement_mean=0.55, patient_cost_effect=0.95, community_uplift=1.3,
        qaly_gain=0.015, cost_per_patient=250, seed=104,
    ),
    SchemeDef(
        name="community-resource-team",
        title="Community resource team",
        nation="Wales",
        inspired_by="a Welsh community resource team in the style of Pembrokeshire",
        summary="Health and social care staff in one team offer rapid assessment, "
                "reablement and care at home across a county. Practices in the county "
                "joined in April 2019.",
        unit_kind="practice", n_units=60, n_treated=20, start="2019-04", selection="random",
        effects={"emergency_admissions": 0.94, "bed_days": 0.90},
        engagement_mean=0.65, patient_cost_effect=0.90, community_uplift=1.5, localities=20,
        qaly_gain=0.035, cost_per_patient=500, continuity_change=0.05,
        organisational_form="cluster", seed=105,
    ),
    SchemeDef(
        name="frailty-inequalities",
        title="Frailty programme focused on inequalities",
        nation="England",
        inspired_by="a frailty programme focused on inequalities in the style of Leeds",
        summary="Neighbourhood teams proactively find and support frail older people, "
                "starting with the practices that had the highest emergency admission rates. "
                "Engagement varied widely between practices.",
        unit_kind="practice", n_units=120, n_treated=30, start="2019-10", selection="high",
        transient_sd=0.13, effects={"emergency_admissions": 0.95, "bed_days": 0.93},
        engagement_mean=0.5, patient_cost_effect=0.90, community_uplift=1.4,
        patients_selected_high=True, patient_cohort=True,
        qaly_gain=0.01, cost_per_patient=150, continuity_change=0.1, seed=106,
    ),
    SchemeDef(
        name="rapid-response",
        title="Acute rapid response team for older people",
        nation="England",
        inspired_by="an acute rapid response team for older people in the style of Thanet",
        summary="A rapid response team sees older people in a crisis at home within two "
                "hours. It started in April 2019 with the practices that had the most "
                "emergency admissions. In this synthetic case study it does not reduce "
                "admissions and slightly increases A&E attendances.",
        unit_kind="practice", n_units=100, n_treated=25, start="2019-04", selection="high",
        transient_sd=0.13, effects={"emergency_admissions": 1.00, "ae_attendances": 1.05},
        engagement_mean=0.6, patient_cost_effect=1.05, community_uplift=1.5,
        patients_selected_high=True, qaly_gain=0.0, cost_per_patient=200,
        continuity_change=-0.05, organisational_form="federation", seed=107,
    ),
    SchemeDef(
        name="federation-mdt",
        title="GP federation multidisciplinary teams, rolled out in stages",
        nation="Northern Ireland",
        inspired_by="GP-federation multidisciplinary teams in Northern Ireland, with Down and "
                    "Derry first",
        summary="Federations of practices gained physiotherapists, mental-health workers and "
                "social workers in waves: Down and Derry in April 2019, two more federations "
                "in October 2020 and two in January 2022; two had not started.",
        unit_kind="practice", n_units=120, n_treated=30, start="2019-04", selection="staggered",
        effects={"emergency_admissions": 0.95, "bed_days": 0.93},
        engagement_mean=0.65, patient_cost_effect=0.92, community_uplift=1.3,
        waves={"Down": "2019-04", "Derry": "2019-04", "Belfast North": "2020-10",
               "Newry": "2020-10", "Causeway": "2022-01", "Mid Ulster": "2022-01",
               "Armagh": "", "Fermanagh": ""},
        qaly_gain=0.025, cost_per_patient=600, organisational_form="federation", seed=108,
    ),
    SchemeDef(
        name="gp-at-scale",
        title="Large-scale GP organisations compared with independent practices",
        nation="England",
        inspired_by="large-scale general practice organisations (super-partnerships and "
                    "multi-site providers) compared with independent practices",
        summary="Some practices joined large-scale organisations in April 2018, sharing "
                "back-office staff and clinical pathways. Larger practices were more likely "
                "to join. In this synthetic case study patient experience and continuity fall "
                "slightly and admissions do not change.",
        unit_kind="practice", n_units=110, n_treated=40, start="2018-04", selection="large",
        effects={"patient_experience": -2.0, "continuity": -0.03, "emergency_admissions": 1.0},
        engagement_mean=0.6, patient_cost_effect=1.0, community_uplift=1.1,
        qaly_gain=-0.01, cost_per_patient=300, continuity_change=-0.12,
        organisational_form="super-partnership", seed=109,
    ),
)


def scheme_names() -> list[str]:
    """Names of the synthetic schemes, in order."""
    return [s.name for s in SCHEMES]
