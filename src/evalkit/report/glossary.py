"""The reports' glossary: plain-English definitions of the technical terms they use.

:data:`TERMS` holds every term an evidence summary or the comparative synthesis may use,
each with the phrases that show it is used. :func:`glossary_markdown` prints all of them
as a glossary appendix (a Div of class ``evalkit-glossary`` with one Div per term, whose
``data-phrases`` attribute lists the phrases); the Lua filter ``glossary.lua`` (built-in
engine and Quarto alike) then reads the rendered document, keeps only the terms the rest
of *that* report uses, drops the appendix if it uses none, and in HTML links the first
use of each term to its entry (``#gloss-<key>``).

Every definition is evalkit's own wording; the source given is where the method or
measure was set out.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.report.markdown_text import md_attribute, md_text

__all__ = ["Term", "TERMS", "glossary_markdown", "GLOSSARY_ID", "GLOSSARY_HEADING"]

#: The identifier of the glossary appendix's heading (in the report's ``.qmd``).
GLOSSARY_ID = "sec-glossary"
#: The glossary appendix's heading.
GLOSSARY_HEADING = "Appendix: glossary"


@dataclass(frozen=True)
class Term:
    """One glossary entry.

    Attributes
    ----------
    key
        Short identifier; the entry's anchor is ``gloss-<key>``.
    term
        The term as the glossary lists it.
    phrases
        Text that shows the report uses the term. A phrase in lower case matches in any
        case; one with capitals matches exactly. Letters and digits at a phrase's ends
        must not run on into a longer word.
    definition
        What it means, in plain English.
    source
        Where it was set out (optional).
    """

    key: str
    term: str
    phrases: tuple[str, ...]
    definition: str
    source: str = ""


TERMS: tuple[Term, ...] = (
    Term("ar1", "AR(1) errors", ("AR(1)", "autocorrelation"),
         "Errors that are first-order autoregressive: how far one month's value is off the "
         "model's line is partly carried over to the next month. Ignoring this "
         "autocorrelation makes confidence intervals too narrow.",
         "Box and Jenkins, Time Series Analysis (1970)"),
    Term("breusch-godfrey", "Breusch-Godfrey test",
         ("Breusch-Godfrey", "Breusch–Godfrey"),
         "A test of whether a regression's errors are correlated with the errors of earlier "
         "periods (autocorrelation). A small p-value suggests they are, so standard errors "
         "that assume independent errors would be too small.",
         "Breusch (1978); Godfrey (1978)"),
    Term("caliper", "Caliper (of the logit of the propensity score)", ("caliper",),
         "The largest difference allowed between a treated unit and its match. Measured "
         "on the logit (log-odds) of the propensity score, in standard deviations of that "
         "logit; 0.2 is a common choice. Units with no match within the caliper are left "
         "out.",
         "Austin, Pharmaceutical Statistics (2011)"),
    Term("ceac", "Cost-effectiveness acceptability curve",
         ("acceptability curve", "CEAC"),
         "For each amount a decision-maker is willing to pay for one QALY, the chance that "
         "the scheme is the cost-effective choice, given the uncertainty in its costs and "
         "effects.",
         "Fenwick, Claxton and Sculpher, Health Economics (2001)"),
    Term("ci", "Confidence interval (95% CI)", ("confidence interval", "95% CI"),
         "A range of values for an effect that are compatible with the data. If the study "
         "were repeated many times, 95% of such intervals would contain the true value. A "
         "95% CI that includes no change means the data cannot rule out no effect."),
    Term("coc", "COC (Bice-Boxerman Continuity of Care index)", ("COC", "Bice-Boxerman",
                                                              "Bice–Boxerman"),
         "A continuity-of-care measure from 0 to 1: how concentrated a patient's "
         "consultations are among GPs. It is 1 when every consultation is with the same "
         "GP and 0 when each is with a different one.",
         "Bice and Boxerman, Medical Care (1977)"),
    Term("cronbach", "Cronbach's alpha", ("Cronbach",),
         "A measure, usually between 0 and 1, of how consistently a set of survey "
         "statements measure the same thing: how closely the answers to them move together. "
         "Values of 0.7 or more are often taken as acceptable for a scale.",
         "Cronbach, Psychometrika (1951)"),
    Term("did", "Difference-in-differences (DiD)", ("difference-in-differences", "DiD"),
         "An estimate of a scheme's effect: the change in the scheme's units after it "
         "began, minus the change over the same time in comparison units. It assumes that "
         "without the scheme both would have followed parallel trends.",
         "Angrist and Pischke, Mostly Harmless Econometrics (2009)"),
    Term("e-value", "E-value", ("E-value",),
         "How strongly an unmeasured confounder would have to be associated with both "
         "the treatment and the outcome (as a risk ratio) to explain away an observed "
         "effect. Larger E-values mean a finding is harder to explain away.",
         "VanderWeele and Ding, Annals of Internal Medicine (2017)"),
    Term("evpi", "EVPI (expected value of perfect information)",
         ("EVPI", "expected value of perfect information"),
         "What a decision-maker could expect to gain, per patient, by knowing the true "
         "costs and effects before choosing, at a given willingness to pay. It is the "
         "expected cost of the current uncertainty, and an upper limit on what further "
         "research to reduce it is worth.",
         "Claxton, Journal of Health Economics (1999)"),
    Term("grade", "GRADE certainty", ("GRADE",),
         "A rating of how sure we can be of a finding: high, moderate, low or very low. It "
         "starts from the strength of the design and is rated down for risk of bias, "
         "imprecision, inconsistency, indirectness or publication bias. evalkit's rating "
         "follows this approach (GRADE-style); it is not a formal GRADE assessment.",
         "Guyatt et al., BMJ (2008)"),
    Term("hksj", "Hartung-Knapp-Sidik-Jonkman (HKSJ) interval",
         ("Hartung-Knapp", "Hartung–Knapp", "HKSJ"),
         "A way to compute the confidence interval of a pooled effect in a random-effects "
         "meta-analysis. It uses a t distribution and the observed spread of the studies' "
         "results, so the interval is wider, and more often right, than the standard one "
         "when there are few studies.",
         "Hartung and Knapp (2001); Sidik and Jonkman (2002); IntHout et al., BMC Medical "
         "Research Methodology (2014)"),
    Term("i2", "I² (heterogeneity)", ("I²",),
         "The share of the variation between studies' results that reflects real "
         "differences between them rather than chance, from 0% to 100%.",
         "Higgins and Thompson, Statistics in Medicine (2002)"),
    Term("its", "Interrupted time series (ITS)", ("interrupted time series", "ITS"),
         "A design that follows an outcome over many periods before and after a start "
         "date, and compares what happened after with the trend projected from before: a "
         "change in level at the start and a change in slope after it.",
         "Bernal, Cummins and Gasparrini, International Journal of Epidemiology (2017)"),
    Term("maryland", "Maryland Scientific Methods Scale (Maryland level)", ("Maryland",),
         "A five-level rating of how well a design rules out other explanations for a "
         "change. As evalkit applies it: level 1 is a before/after comparison with no "
         "comparison group; level 2 the same adjusted for regression to the mean; level 3 "
         "judges the change against a comparison group or a long earlier trend; level 4 "
         "against a comparison built to be similar whose checks pass; level 5 is a "
         "randomised comparison.",
         "Sherman et al., Preventing Crime: What Works, What Doesn't, What's Promising "
         "(1997)"),
    Term("mde", "Minimum detectable effect (MDE)", ("minimum detectable effect",),
         "The smallest true change that an analysis would detect 8 times in 10 (80% power) "
         "with a two-sided test at the 5% level: 2.8 standard errors of the estimate when "
         "there is no effect. A finding of no change means little when the MDE is larger "
         "than the change hoped for.",
         "Bloom, Evaluation Review (1995)"),
    Term("meta-analysis", "Random-effects meta-analysis", ("random-effects",
                                                           "random effects", "REML"),
         "A weighted average of several studies' effects that allows the true effect to "
         "differ between them. REML (restricted maximum likelihood) is the method used to "
         "estimate how much they differ.",
         "DerSimonian and Laird, Controlled Clinical Trials (1986); Viechtbauer, Journal of "
         "Educational and Behavioral Statistics (2005)"),
    Term("meta-regression", "Meta-regression", ("meta-regression",),
         "A regression across studies of their effects on a characteristic of each study "
         "(here, how much GPs engaged), weighted by each study's precision. With few "
         "studies it can show an association, not a cause.",
         "Thompson and Higgins, Statistics in Medicine (2002)"),
    Term("nmb", "Net monetary benefit", ("net monetary benefit",),
         "The health gained, valued in money at the willingness to pay for one QALY, minus "
         "the extra cost. A positive value means the scheme is cost-effective at that "
         "willingness to pay.",
         "Stinnett and Mullahy, Medical Decision Making (1998)"),
    Term("odds-ratio", "Odds ratio", ("odds ratio",),
         "The odds of an answer or event in one group (or period) divided by the odds in "
         "another. 1 means no difference; above 1, more likely in the first."),
    Term("prediction-interval", "Prediction interval", ("prediction interval",),
         "In a meta-analysis, the range in which the effect of a new, similar scheme would "
         "be expected to lie. It is wider than the confidence interval of the pooled effect "
         "because the schemes differ.",
         "Riley, Higgins and Deeks, BMJ (2011)"),
    Term("propensity", "Propensity score matching", ("propensity",),
         "The propensity score is the probability of being in the scheme given measured "
         "characteristics. Matching each treated unit to a comparison unit with a similar "
         "score builds a comparison group like the treated group in those characteristics "
         "(not in unmeasured ones).",
         "Rosenbaum and Rubin, Biometrika (1983)"),
    Term("qaly", "QALY (quality-adjusted life year)", ("QALY", "quality-adjusted life"),
         "A measure of health that combines length and quality of life: a year in full "
         "health is 1 QALY, a year at half that quality 0.5.",
         "NICE, Guide to the methods of technology appraisal (2013)"),
    Term("quasi-poisson", "Quasi-Poisson model", ("quasi-Poisson", "overdispersion"),
         "A regression for counts (such as admissions) that allows their variance to be "
         "larger than a Poisson model assumes (overdispersion), which widens the "
         "confidence intervals accordingly.",
         "McCullagh and Nelder, Generalized Linear Models (1989)"),
    Term("rate-ratio", "Rate ratio", ("rate ratio",),
         "The rate of events (for example admissions per 1,000 people a month) in one group "
         "or period divided by the rate in another. 0.9 means 10% fewer."),
    Term("rtm", "Regression to the mean", ("regression to the mean",),
         "The tendency of units chosen because their values were unusually high (or low) to "
         "be closer to average when measured again, with or without a scheme. It can make "
         "a scheme look effective when it is not.",
         "Barnett, van der Pols and Dobson, International Journal of Epidemiology (2005)"),
    Term("secon", "SECON (Sequential Continuity index)", ("SECON",),
         "A continuity-of-care measure from 0 to 1: the share of a patient's consecutive "
         "pairs of consultations that were with the same GP.",
         "Steinwachs, Medical Care (1979)"),
    Term("smd", "|SMD| (absolute standardised mean difference)",
         ("|SMD|", "SMD", "standardised mean difference"),
         "The difference between two groups' means of a characteristic, divided by their "
         "pooled standard deviation, ignoring its sign. Below 0.1 is commonly taken to mean "
         "the groups are balanced on that characteristic.",
         "Austin, Statistics in Medicine (2009)"),
    Term("squire-trend", "SQUIRE 2.0 and TREND", ("SQUIRE", "TREND"),
         "Reporting guidelines: SQUIRE 2.0 for reports of quality improvement work, TREND "
         "for evaluations with non-randomised designs. The checklist appendix shows where "
         "this report covers each item.",
         "Ogrinc et al., BMJ Quality & Safety (2016); Des Jarlais et al., American Journal "
         "of Public Health (2004)"),
    Term("synthetic-control", "Synthetic control", ("synthetic control",),
         "A comparison built as a weighted mix of units outside the scheme, chosen so that "
         "together they track the scheme's units before it began; the gap after the start "
         "estimates the effect.",
         "Abadie, Diamond and Hainmueller, Journal of the American Statistical Association "
         "(2010)"),
    Term("upc", "UPC (Usual Provider of Care index)", ("UPC", "Usual Provider of Care"),
         "A continuity-of-care measure from 0 to 1: the share of a patient's consultations "
         "that were with the GP they saw most often.",
         "Breslau and Reeb, American Journal of Public Health (1975)"),
    Term("xmr", "XmR chart (statistical process control)",
         ("XmR", "special cause", "special-cause"),
         "A chart of values over time with their mean and process limits (the mean plus or "
         "minus 2.66 times the average change from one point to the next). Points outside "
         "the limits, or long runs on one side of the mean, signal special-cause variation: "
         "a change beyond the usual ups and downs.",
         "NHS England, Making Data Count (2019)"),
)


def _entry(term: Term) -> str:
    source = f" Source: {md_text(term.source)}." if term.source else ""
    return "\n".join([
        f'::: {{#gloss-{term.key} .evalkit-glossary-entry '
        f'data-phrases="{md_attribute(";".join(term.phrases))}"}}',
        f"**{md_text(term.term)}**: {md_text(term.definition)}{source}", ":::", ""])


def glossary_markdown() -> str:
    """The glossary appendix's body with every term of :data:`TERMS`, for ``glossary.lua``
    to keep those the report uses (print it from an ``output: asis`` chunk under the
    heading ``## Appendix: glossary {#sec-glossary}``, which the filter removes too if the
    report uses no term).

    Returns
    -------
    str
        Pandoc Markdown.
    """
    return "\n".join([
        "::: {.evalkit-glossary}",
        "The technical terms this report uses, in plain English.", "",
        *(_entry(t) for t in sorted(TERMS, key=lambda t: t.term.lower().lstrip("|"))),
        ":::", ""])
