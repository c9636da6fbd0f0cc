"""Tracing every number a rendered report shows to the results it was built from.

Used by ``test_number_tracing.py``. A report's HTML is read as a reader sees it: the text,
the table cells and every figure's alt text, up to the provenance appendix (hashes and
software versions are checked by the provenance tests). Each number is then looked for among
the numbers of the results, as the report would print them: the value itself, a
percentage of it (x 100), a percentage change of a ratio (x - 1 or 1 - x, x 100), ignoring
sign. A shown number traces when a candidate rounds to it at the precision shown.

How strong the check is: a scheme's ``results.json`` holds a few thousand numbers, so a
number with few digits can trace by chance. Measured on frailty-inequalities, a random
number traces by chance 92% of the time with two decimals below 1, 28% with three decimals
below 1, 31% as a whole number below 1,000 and 0.6% as a whole number below 100,000. The
check is therefore strong for counts, costs and populations and for numbers printed to
three or more significant digits, and weak for short decimals; the tests of
``test_report_consistency.py`` check those quantities one by one.

Not numbers, and so skipped: years (a four-digit integer from 1900 to 2100 without a
thousands separator: evalkit prints counts from 1,000 up with one), dates and months
(2019-10), price years (2022/23), references to tables, figures, checklist items and
Maryland levels by number, and model names such as AR(1).
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

NUMBER = re.compile(r"(?<![\w.\-−/])[−\-]?\d[\d,]*(?:\.\d+)?(?:e[+\-]?\d+)?(?![\w/])")
_DATE = re.compile(r"\b\d{4}-\d{2}(?:-\d{2})?\b|\b\d{4}/\d{2}\b|\b\d{1,2}:\d{2}\b")
_REFERENCE = re.compile(r"(?:Table|Figure|Section|SQUIRE|TREND|items?|level|levels|AR\(|"
                        r"MA\(|lags?|Appendix|page|Step|step)\s*$")
_BLOCKS = {"p", "tr", "li", "h1", "h2", "h3", "h4", "div", "figcaption", "td", "th",
           "caption", "br", "dt", "dd"}


@dataclass(frozen=True)
class Shown:
    """One number as the reader sees it, with the text around it."""

    text: str
    context: str

    @property
    def value(self) -> float:
        return abs(float(self.text.replace(",", "").replace("−", "-")))

    @property
    def tolerance(self) -> float:
        mantissa = self.text.lower().split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        scale = 10 ** int(self.text.lower().split("e")[1]) if "e" in self.text.lower() else 1
        return 0.5 * 10 ** -decimals * scale * (1 + 1e-9) + 1e-12


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style", "head"):
            self._skip += 1
        if tag == "img" and attrs.get("alt"):
            self.parts.append("\n" + attrs["alt"] + "\n")
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head"):
            self._skip -= 1
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def reader_text(html: str) -> str:
    """What a reader reads: text, cells and alt texts, without the provenance appendix."""
    parser = _Text()
    parser.feed(html)
    text = "".join(parser.parts).replace("\xa0", " ")
    cuts = list(re.finditer(r"^\s*(?:Appendix:\s*)?[Pp]rovenance\s*$", text, flags=re.M))
    return text[:cuts[-1].start()] if cuts else text  # the last: the first is the contents


def shown_numbers(text: str) -> list[Shown]:
    """Every number in ``text`` that is a quantity (see the module notes)."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\s*\d+\.(?= [A-Z])", "", line)  # a numbered item's number
        dates = [m.span() for m in _DATE.finditer(line)]
        for m in NUMBER.finditer(line):
            if any(a <= m.start() < b for a, b in dates):
                continue
            token = m.group()
            if re.fullmatch(r"(?:19|20)\d\d", token):
                continue
            if _REFERENCE.search(line[:m.start()]):
                continue
            out.append(Shown(token, line[max(0, m.start() - 50):m.end() + 30].strip()))
    return out


def numbers_in(doc) -> Iterable[float]:
    """Every finite number in a JSON document (booleans excluded)."""
    if isinstance(doc, bool) or doc is None:
        return
    if isinstance(doc, (int, float)):
        if doc == doc and abs(doc) != float("inf"):
            yield float(doc)
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from numbers_in(v)
    elif isinstance(doc, (list, tuple)):
        for v in doc:
            yield from numbers_in(v)
    elif isinstance(doc, str):
        for m in NUMBER.finditer(doc):
            try:
                yield float(m.group().replace(",", "").replace("−", "-"))
            except ValueError:
                continue


def detectable_effects(doc) -> Iterable[float]:
    """The minimum detectable effect of every effect record (the one documented formula
    a report applies to a record: ``MDE_Z`` standard errors, as a ratio for ratios; see
    :func:`evalkit.power.null_findings.mde_from_se`)."""
    from evalkit.power.null_findings import MDE_Z

    for rec in doc.get("effects", []) if isinstance(doc, dict) else []:
        se = rec.get("se")
        if isinstance(se, (int, float)) and se > 0:
            k = MDE_Z * se
            yield from ((math.exp(-k), math.exp(k)) if rec.get("scale") == "ratio" else (k,))


class Candidates:
    """The numbers a report may show, from its results (sorted, for fast lookup)."""

    def __init__(self, values: Iterable[float]):
        forms = set()
        for x in values:
            for v in (x, 100 * x, 100 * (x - 1), 100 * (1 - x)):
                forms.add(abs(v))
        self._sorted = sorted(forms)

    @classmethod
    def from_results(cls, path: Path, *extra: Iterable[float]) -> Candidates:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        values = list(numbers_in(doc)) + list(detectable_effects(doc))
        for more in extra:
            values += list(more)
        return cls(values)

    def traces(self, shown: Shown) -> bool:
        v, tol = shown.value, shown.tolerance
        i = bisect.bisect_left(self._sorted, v - tol)
        return i < len(self._sorted) and self._sorted[i] <= v + tol


def untraced(html: str, candidates: Candidates) -> list[Shown]:
    """The numbers a report shows that no result gives."""
    return [s for s in shown_numbers(reader_text(html)) if not candidates.traces(s)]
