"""The walkthrough notebooks teach: they show their pictures, and their words agree with
their outputs.

Two checks read the stored notebooks (nbval, run by the README's test command, proves that
the stored outputs are what the code produces today):

* every cell that draws a figure displays it as a picture (``image/png``), not only its
  alt text or ``<Figure size ...>``;
* the narrative states no fact that the outputs contradict. Each number in a markdown cell
  must appear among the notebook's outputs or code (rounded as the prose rounds it), and
  each claim tied to an output (a direction, a rank, "contains the truth", "detected")
  is listed below with the check that makes it true. A claim whose sentence is reworded
  must be listed again: a listed sentence that no longer appears fails too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "analyses").glob("*.ipynb"))
NUMBER = re.compile(r"(?<![\w.])[-−]?\d[\d,]*(?:\.\d+)?%?")
#: Numbers that are conventions, not results: 95% intervals, "per 1,000 patients".
CONVENTIONS = {"95%", "1,000"}


class Outputs:
    """The stored text outputs of one notebook, with small parsers for the checks."""

    def __init__(self, path: Path):
        nb = json.loads(path.read_text(encoding="utf-8"))
        self.cells = nb["cells"]
        parts = []
        for cell in self.cells:
            for out in cell.get("outputs", []):
                parts.append("".join(out.get("text", "")))
                parts.append("".join(out.get("data", {}).get("text/plain", "")))
        self.text = "\n".join(parts)
        self.code = "\n".join("".join(c["source"]) for c in self.cells
                              if c["cell_type"] == "code")
        self.markdown = "\n".join("".join(c["source"]) for c in self.cells
                                  if c["cell_type"] == "markdown")

    def find(self, pattern: str) -> re.Match:
        """The first match of ``pattern`` in the outputs (multi-line mode); fails if none."""
        match = re.search(pattern, self.text, flags=re.M)
        assert match, f"no output matches {pattern!r}"
        return match

    def number(self, pattern: str, group: int = 1) -> float:
        return float(self.find(pattern).group(group).replace(",", "").replace("−", "-"))

    def row(self, label: str) -> list[float]:
        """The numbers on the first output line that starts with ``label`` (after spaces)."""
        line = self.find(rf"^\s*{re.escape(label)}(\s.*)$").group(1)
        return [float(n.replace(",", "").rstrip("%")) for n in
                re.findall(r"[-−]?\d[\d,]*(?:\.\d+)?", line.replace("−", "-"))]


@dataclass(frozen=True)
class Claim:
    """A sentence of the narrative (a regex over its markdown) and the check of it."""

    sentence: str  # a regex over the prose, its white space made single spaces
    check: Callable[[Outputs], bool]


def _between(value: float, low: float, high: float) -> bool:
    return low <= value <= high


CLAIMS: dict[str, list[Claim]] = {
    "01-before-after-walkthrough.ipynb": [
        Claim(r"admissions fell by about a tenth",
              lambda o: _between(o.row("before_after")[0], 0.85, 0.95)),
        Claim(r"rose only a\s+little more than the others",
              lambda o: o.find(r"^rtm_detected\s+(\w+)").group(1) == "False"
              and o.number(r"^rtm_selection_z\s+([-\d.]+)") < 1.96),
        Claim(r"adjusted estimate is closer to it than the naive one",
              lambda o: abs(o.number(r"^adjusted for RTM.*error ([-+\d.]+)"))
              < abs(o.number(r"^naive before/after.*error ([-+\d.]+)"))),
        Claim(r"rise into it only a\s+little more than the others do",
              lambda o: o.find(r"^rtm_detected\s+(\w+)").group(1) == "False"),
        Claim(r"is at most level 2",
              lambda o: max(o.row("before_after")[-1],
                            o.row("before_after_rtm_adjusted")[-1]) <= 2),
    ],
    "02-interrupted-time-series.ipynb": [
        Claim(r"it fits AR\(1\) errors whatever they say",
              lambda o: o.find(r"^remedy: (\w+)").group(1) == "ar"),
    ],
    "03-staggered-did.ipynb": [
        Claim(r"Here the estimate is further from zero than the truth",
              lambda o: abs(o.number(r"ratio ([\d.]+); truth") - 1)
              > abs(o.number(r"; truth ([\d.]+)") - 1)),
        Claim(r"the lead at -1 \(below\) points that way",
              lambda o: o.row("-1")[0] > 0),
        Claim(r"the pre-trend test flags it",
              lambda o: o.number(r"^pre-trend test over .*p = ([\d.]+)") < 0.05),
        Claim(r"With only eight federations",
              lambda o: o.number(r"(\d+) federations") == 8),
    ],
    "04-synthetic-control.ipynb": [
        Claim(r"warns when a fifth or more of the weight moves \(here it does",
              lambda o: "not unique in V" in o.text
              and o.number(r"moves (\d+)% of the weight") >= 20),
        Claim(r"thirty other localities did not",
              lambda o: o.number(r"^(\d+) localities") == 31),
        Claim(r"the only one of 31 whose post-start gap is this large",
              lambda o: o.find(r"rank (\d+) of (\d+)").groups() == ("1", "31")),
        Claim(r"the truth the synthetic data were built with lies inside\s+the interval",
              lambda o: _between(o.number(r"truth \(known .*\): ([-\d.]+)"),
                                 o.number(r"95% CI ([-\d.]+) to"),
                                 o.number(r"95% CI [-\d.]+ to ([-\d.]+)"))),
    ],
    "05-matched-cohort.ipynb": [
        Claim(r"change\s+attributable to the scheme is much smaller",
              lambda o: abs(o.row("att_did")[0]) < abs(o.number(r"change ([-+\d,]+)"))),
        Claim(r"it contains the truth",
              lambda o: _between(o.number(r"truth \(known .*\): ([-+\d,]+)"),
                                 o.row("att_did")[1], o.row("att_did")[2])),
        Claim(r"some \|SMD\| above 0\.1",
              lambda o: any(abs(o.row(c)[1]) > 0.1 for c in
                            ("age", "female", "conditions", "risk_score", "cost_y1",
                             "cost_y2"))),
        Claim(r"held at Maryland level 3", lambda o: o.row("att_did")[-1] == 3),
    ],
    "06-costs-and-economic-evaluation.ipynb": [
        Claim(r"the two-part model's estimate equals the difference in arm means",
              lambda o: o.row("two_part") == o.row("bootstrap")),
        Claim(r"costs about £300 per patient served",
              lambda o: _between(o.row("scheme_cost_per_patient")[0], 275, 325)),
        Claim(r"appears to reduce resource use a little",
              lambda o: o.row("resource_cost_change")[0] < 0),
        Claim(r"very likely cost-effective",
              lambda o: o.number(r"probability cost-effective at £20,000: ([\d.]+)") >= 0.9),
        Claim(r"one-way analysis shows it is the input the conclusion rests on",
              lambda o: o.find(r"output_high\n\s*(.+?\))\s").group(1)
              .startswith("Change in resource-use cost")),
    ],
    "07-engagement-and-spc.ipynb": [
        Claim(r"Almost every practice referred",
              lambda o: o.row("referrals               share_referring")[0] >= 90),
        Claim(r"MDT attendance was\s+lowest for mental-health workers",
              lambda o: "lowest for mental health workers" in o.text),
        Claim(r"Referral rates vary more than chance allows",
              lambda o: o.number(r"overdispersion phi = ([\d.]+)") > 1),
        Claim(r"Continuity fell for enrolled patients",
              lambda o: o.row("enrolled, after")[1] < o.row("enrolled, before")[1]),
    ],
    "08-comparing-schemes.ipynb": [
        Claim(r"With eight schemes", lambda o: o.number(r"Meta-analysis of (\d+) schemes") == 8),
        Claim(r"followed by slightly fewer emergency admissions",
              lambda o: _between(o.number(r"^Pooled ratio ([\d.]+)"), 0.9, 0.999)),
        Claim(r"the prediction interval includes no change",
              lambda o: o.number(r"prediction interval ([\d.]+) to") <= 1
              <= o.number(r"prediction interval [\d.]+ to ([\d.]+)")),
        Claim(r"does not explain the differences",
              lambda o: o.row("moderator:referrals_per_1000")[-1] > 0.05),
        Claim(r"Most findings are of low or very low\s+certainty",
              lambda o: len(re.findall(r" (?:low|very low)$", o.text, flags=re.M))
              > len(re.findall(r" (?:moderate|high)$", o.text, flags=re.M))),
    ],
}


def _same(prose: str, shown: set[str]) -> bool:
    """Whether a number in the prose is one of the numbers shown, as the prose rounds it."""
    value = prose.replace(",", "").replace("−", "-").rstrip("%")
    decimals = len(value.split(".")[1]) if "." in value else 0
    for other in shown:
        try:
            if round(float(other), decimals) == float(value):
                return True
        except ValueError:
            continue
    return False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_is_shown_as_a_picture(path):
    """A cell that draws a figure displays a PNG, not only words about it."""
    for cell in Outputs(path).cells:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or "ek.plots." not in source:
            continue
        kinds = [k for out in cell.get("outputs", []) for k in out.get("data", {})]
        assert "image/png" in kinds, f"{path.name}: no picture from\n{source}"
        plain = "".join("".join(o.get("data", {}).get("text/plain", ""))
                        for o in cell["outputs"])
        assert "<Figure size" not in plain, f"{path.name}: a figure shown as its repr"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_numbers_in_the_narrative_come_from_the_outputs(path):
    """Each number in the prose is shown by the notebook (outputs or code), or is a
    convention; headings' section numbers and years of cited papers are not numbers."""
    o = Outputs(path)
    shown = {n.replace(",", "").replace("−", "-").rstrip("%")
             for n in NUMBER.findall(o.text + "\n" + o.code)}
    prose = "\n".join(re.sub(r"^\d+\. ", "", line) for line in o.markdown.splitlines()
                      if not line.startswith("#"))
    prose = re.sub(r"\b(?:19|20)\d\d\)", ")", prose)  # (Author, 2017)
    prose = re.sub(r"notebook \d\d", "notebook", prose)
    missing = [n for n in NUMBER.findall(prose)
               if n not in CONVENTIONS and not _same(n, shown)]
    assert not missing, f"{path.name}: numbers in the prose that no output shows: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_claims_in_the_narrative_hold_in_the_outputs(path):
    """Every listed claim is still in the prose and true of the outputs."""
    o = Outputs(path)
    claims = CLAIMS.get(path.name, [])
    assert claims, f"{path.name}: list the claims its narrative makes about its outputs"
    for claim in claims:
        assert re.search(claim.sentence, " ".join(o.markdown.split())), (
            f"{path.name}: the claim {claim.sentence!r} is no longer in the prose; "
            "list the reworded claim")
        assert claim.check(o), f"{path.name}: the outputs contradict {claim.sentence!r}"
