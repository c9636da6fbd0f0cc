"""Text from specs and data is text: :mod:`evalkit.report.markdown_text` and its users.

Each check converts Markdown with pandoc (the converter the reports use) and reads the
result back, so it tests what a reader sees, not the escaping's own idea of it.
"""

from __future__ import annotations

import random
import re
import string

import pandas as pd
import pypandoc
import pytest
from bs4 import BeautifulSoup

HOSTILE = [
    "<script>alert(1)</script>", '<iframe src="file:///etc/passwd"></iframe>',
    "![x](/etc/passwd.png)", "[a](javascript:alert(1))", "<a onclick=alert(1)>x</a>",
    '<img src="http://127.0.0.1:9/x.png">', "`x`{=html}", "```{=typst}", "$x^2$",
    "\\(x\\)", "@fig-effects", "[@cite]", "^[note]", "[^1]", "a | b", "1. item", "- item",
    "+ item", "* item", "(1) item", "i. item", "a) item", "# head", "> quote", "::: div",
    "\\begin{document}", "\\newpage", "&lt;b&gt;", "&#60;", "~~s~~", "H~2~O", "x^2^",
    "*a* _b_ **c** __d__", "<http://127.0.0.1/x>", "{#id .class}", "---", "***", "===",
    "==mark==", "\\", "a  \\", "-5", "a.", "<!-- c -->", "[x]{.smallcaps}", "[]{#a}",
    "#image(\"/etc/passwd\")", "#read(\"x\")", "<https://example.org>", ":smile:",
    "| a | b |", "|---|", "    indented code", "\tTab", "Line one\nline two",
    "Table: caption {#tbl-x}", ": definition", "===", "= = =", "&#x3C;script&#x3E;",
    "{{< include /etc/passwd >}}", "{{< env HOME >}}", "a = b: c & d",
]
ORDINARY = ["Sant'Anna", "A&E attendances", "£2.09 per head – 5% of (all) costs",
            "Patients' ratings", "\"quoted\" words", "1-5 scale", "e.g. this... and that",
            "Emergency admissions per 1,000", "2019-04 to 2020-03", "50%",
            "Resource-use cost per patient per year (GBP)", "it's 100% (roughly)"]


def _html(markdown: str, *filters: str) -> BeautifulSoup:
    """HTML from pandoc, run with the given evalkit Lua filters."""
    from evalkit.report.render.writers import asset

    args = ["--wrap=none", *(f"--lua-filter={asset(f)}" for f in filters)]
    return BeautifulSoup(pypandoc.convert_text(markdown, "html", format="markdown",
                                               extra_args=args), "html.parser")


def _same(a: str, b: str) -> bool:
    """Equal but for whitespace (pandoc's smart quotes can swallow a space) and pandoc's
    smart punctuation (curly quotes, dashes from ``--`` and ``---``, the ellipsis)."""
    smart = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "--", "—": "---", "…": "..."}
    a, b = (re.sub(r"\s+", "", t.translate(str.maketrans(smart))) for t in (a, b))
    return a == b


def _cases() -> list[str]:
    rng = random.Random(21)
    alphabet = "abc01 " + string.punctuation + "£–é"
    return HOSTILE + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25)))
                      for _ in range(300)]


def test_every_hostile_and_random_string_is_one_paragraph_of_its_own_text():
    """Through pandoc, escaped text is one paragraph of plain text holding exactly the
    characters written: no element, link, image, raw HTML, math, list or heading."""
    from evalkit.report.markdown_text import md_text

    cases = _cases()
    soup = _html("\n\n".join(f"::: {{.case}}\n{md_text(c)}\n:::" for c in cases))
    divs = soup.find_all("div", class_="case")
    assert len(divs) == len(cases)
    for case, div in zip(cases, divs, strict=True):
        if not case.strip():
            assert div.get_text().strip() == ""
            continue
        assert [t.name for t in div.find_all(True)] == ["p"], case
        assert _same(div.get_text(), " ".join(case.split())), case


def test_ordinary_text_looks_exactly_as_before():
    """Escaping changes nothing a reader sees in ordinary text: pandoc gives the same HTML
    for the escaped and the unescaped text (apostrophes still curl, dashes stay)."""
    from evalkit.report.markdown_text import md_text

    for text in ORDINARY:
        assert str(_html(md_text(text))) == str(_html(text)), text


def test_runs_of_hyphens_stay_hyphens():
    """A flag such as ``--treated`` or a rule of dashes is shown as written, not turned into
    an en or em dash by pandoc's smart punctuation (which still curls quotes)."""
    from evalkit.report.markdown_text import md_text

    for text in ("use --treated scheme", "a---b", "-- start", "well--being", "x - y"):
        assert _html(md_text(text)).get_text().strip() == text, text
    assert _html(md_text("Patients' ratings")).get_text().strip() == "Patients’ ratings"


def test_paragraphs_stay_paragraphs_and_markup_stays_text():
    from evalkit.report.markdown_text import md_paragraphs

    soup = _html(md_paragraphs("# One\nline <b>x</b>\n\n\n> Two\r\n\r\n```{=html}"))
    assert [p.get_text() for p in soup.find_all("p")] == ["# One line <b>x</b>", "> Two",
                                                          "```{=html}"]
    assert soup.find_all(["h1", "blockquote", "b", "pre"]) == []


