"""Each report's title names what it is about, in every format and in the metadata.

An evidence summary runs to some twenty pages; under the generic title "Evidence summary"
a reader with several open cannot tell them apart. The title is "<scheme>: evidence
summary" (the scheme's title from its spec), and the comparative synthesis says how many
schemes it compares. The title is text from a spec, so it is escaped (see also
tests/hostile). The Quarto side is tested in ``test_quarto_reports.py``.
"""

from __future__ import annotations

import zipfile

import pypandoc
import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader
from report_fixtures import SCHEME, rendered_report

from conftest import SYNTHETIC


def expected_title() -> str:
    import yaml

    spec = yaml.safe_load((SYNTHETIC / SCHEME / "spec.yaml").read_text(encoding="utf-8"))
    return f"{spec['title']}: evidence summary"


def docx_title(path) -> str:
    import re

    with zipfile.ZipFile(path) as archive:
        core = archive.read("docProps/core.xml").decode("utf-8")
    return re.search(r"<dc:title>(.*?)</dc:title>", core).group(1)


def test_the_title_names_the_scheme_in_html_docx_and_pdf(tmp_path_factory):
    outputs = rendered_report(tmp_path_factory)
    title = expected_title()
    assert title == "Frailty programme focused on inequalities: evidence summary"
    soup = BeautifulSoup(outputs["html"].read_text(encoding="utf-8"), "html.parser")
    assert soup.title.get_text() == title
    assert " ".join(soup.find(class_="title").get_text().split()) == title
    assert docx_title(outputs["docx"]) == title
    import docx

    paragraphs = docx.Document(str(outputs["docx"])).paragraphs
    assert [p.text for p in paragraphs if p.style.name == "Title"] == [title]
    reader = PdfReader(str(outputs["pdf"]))
    assert reader.metadata.title == title
    assert title in " ".join(reader.pages[0].extract_text().split())


@pytest.mark.parametrize("to", ["html5", "docx"])
def test_a_title_from_a_spec_is_text_in_the_title_and_metadata(to, tmp_path):
    from evalkit.report.title import scheme_title, title_block

    hostile = 'A <script>x</script> *b* "q" [l](javascript:x) ---\nnext: 1'
    source = "---\ntitle: Evidence summary\n---\n\n" + title_block(scheme_title(hostile)) + \
        "\nBody.\n"
    flat = " ".join(hostile.split())
    if to == "html5":
        html = pypandoc.convert_text(source, to, format="markdown",
                                     extra_args=["--standalone"])
        soup = BeautifulSoup(html, "html.parser")
        assert soup.find_all(["script", "a", "em"]) == []
        smart = soup.title.get_text().replace("\u201c", '"').replace("\u201d", '"')
        assert smart.replace("\u2014", "---") == f"{flat}: evidence summary"
    else:
        target = tmp_path / "t.docx"
        pypandoc.convert_text(source, to, format="markdown", outputfile=str(target))
        title = docx_title(target).replace("&lt;", "<").replace("&gt;", ">")
        assert "<script>x</script>" in title and "*b*" in title and "next: 1" in title


def test_the_comparative_synthesis_title_counts_its_schemes():
    from evalkit.report.title import synthesis_title

    assert synthesis_title(9) == \
        "Nine schemes of collaborative working compared: comparative synthesis"
    assert synthesis_title(14).startswith("14 schemes")
