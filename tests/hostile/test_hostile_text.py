"""Hostile text in a spec and its data is shown as text, never run as markup (issue 21).

One synthetic scheme (rapid-response) is copied into a temporary folder and given a
hostile spec: its title, description, inspired_by, an outcome label and an analysis label,
a profession in its MDT data, a line of its scheme costs and its row of ``schemes.csv`` hold
raw HTML (``<script>``, ``<iframe src=file://...>``, ``<img src=http://127.0.0.1:PORT/...>``,
``onclick=``), Markdown images and links to a planted file and to ``javascript:``, raw
HTML/typst/LaTeX blocks, math, citations and cross-references, footnotes and pipe
characters. Two planted files outside the scheme (a text file and a PNG) each hold a
random marker, and a local HTTP server counts requests.

The scheme's evidence summary is rendered to HTML, DOCX and PDF once by each engine: the
built-in one and real Quarto (``evalkit report ... --engine builtin|quarto``, in a
subprocess that uses the evalkit on ``PYTHONPATH``; the Quarto renders need the test
harness of ``tests/report/test_quarto_reports.py``, skip without it and fail without it in CI).
The tests then check each output: no live markup, no byte of a planted
file, no request to the server, the hostile text shown literally, and no machine path
in the provenance. One more test converts hand-written Markdown (not through the
escaping) to show that the converters themselves read no file outside the report and
make no network request.
"""

from __future__ import annotations

import base64
import http.server
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup

import evalkit

SCHEME = "rapid-response"
#: The project whose reports/ and data/ go with the evalkit being tested (so that the same
#: test can be pointed at an older checkout through PYTHONPATH).
PROJECT = Path(evalkit.__file__).resolve().parents[2]
TIMEOUT = 900


# --------------------------------------------------------------------------- helpers
class _Server:
    """A local HTTP server that records every request and stops by itself."""

    def __init__(self, png: bytes, lifetime: float = TIMEOUT):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.timer = threading.Timer(lifetime, self.stop)
        self.timer.daemon = True
        self.timer.start()

    def stop(self):
        self.timer.cancel()
        self.server.shutdown()
        self.server.server_close()