def test_pipe_table_cells_are_text():
    """Every cell and header of a pipe table shows its text, pipes and markup included,
    and the table keeps its shape."""
    from evalkit.report.summary import pipe_table

    cases = HOSTILE[:30]
    frame = pd.DataFrame({"Name <b>|</b>": cases, "Value": [f"v{i} | *x*" for i in
                                                          range(len(cases))]})
    soup = _html(pipe_table(frame, {"Name <b>|</b>": 30, "Value": 20}))
    rows = soup.find_all("tr")
    assert [th.get_text() for th in rows[0].find_all("th")] == ["Name <b>|</b>", "Value"]
    assert len(rows) == len(cases) + 1
    for case, row in zip(cases, rows[1:], strict=True):
        cells = row.find_all("td")
        assert len(cells) == 2 and _same(cells[0].get_text(), case), case
        assert cells[1].get_text().endswith("| *x*")
        assert [t.name for t in row.find_all(True)] == ["td", "td"], case


def test_pipe_table_keeps_evalkit_markdown_in_the_columns_named():
    from evalkit.report.summary import pipe_table

    frame = pd.DataFrame({"a": ["**bold** <i>"], "b": ["**bold**"]})
    soup = _html(pipe_table(frame, {"a": 10, "b": 10}, markdown=["b"]))
    a, b = soup.find_all("td")
    assert a.get_text() == "**bold** <i>" and b.find("strong") is not None


def test_figure_caption_and_alt_text_are_text(tmp_path):
    """A figure's caption and its alt text show hostile text as written (the old code
    turned quotes, brackets and braces into other characters and let markup through)."""
    from matplotlib.figure import Figure

    from evalkit.report.figures import figure_markdown

    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1])
    text = 'Gap of "1.2" {units} [x](javascript:y) <b>b</b> $m$ \\ end'
    md = figure_markdown((fig, text), label="fig-h", caption=text, folder=tmp_path)
    soup = _html(md, "alt-text.lua")
    assert _same(soup.find("figcaption").get_text(), text)
    assert soup.find("img")["alt"] == text
    assert soup.find_all(["a", "b", "span", "math"]) == []


def test_md_text_of_markdown_is_unchanged_and_none_is_empty():
    from evalkit.report.markdown_text import Markdown, md_join, md_text

    assert md_text(Markdown("**b**")) == "**b**"
    assert md_text(None) == "" and md_text(3.5) == "3.5" and md_text("1. a") == "1\\. a"
    assert md_text("a\x00b\x1bc") == "abc"
    assert md_join(["a|b", "c"], "; ") == "a\\|b; c"


@pytest.mark.parametrize("field", ["title", "description", "inspired_by"])
def test_scheme_text_reaches_the_report_markdown_escaped(field):
    """The scheme's title, description and inspiration are escaped wherever the report
    prints them (no pandoc element is made of them)."""
    from types import SimpleNamespace

    from evalkit.report.context import ReportContext

    hostile = "<script>x</script> ![i](/etc/passwd) [l](javascript:x) | p"
    spec = SimpleNamespace(title="T", description="D", inspired_by="I", synthetic=True,
                           outcomes={}, folder=None)
    setattr(spec, field, hostile)
    report = ReportContext(SimpleNamespace(spec=spec), {})
    report.__dict__["characteristics"] = None  # no schemes.csv
    # Standalone: the title is a metadata block, shown in the title block and <title>.
    soup = BeautifulSoup(pypandoc.convert_text(
        report.title_markdown() + "\n" + report.scheme_markdown(), "html", format="markdown",
        extra_args=["--wrap=none", "--standalone"]), "html.parser")
    assert soup.find_all(["script", "img", "a", "table"]) == []
    assert hostile in soup.get_text()


def test_provenance_names_no_place_on_the_machine(tmp_path):
    """Input files are named relative to the spec's folder, path parameters likewise, and
    the platform is the OS family only."""
    import platform

    from evalkit.evaluation.provenance import collect

    folder = tmp_path / "scheme"
    folder.mkdir()
    (folder / "spec.yaml").write_text("x", encoding="utf-8")
    (folder / "panel.csv").write_text("y", encoding="utf-8")
    prov = collect([folder / "spec.yaml", folder / "panel.csv"],
                   {"spec": str(folder / "spec.yaml"), "out": str(tmp_path / "out"), "n": 2},
                   folder=folder)
    text = str(prov)
    assert str(tmp_path) not in text
    assert set(prov["inputs"]) == {"spec.yaml", "panel.csv"}
    assert prov["inputs"]["panel.csv"]["path"] == "panel.csv"
    assert prov["parameters"] == {"spec": "spec.yaml", "out": "out", "n": 2}
    assert prov["platform"] == platform.system() and platform.release() not in text


def test_figure_reader_stays_in_the_document_folder(tmp_path):
    """The built-in engine reads a Markdown image's file only from the document's folder
    or its figure folder, never from elsewhere on the machine."""
    from evalkit.report.render.assemble import _local_images

    doc, outside = tmp_path / "doc", tmp_path / "outside"
    doc.mkdir()
    outside.mkdir()
    (doc / "own.png").write_bytes(b"own")
    (outside / "x.png").write_bytes(b"outside")
    (doc / "link.png").symlink_to(outside / "x.png")
    files: dict[str, bytes] = {}
    text = _local_images(f"![a](own.png) ![b]({outside / 'x.png'}) ![c](../outside/x.png) "
                         "![d](link.png)", doc, files)
    assert list(files.values()) == [b"own"]
    assert f"({outside / 'x.png'})" in text and "(../outside/x.png)" in text
