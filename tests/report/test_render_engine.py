"""The render engine: a genuine Quarto document to HTML, DOCX and PDF without Quarto."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from pathlib import Path

import docx
import pytest
import yaml
from bs4 import BeautifulSoup
from pypdf import PdfReader

from evalkit.errors import EvalkitError
from evalkit.report.render import (
    RenderError,
    convert,
    engine_version,
    execute_qmd,
    parse_qmd,
    quarto_available,
    render_qmd,
)
from evalkit.report.render.notebook import build_notebook

FIXTURES = Path(__file__).parents[1] / "fixtures" / "render"
NOTICE = "Synthetic data notice"
FIG_ALT = "Line chart of monthly admissions falling steadily from 120 to 92 over twelve months."
COUNTS = ["4321", "4187", "3958", "3802"]
HOSTILE = 'He said "hi"\nsecond line"); import os; open("pwned.txt", "w").write("x") #'


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the fixture folder (the kernel's working folder)."""
    folder = tmp_path_factory.mktemp("render-src")
    shutil.copy(FIXTURES / "report.qmd", folder / "report.qmd")
    return folder


@pytest.fixture(scope="module")
def executed(project):
    return execute_qmd(project / "report.qmd", params={"name": HOSTILE})


@pytest.fixture(scope="module")
def outputs(executed, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("render-out")
    return convert(executed, formats=["html", "docx", "pdf"], out_dir=out, basename="fixture")


def test_parse_qmd_reads_front_matter_options_and_parameters_tag():
    doc = parse_qmd(FIXTURES / "report.qmd")
    assert doc.front_matter["title"] == "Render engine fixture"
    assert doc.front_matter["jupyter"] == "python3"
    code = doc.code_cells
    assert code[0].is_parameters and code[0].source == 'name = "default"'
    fig = next(c for c in code if c.label == "fig-trend")
    assert fig.options["fig-alt"] == FIG_ALT
    assert fig.options["fig-cap"] == "Monthly admissions with the trend"
    assert "#|" not in fig.source and fig.source.startswith("import matplotlib")
    assert doc.option(fig, "echo", True) is False  # from `execute:` in the front matter
    echoed = next(c for c in code if "total =" in c.source)
    assert doc.option(echoed, "echo", True) is True  # the chunk's own option wins
    assert any(c.kind == "markdown" and "@fig-trend" in c.source for c in doc.cells)


def test_parse_qmd_rejects_other_languages_and_bad_options(tmp_path):
    bad = tmp_path / "bad.qmd"
    bad.write_text("```{r}\n1 + 1\n```\n")
    with pytest.raises(RenderError, match="only"):
        parse_qmd(bad)
    bad.write_text("```{python}\n#| label: [unclosed\nx = 1\n```\n")
    with pytest.raises(RenderError, match="line 1"):
        parse_qmd(bad)


def test_parameters_are_injected_as_literals_not_code(project, executed, outputs):
    nb = build_notebook(parse_qmd(project / "report.qmd"), {"name": HOSTILE})
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    namespace: dict = {}
    exec(injected[0].source, namespace)  # noqa: S102 - it only assigns
    assert namespace["name"] == HOSTILE
    assert f"```\n{HOSTILE}\n```" in executed.markdown  # printed back verbatim
    assert not (project / "pwned.txt").exists()
    soup = BeautifulSoup(outputs["html"].read_text(encoding="utf-8"), "html.parser")
    assert HOSTILE in [pre.get_text() for pre in soup.find_all("pre")]


def test_chunk_options_echo_include_eval(executed):
    md = executed.markdown
    assert "```python\ntotal = int(" in md and "Total admissions: 16268" in md
    assert "import matplotlib" not in md  # echo: false from the front matter
    assert "never shown" not in md and "not run" not in md


def test_html_is_self_contained_with_figures_tables_and_references(outputs):
    soup = BeautifulSoup(outputs["html"].read_text(encoding="utf-8"), "html.parser")
    assert soup.title.get_text() == "Render engine fixture"
    assert soup.find("h1").get_text() == "Render engine fixture"
    assert [h.get_text() for h in soup.find_all("h2")] == [
        "Introduction", "Results", "Appendix: monthly series"]
    table = soup.find("table", id="tbl-counts")
    cells = [td.get_text(strip=True) for td in table.find_all("td")]
    assert cells[:2] == ["Q1", "4321"] and all(n in cells for n in COUNTS)
    assert table.find("caption").get_text() == "Table 1: Admissions by quarter"
    images = soup.find_all("img")
    assert [img["alt"] for img in images] == [FIG_ALT]
    assert images[0]["src"].startswith("data:image/png;base64,")
    assert "Figure 1: Monthly admissions" in soup.find("figcaption").get_text()
    text = squash(soup.get_text(" "))
    assert "over the year (Figure 1); Table 1 gives" in text
    assert "Table 2 lists the synthetic monthly series" in text
    assert "@fig-" not in text and "@tbl-" not in text
    assert soup.find("div", class_="callout-note").find(class_="callout-title").get_text(
        strip=True) == "Note"
    for tag in soup.find_all(["img", "script", "link"]):
        for attr in ("src", "href"):
            assert not str(tag.get(attr, "")).startswith(("http:", "https:", "//")), tag
    assert "<style>" in str(soup.head) and "#005EB8" in str(soup.head)


def test_docx_has_headings_real_tables_alt_text_and_header_notice(outputs):
    document = docx.Document(str(outputs["docx"]))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert headings == ["Introduction", "Results", "Appendix: monthly series"]
    assert len(document.tables) == 2
    rows = [[c.text for c in row.cells] for row in document.tables[0].rows]
    assert rows[0] == ["Quarter", "Admissions"] and [r[1] for r in rows[1:]] == COUNTS
    text = " ".join(p.text for p in document.paragraphs)
    assert "(Figure 1); Table 1 gives" in text and "@fig" not in text
    xml = document.part.element.xml
    assert f'descr="{FIG_ALT}"' in xml
    header = " ".join(p.text for p in document.sections[0].header.paragraphs)
    assert NOTICE in header


def test_pdf_has_the_numbers_and_the_notice_on_every_page(outputs):
    reader = PdfReader(str(outputs["pdf"]))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 2  # the long appendix table breaks across pages
    for page in pages:
        assert NOTICE in page
    whole = squash(" ".join(pages))
    for number in COUNTS + ["Figure 1: Monthly admissions", "Table 1: Admissions by quarter",
                            "2023-12"]:
        assert number in whole, number
    assert "@fig" not in whole
    assert reader.pages[0].mediabox.width == pytest.approx(595.3, abs=1)  # A4


def test_failing_chunk_names_the_chunk_and_writes_nothing(tmp_path):
    qmd = tmp_path / "fails.qmd"
    qmd.write_text("---\ntitle: Fails\n---\n\nText.\n\n```{python}\nx = 1\n```\n\n"
                   "```{python}\n#| label: boom\n"
                   "raise ValueError('bad value\\nsecond line')\n```\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(RenderError) as info:
        render_qmd(qmd, params={}, formats=["html", "pdf"], out_dir=out, engine="builtin")
    message = str(info.value)
    assert "chunk 2 'boom'" in message and "ValueError: bad value second line" in message
    assert "\n" not in message
    assert isinstance(info.value, EvalkitError)
    assert "Traceback" in info.value.log or "ValueError" in info.value.log
    assert not out.exists() or not any(out.iterdir())


def test_unresolved_reference_is_an_error(tmp_path):
    qmd = tmp_path / "refs.qmd"
    qmd.write_text("---\ntitle: Refs\n---\n\nSee @fig-missing.\n", encoding="utf-8")
    with pytest.raises(RenderError, match="@fig-missing"):
        render_qmd(qmd, formats=["html"], out_dir=tmp_path / "out", engine="builtin")
    assert not (tmp_path / "out").exists()


def test_unknown_format_and_engine_are_refused(tmp_path):
    with pytest.raises(RenderError, match="format"):
        render_qmd(FIXTURES / "report.qmd", formats=["pptx"], out_dir=tmp_path)
    with pytest.raises(RenderError, match="engine"):
        render_qmd(FIXTURES / "report.qmd", formats=["html"], out_dir=tmp_path, engine="knitr")


def test_engine_version_describes_the_builtin_engine():
    assert re.fullmatch(r"builtin \(pandoc [\d.]+, typst [\d.]+\)", engine_version("builtin"))


FAKE_QUARTO = '''\
import json, os, pathlib, sys
args = sys.argv[1:]
if args == ["--version"]:
    print("1.6.40")
    sys.exit(0)
qmd = pathlib.Path(args[1])
output = args[args.index("--output") + 1]
params = (pathlib.Path(args[args.index("--execute-params") + 1]).read_text()
          if "--execute-params" in args else None)
if "keep-ipynb:true" in args:  # the executed notebook, kept for the other formats
    (qmd.parent / (qmd.stem + ".quarto_ipynb")).write_text("{}")
with open(os.environ["FAKE_QUARTO_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "cwd": os.getcwd(), "params": params,
                          "source": qmd.read_text()}) + "\\n")
to = args[args.index("--to") + 1]
if to == "docx":  # a real (empty) DOCX, which evalkit finishes as it does Quarto's
    import docx
    docx.Document().save(str(qmd.parent / output))
else:
    (qmd.parent / output).write_text("fake " + to)
print("Output created: " + output, file=sys.stderr)
'''


@pytest.fixture
def fake_quarto(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "quarto"
    script.write_text(f"#!{sys.executable}\n{FAKE_QUARTO}", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path / "quarto-calls.jsonl"
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(log))
    return log


def test_quarto_engine_command_lines(tmp_path, fake_quarto):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FIXTURES / "report.qmd", src / "report.qmd")
    assert quarto_available()
    assert engine_version("auto") == "quarto 1.6.40"
    params = {"name": HOSTILE, "spec": Path("/data/spec.yaml")}
    out = tmp_path / "out"
    paths = render_qmd(src / "report.qmd", params=params, formats=["html", "pdf", "docx"],
                       out_dir=out, basename="scheme-a", engine="auto")
    assert paths == {f: out / f"scheme-a.{f}" for f in ("html", "pdf", "docx")}
    assert paths["pdf"].read_text() == "fake typst" and paths["html"].read_text() == "fake html"
    calls = [json.loads(line) for line in fake_quarto.read_text().splitlines()]
    assert [c["args"][c["args"].index("--to") + 1] for c in calls] == ["html", "typst", "docx"]
    for i, call in enumerate(calls):
        args = call["args"]
        assert args[0] == "render" and Path(args[1]).parent == src
        assert "--output" in args and Path(call["cwd"]) == src
        if i == 0:  # executes the document with the parameters, keeping the notebook
            assert Path(args[1]).suffix == ".qmd"
            assert call["source"] == (src / "report.qmd").read_text()
            assert "--execute-params" in args and "keep-ipynb:true" in args
            assert yaml.safe_load(call["params"]) == {"name": HOSTILE, "spec": "/data/spec.yaml"}
        else:  # converts the executed notebook, without running it again
            assert Path(args[1]).suffix == ".ipynb" and "--execute-params" not in args
    assert "--embed-resources" in calls[0]["args"]
    assert sorted(p.name for p in src.iterdir()) == ["report.qmd"]  # no leftovers
    assert sorted(p.name for p in out.iterdir()) == ["scheme-a.docx", "scheme-a.html",
                                                     "scheme-a.pdf"]


def test_quarto_failure_is_a_render_error(tmp_path, fake_quarto):
    src = tmp_path / "src"
    src.mkdir()
    (src / "doc.qmd").write_text("---\ntitle: t\n---\n\nText.\n", encoding="utf-8")
    script = Path(shutil.which("quarto"))
    script.write_text(f"#!{sys.executable}\nimport sys\n"
                      "print('ERROR: something broke', file=sys.stderr)\nsys.exit(1)\n")
    with pytest.raises(RenderError, match="something broke") as info:
        render_qmd(src / "doc.qmd", formats=["html"], out_dir=tmp_path / "out", engine="quarto")
    assert "render" in info.value.log
    assert sorted(p.name for p in src.iterdir()) == ["doc.qmd"]
    assert not (tmp_path / "out").exists()


def test_quarto_copies_left_by_a_killed_render_are_removed(tmp_path, fake_quarto):
    """A render killed while Quarto ran leaves its copy of the source (and Quarto's files
    for it) beside the source; the next render removes those of dead processes only."""
    import subprocess

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FIXTURES / "report.qmd", src / "report.qmd")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = f"report-evalkit-{proc.pid}-0123abcd"
    (src / f"{dead}.qmd").write_text("copy")
    (src / f"{dead}_files").mkdir()
    live = src / f"report-evalkit-{os.getpid()}-89abcdef.qmd"  # a render under way
    live.write_text("copy")
    render_qmd(src / "report.qmd", formats=["html"], out_dir=tmp_path / "out", engine="quarto")
    assert sorted(p.name for p in src.iterdir()) == sorted(["report.qmd", live.name])


def test_a_dead_kernels_messages_go_to_its_log_not_the_terminal(tmp_path, capfd):
    """What the kernel process writes to its stderr (ipykernel's warnings, a crash) stays
    off the terminal, where evalkit prints one line per problem; a kernel that dies is a
    RenderError at once, with those messages in its log."""
    qmd = tmp_path / "doc.qmd"
    qmd.write_text('---\ntitle: t\n---\n\n```{python}\nimport os\n'
                   'os.write(2, b"the-kernel-says-goodbye\\n")\nos._exit(3)\n```\n')
    with pytest.raises(RenderError, match="kernel died") as info:
        render_qmd(qmd, formats=["html"], out_dir=tmp_path / "out", engine="builtin")
    assert "the-kernel-says-goodbye" not in capfd.readouterr().err
    assert "the-kernel-says-goodbye" in info.value.log