def _marker_png(marker: str) -> bytes:
    """A small valid PNG carrying ``marker`` in a text chunk."""
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", marker)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _straight(text: str) -> str:
    """Text with curly quotes made straight and all whitespace removed, for comparing."""
    text = text.translate(str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'}))
    return re.sub(r"\s+", "", text)


def _data_uri_payloads(text: str) -> list[bytes]:
    return [base64.b64decode(m + "=" * (-len(m) % 4))
            for m in re.findall(r"data:[^;,\"'\s]*;base64,([A-Za-z0-9+/=]+)", text)]


# --------------------------------------------------------------------------- the scheme
def plant_scheme(tmp: Path, url: str, png_marker: str, text_marker: str) -> dict:
    """Write the hostile copy of the scheme under ``tmp/data`` and the planted files under
    ``tmp/outside``; ``url`` is the local server's address."""
    outside = tmp / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text(f"{text_marker}\n", encoding="utf-8")
    planted_png = outside / "planted.png"
    planted_png.write_bytes(_marker_png(png_marker))
    data = tmp / "data"
    folder = data / SCHEME
    shutil.copytree(PROJECT / "data" / "synthetic" / SCHEME, folder)
    spec = yaml.safe_load((folder / "spec.yaml").read_text(encoding="utf-8"))
    title = "Hostile <script>alert(1)</script> *title* | T"
    description = "\n".join([
        f'Rapid response <iframe src="file://{secret}"></iframe> team.',
        f"![x]({planted_png}) ![y](../../outside/planted.png) <img src=\"{url}/d.png\">",
        "[a](javascript:alert(1)) <a onclick=\"alert(1)\">c</a> $x^2$ @fig-effects "
        "[@cite] ^[note] [^1] a | b | c",
        "",
        "```{=html}",
        f'<script>alert(2)</script><img src="{url}/raw.png">',
        "```",
        "",
        "```{=typst}",
        f'#image("{planted_png}")',
        "```",
        "",
        "`#read(\"/etc/passwd\")`{=typst} \\begin{document} <!-- c --> # not a heading",
        "",
        "[^1]: a footnote",
    ])
    spec.update(title=title, description=description,
                inspired_by=f'<iframe src="{url}/i.html"></iframe> [b](javascript:x) | p |')
    spec["outcomes"]["emergency_admissions"]["label"] = (
        "Emergency <b>admissions</b> [l](javascript:alert(3)) @fig-its ^[fn] | x")
    spec["analyses"][0]["label"] = f'Scheme units <img src="{url}/a.png"> | a'
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    mdt = pd.read_csv(folder / "mdt.csv")
    mdt["profession"] = mdt["profession"].replace(
        "GP", f'GP <img src="{url}/m.png"> | *m*')
    mdt.to_csv(folder / "mdt.csv", index=False)
    costs = pd.read_csv(folder / "scheme_costs.csv")
    costs.loc[0, "role"] = f"lead <script>alert(4)</script> ![z]({planted_png}) |"
    costs.to_csv(folder / "scheme_costs.csv", index=False)
    chars = pd.read_csv(PROJECT / "data" / "synthetic" / "schemes.csv")
    chars.loc[chars["scheme"] == SCHEME, "nation"] = f'<img src="{url}/n.png"> England | n'
    chars.to_csv(data / "schemes.csv", index=False)
    return {"data": data, "folder": folder, "title": title}


@pytest.fixture(scope="module", params=["builtin", "quarto"])
def hostile(request, tmp_path_factory):
    """The hostile scheme, its planted files and server, and the outputs rendered by each
    engine: the built-in one, and real Quarto (the test harness, as in
    ``tests/report/test_quarto_reports.py``: skipped without it, failed in CI)."""
    engine = request.param
    tmp = tmp_path_factory.mktemp(f"hostile-text-{engine}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTO")}
    if engine == "quarto":
        from quarto_harness import quarto_env

        env.update(quarto_env(tmp / "typst-cache"))
    text_marker = "PLANTEDTEXT" + secrets.token_hex(8)
    png_marker = "PLANTEDPNG" + secrets.token_hex(8)
    server = _Server(_marker_png(png_marker))
    planted = plant_scheme(tmp, f"http://127.0.0.1:{server.port}", png_marker, text_marker)
    data, folder, title = planted["data"], planted["folder"], planted["title"]
    out = tmp / "out"
    cmd = [sys.executable, "-m", "evalkit.cli", "report",
           str(PROJECT / "reports" / "evidence-summary.qmd"), "--scheme", SCHEME,
           "--data-root", str(data), "--engine", engine, "--out", str(out),
           "--jobs", "1", "--force"]
    try:
        runs = [subprocess.run(cmd + ["--to", "html,docx,pdf"], capture_output=True,
                               text=True, timeout=TIMEOUT, env=env, cwd=tmp)]
        if runs[0].returncode != 0:  # e.g. the PDF failed: still look at HTML and DOCX
            runs.append(subprocess.run(cmd + ["--to", "html,docx"], capture_output=True,
                                       text=True, timeout=TIMEOUT, env=env, cwd=tmp))
        run_out = tmp / "run"
        runs.append(subprocess.run([sys.executable, "-m", "evalkit.cli", "run",
                                    str(folder / "spec.yaml"), "--out", str(run_out)],
                                   capture_output=True, text=True, timeout=TIMEOUT, env=env,
                                   cwd=tmp))
    finally:
        server.stop()
    files = {fmt: next(iter(sorted(out.rglob(f"*.{fmt}"))), None) for fmt in
             ("html", "docx", "pdf")}
    return {"tmp": tmp, "out": out, "files": files, "runs": runs, "hits": server.hits,
            "markers": (text_marker.encode(), png_marker.encode()), "run_out": run_out,
            "title": title, "engine": engine}


def _file(hostile, fmt) -> Path:
    path = hostile["files"][fmt]
    if path is None:
        logs = "\n".join(r.stdout[-1500:] + r.stderr[-1500:] for r in hostile["runs"])
        pytest.fail(f"no {fmt} was rendered:\n{logs}")
    return path


#: Hostile text that each output must show literally (compared without whitespace and with
#: straight quotes: pandoc curls quotes, and lines may break anywhere in a PDF).
LITERAL = ["<script>alert(1)</script>", "*title*", "<iframe src=", "![x](",
           "[a](javascript:alert(1))", "<a onclick=", "$x^2$", "@fig-effects", "^[note]",
           "a | b | c", "\\begin{document}", "# not a heading", "Emergency <b>admissions</b>",
           "[l](javascript:alert(3))", "[b](javascript:x) | p |"]


