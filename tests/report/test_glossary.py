"""The glossary appendix: each technical term the report uses, and only those, defined in
plain English, with the first use linked to its entry in HTML (evalkit.report.glossary and
render/assets/glossary.lua)."""

from __future__ import annotations

import re

import pypandoc
import pytest
from bs4 import BeautifulSoup
from report_fixtures import rendered_report

from evalkit.report.glossary import GLOSSARY_HEADING, GLOSSARY_ID, TERMS, glossary_markdown

BODY = """
# The ITS design {#s}

We used an interrupted time series with AR(1) errors, and |SMD| below 0.1; then
*regression to the mean* was checked. ITS again, and the interrupted time series again.

| Index | Value |
|---|---|
| UPC | 0.5 |
"""


def glossary_doc(body: str) -> str:
    return (f"{body}\n## {GLOSSARY_HEADING} {{#{GLOSSARY_ID}}}\n\n{glossary_markdown()}")


def convert(markdown: str, to: str = "html5") -> BeautifulSoup:
    from evalkit.report.render.writers import asset

    out = pypandoc.convert_text(markdown, to, format="markdown",
                                extra_args=["--wrap=none",
                                            f"--lua-filter={asset('glossary.lua')}"])
    return BeautifulSoup(out, "html.parser") if to == "html5" else out


def entry_ids(soup) -> list[str]:
    return [d.get("id") for d in soup.select(".evalkit-glossary-entry")]


def uses(term, text: str) -> bool:
    """Whether ``text`` uses ``term``: a phrase, not inside a longer word (an independent
    reading of the rule glossary.lua applies)."""
    text = " ".join(text.split())
    for phrase in term.phrases:
        left = r"(?<![A-Za-z0-9])" if phrase[0].isalnum() else ""
        right = r"(?![A-Za-z0-9])" if phrase[-1].isalnum() else ""
        flags = re.I if phrase == phrase.lower() else 0
        if re.search(left + re.escape(phrase) + right, text, flags):
            return True
    return False


# --- the definitions ---------------------------------------------------------------------

def test_every_term_the_reports_were_found_to_lack_is_defined():
    defined = " ".join(t.term for t in TERMS)
    for name in ("Breusch-Godfrey", "|SMD|", "Caliper (of the logit", "Hartung-Knapp-Sidik-"
                 "Jonkman", "EVPI", "UPC", "COC", "SECON", "Cronbach's alpha", "Maryland"):
        assert name in defined, name
    keys = [t.key for t in TERMS]
    assert len(keys) == len(set(keys))
    assert all(t.definition.endswith(".") and t.phrases for t in TERMS)


# --- the filter ------------------------------------------------------------------------

def test_only_the_terms_used_are_kept_and_each_first_use_is_linked():
    soup = convert(glossary_doc(BODY))
    assert entry_ids(soup) == ["gloss-ar1", "gloss-its", "gloss-rtm", "gloss-smd",
                               "gloss-upc"]
    links = [(a["href"], a.get_text()) for a in soup.select("a.evalkit-glossary-link")]
    assert links == [("#gloss-its", "interrupted time series"), ("#gloss-ar1", "AR(1)"),
                     ("#gloss-smd", "|SMD|"), ("#gloss-rtm", "regression to the mean"),
                     ("#gloss-upc", "UPC")]
    assert soup.find("h1").find("a") is None  # a heading is not linked
    assert soup.find(id=GLOSSARY_ID) is not None
    assert not soup.select("[data-phrases]")


def test_a_report_using_no_term_has_no_glossary():
    soup = convert(glossary_doc("\nNothing technical here.\n"))
    assert soup.find(id=GLOSSARY_ID) is None and not soup.select(".evalkit-glossary")


def test_a_phrase_inside_a_longer_word_is_not_a_use():
    soup = convert(glossary_doc("\nGRADED, COCOA, UPCOMING and wildITS.\n"))
    assert soup.find(id=GLOSSARY_ID) is None


def test_paged_formats_keep_the_used_entries_without_links():
    typ = convert(glossary_doc(BODY), "typst")
    assert "Usual Provider of Care" in typ and "Cronbach" not in typ
    assert "gloss-its" not in typ.split("Appendix")[0]  # no link before the glossary


# --- the rendered evidence summary -------------------------------------------------------

@pytest.fixture(scope="module")
def soup(tmp_path_factory):
    html = rendered_report(tmp_path_factory)["html"]
    return BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")


def test_summary_glossary_defines_exactly_the_terms_its_text_uses(soup):
    glossary = soup.find(class_="evalkit-glossary")
    assert glossary is not None
    rest = BeautifulSoup(str(soup), "html.parser")
    for tag in rest.select(".evalkit-glossary, style, script, title"):
        tag.decompose()
    text = " ".join(rest.get_text(" ").split())
    used = {f"gloss-{t.key}" for t in TERMS if uses(t, text)}
    assert {"gloss-maryland", "gloss-breusch-godfrey", "gloss-smd", "gloss-caliper",
            "gloss-upc", "gloss-coc", "gloss-secon", "gloss-cronbach"} <= used
    assert "gloss-hksj" not in used  # a meta-analysis term: not in a scheme's summary
    assert set(entry_ids(soup)) == used


def test_summary_links_the_first_use_of_each_term(soup):
    links = soup.select("a.evalkit-glossary-link")
    targets = [a["href"] for a in links]
    assert sorted(targets) == sorted(f"#{i}" for i in entry_ids(soup))  # one link each
    by_id = {f"gloss-{t.key}": t for t in TERMS}
    # No use of a term comes before its link (headings and the glossary aside).
    body = BeautifulSoup(str(soup), "html.parser")
    for tag in body.select("h1, h2, h3, h4, header, nav, .evalkit-glossary, style, script, "
                           "title, .evalkit-page-notice"):
        tag.decompose()
    strings = [s for s in body.find_all(string=True) if s.strip()]
    for link in body.select("a.evalkit-glossary-link"):
        term = by_id[link["href"][1:]]
        first = next(i for i, s in enumerate(strings) if uses(term, str(s)))
        assert strings[first].parent is link, (term.key, str(strings[first])[:80])


def test_a_first_use_in_bold_or_italic_is_the_one_linked():
    soup = convert(glossary_doc("\n**Quality-adjusted life years.** Then quality-adjusted "
                                "life years again, and *the ITS* with ITS.\n"))
    links = soup.select("a.evalkit-glossary-link")
    assert [(a.parent.name, a.get_text()) for a in links] == [
        ("strong", "Quality-adjusted life"), ("em", "ITS")]