def _machine_strings(hostile) -> list[str]:
    """Patterns that would place the report on this machine: the temporary folder (but in
    the hostile text's own paths to the planted files), the home folder, the host name and
    the kernel string."""
    found = [re.escape(str(hostile["tmp"])) + r"(?!/outside/)", re.escape(str(Path.home())),
             re.escape(platform.platform()), re.escape(platform.release())]
    host = socket.gethostname()
    if len(host) >= 4:
        found.append(re.escape(host))
    return [s for s in found if s and s != "/"]


# --------------------------------------------------------------------------- the tests
#: HTML attributes through which a browser loads something.
_LOADING = {"src", "href", "data", "action", "formaction", "poster", "srcset", "background",
            "xlink:href", "codebase", "cite", "longdesc", "manifest"}

def test_the_render_succeeds_in_all_three_formats(hostile):
    """Hostile text does not stop the PDF (the old code failed in typst on a URL)."""
    first = hostile["runs"][0]
    assert first.returncode == 0, first.stderr[-3000:]
    for fmt in ("html", "docx", "pdf"):
        assert _file(hostile, fmt).stat().st_size > 0


def test_html_has_no_live_markup(hostile):
    """No <script>, <iframe>, javascript: URL or on*= handler in the HTML (the built-in
    template has no script of its own; Quarto's page has its own scripts, embedded, none
    holding any of the hostile text), and every other data: URI is one of the report's
    figures."""
    html = _file(hostile, "html").read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    scripts = soup.find_all("script")
    if hostile["engine"] == "builtin":
        assert scripts == []
    for script in scripts:
        src = script.get("src", "")
        assert not src or src.startswith("data:"), src[:80]  # Quarto's own, embedded
        code = (script.string or "") + "".join(p.decode("utf-8", "replace")
                                               for p in _data_uri_payloads(src))
        for hostile_text in ("alert(", "PLANTED", "127.0.0.1"):
            assert hostile_text not in code, hostile_text
        script.decompose()
    assert soup.find_all(["iframe", "object", "embed", "frame"]) == []
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            assert not name.lower().startswith("on"), (tag.name, name)
            values = value if isinstance(value, list) else [value]
            for v in values:
                assert not str(v).strip().lower().startswith(("javascript:", "vbscript:")), \
                    (tag.name, name, v)
                if name.lower() in _LOADING and tag.name != "a":
                    assert not str(v).strip().lower().startswith(("http", "file:", "//")), \
                        (tag.name, name, v)
    # every embedded resource is an image in one of the report's figures
    for tag in soup.find_all(src=True):
        src = tag["src"]
        assert src.startswith(("data:image/png;base64,", "data:image/svg+xml")), src[:80]
        # inside a report figure (Quarto puts the figure's id on an element around it)
        assert tag.find_parent("figure") is not None and any(
            str(p.get("id", "")).startswith("fig-") for p in tag.parents), src[:80]
    assert "javascript:alert" not in "".join(str(a.get("href", "")) for a in soup("a"))


def test_html_holds_no_byte_of_a_planted_file(hostile):
    """Neither planted file, nor anything fetched from the server, is in the HTML, as
    text or inside any data: URI."""
    html = _file(hostile, "html").read_bytes()
    for marker in hostile["markers"]:
        assert marker not in html
        for payload in _data_uri_payloads(html.decode("utf-8")):
            assert marker not in payload


def test_docx_holds_no_byte_of_a_planted_file(hostile):
    """No part of the DOCX (document, media, relationships) holds a planted marker, and
    no relationship points outside the package."""
    with zipfile.ZipFile(_file(hostile, "docx")) as z:
        for name in z.namelist():
            data = z.read(name)
            for marker in hostile["markers"]:
                assert marker not in data, name
            if name.endswith(".rels"):
                assert b'TargetMode="External"' not in data or b"javascript:" not in data
                assert b"file:" not in data and b"127.0.0.1" not in data, name


def test_pdf_holds_no_byte_of_a_planted_file(hostile):
    """Neither the PDF's bytes nor its text hold a planted marker."""
    pdf = _file(hostile, "pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    for marker in hostile["markers"]:
        assert marker not in pdf.read_bytes()
        assert marker.decode() not in text


def test_no_request_reached_the_local_server(hostile):
    """Rendering fetched nothing over the network (the server counts every request)."""
    assert hostile["hits"] == []


@pytest.mark.parametrize("fmt", ["html", "docx", "pdf"])
def test_hostile_text_is_shown_literally(hostile, fmt):
    """Each output shows the hostile text as it was written."""
    path = _file(hostile, fmt)
    if fmt == "html":
        text = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text()
    elif fmt == "docx":
        with zipfile.ZipFile(path) as z:
            xml = z.read("word/document.xml").decode("utf-8")
        text = "".join(BeautifulSoup(xml, "xml").find_all(string=True))
    else:
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
    flat = _straight(text)
    missing = [s for s in LITERAL if _straight(s) not in flat]
    assert missing == []
    assert _straight(hostile["title"]) in flat


@pytest.mark.parametrize("fmt", ["html", "docx", "pdf"])
def test_reports_name_no_place_on_the_machine(hostile, fmt):
    """The report (its provenance appendix above all) holds no absolute path of the
    temporary folder or the home folder, no host name and no kernel string."""
    path = _file(hostile, fmt)
    if fmt == "pdf":
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
        text = re.sub(r"\s+", "", text)  # a path may break across lines
    elif fmt == "docx":
        with zipfile.ZipFile(path) as z:
            text = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()
                           if n.endswith(".xml"))
    else:
        text = path.read_text(encoding="utf-8")
    for s in _machine_strings(hostile):
        assert not re.search(s, text), s


def test_run_outputs_name_no_place_on_the_machine(hostile):
    """``evalkit run`` writes provenance.json and run.log without any machine path, host
    name or kernel string; files are named relative to the spec's folder."""
    run = hostile["runs"][-1]
    assert run.returncode == 0, run.stderr[-3000:]
    prov_text = (hostile["run_out"] / "provenance.json").read_text(encoding="utf-8")
    log = (hostile["run_out"] / "run.log").read_text(encoding="utf-8")
    for s in _machine_strings(hostile):
        assert not re.search(s, prov_text) and not re.search(s, log), s
    import json

    prov = json.loads(prov_text)
    assert prov["inputs"]["spec.yaml"]["path"] == "spec.yaml"
    assert prov["platform"] == platform.system()


# --------------------------------------------------------------------------- converters
def test_converters_read_no_outside_file_and_make_no_request(tmp_path):
    """Markdown that points at an outside file and a URL (written by hand, not escaped)
    gives outputs without them: pandoc runs sandboxed and the figure reader stays in the
    document's folder; the report's own figure is still embedded."""
    from evalkit.report.render.assemble import _local_images
    from evalkit.report.render.qmd import ExecutedDocument, parse_qmd
    from evalkit.report.render.writers import convert

    marker = "PLANTEDPNG" + secrets.token_hex(8)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "planted.png").write_bytes(_marker_png(marker))
    (outside / "secret.txt").write_text(marker, encoding="utf-8")
    doc_dir = tmp_path / "report"
    doc_dir.mkdir()
    qmd = doc_dir / "doc.qmd"
    qmd.write_text("---\ntitle: t\n---\n\nText.\n", encoding="utf-8")
    server = _Server(_marker_png(marker))
    url = f"http://127.0.0.1:{server.port}"
    try:
        files: dict[str, bytes] = {"own.png": _marker_png("OWNFIGURE")}
        body = _local_images(
            f"![own](own.png)\n\n![o]({outside / 'planted.png'})\n\n"
            f"![r](../outside/planted.png)\n\n![u]({url}/u.png)\n\n"
            f'<iframe src="file://{outside / "secret.txt"}"></iframe>\n\n'
            f'<img src="{url}/h.png">\n', doc_dir, files)
        executed = ExecutedDocument(parse_qmd(qmd), body, files, {})
        written = convert(executed, formats=["html", "docx", "pdf"], out_dir=tmp_path / "o",
                          basename="doc")
    finally:
        server.stop()
    assert set(files) == {"own.png"}
    html = written["html"].read_text(encoding="utf-8")
    payloads = b"".join(_data_uri_payloads(html))
    assert b"OWNFIGURE" in payloads and marker.encode() not in payloads
    assert marker not in html
    with zipfile.ZipFile(written["docx"]) as z:
        blob = b"".join(z.read(n) for n in z.namelist())
    assert b"OWNFIGURE" in blob and marker.encode() not in blob
    assert marker.encode() not in written["pdf"].read_bytes()
    assert server.hits == []
