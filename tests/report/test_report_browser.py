"""The HTML evidence summary opened in headless Chromium, as a reader's browser opens it.

The self-contained HTML is loaded from a ``file://`` URL with every request recorded, and
anything that would leave the machine refused. The tests check that the page loads with
no console errors and no uncaught script errors, asks for nothing but itself and
``data:`` URIs, that every image has alt text and has loaded, that the headline numbers
(from an independent run of the spec) are visible text, and that nothing is wider than a
desktop window. The same checks are first shown to fire on a deliberately broken page.

Chromium is the system browser (Debian: ``apt-get install -y chromium``) driven through
Playwright's Python client; the tests skip, with the reason, where Playwright is not
installed or no Chromium or Chrome binary can be found or launched.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from report_fixtures import headline_numbers, rendered_report

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed (pip install playwright); the HTML report cannot "
           "be opened in a browser")

#: Browser binaries looked for on PATH, in order.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
#: A desktop window; nothing in the report should be wider than this.
VIEWPORT = {"width": 1280, "height": 900}
#: A phone held upright: wide tables scroll inside their own box, the page does not.
PHONE = {"width": 400, "height": 800}


def find_browser() -> str | None:
    """The first Chromium or Chrome binary on PATH (None if there is none)."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        path = find_browser()
        if path is None and Path(playwright.chromium.executable_path).is_file():
            path = playwright.chromium.executable_path
        if path is None:
            pytest.skip(f"no Chromium or Chrome binary found (looked for {', '.join(BROWSERS)}"
                        "; Debian: apt-get install -y chromium)")
        # Chromium refuses to run as root in a container unless its sandbox is off.
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        try:
            chromium = playwright.chromium.launch(executable_path=path, headless=True,
                                                  args=args)
        except sync_api.Error as exc:
            pytest.skip(f"{path} could not be launched: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()


@dataclass(frozen=True)
class PageView:
    """What a browser saw when it opened a page."""

    url: str
    requests: tuple[str, ...]
    console_errors: tuple[str, ...]
    page_errors: tuple[str, ...]
    images: tuple[dict, ...]
    invisible_numbers: tuple[str, ...]
    overflow_px: int

    def outside_requests(self) -> list[str]:
        """Requests for anything but the page itself and ``data:`` URIs."""
        return [u for u in self.requests if u != self.url and not u.startswith("data:")]

    def images_without_alt(self) -> list[str]:
        return [img["src"] for img in self.images if not img["alt"].strip()]

    def images_not_loaded(self) -> list[str]:
        return [img["src"] for img in self.images
                if not img["complete"] or img["naturalWidth"] <= 0]


_IMAGES_JS = """() => Array.from(document.images).map(img => ({
    src: img.currentSrc.startsWith("data:") ? img.currentSrc.slice(0, 40) : img.currentSrc,
    alt: img.getAttribute("alt") || "", complete: img.complete,
    naturalWidth: img.naturalWidth}))"""


def _number_pattern(number: str) -> re.Pattern:
    """The number as a reader may see it: any run of white space, either minus sign."""
    parts = [r"\s+" if ch.isspace() else "[-\u2212]" if ch == "-" else re.escape(ch)
             for ch in number.strip()]
    return re.compile("".join(parts))


def open_page(browser, html: Path, numbers: list[str], viewport: dict = VIEWPORT) -> PageView:
    """Open ``html`` from a ``file://`` URL, recording requests, errors, images and text.

    Requests for anything but ``file:`` and ``data:`` URLs are recorded and then refused,
    so that a page that is not self-contained never reaches the network.
    """
    url = html.resolve().as_uri()
    requests: list[str] = []
    console: list[str] = []
    errors: list[str] = []
    page = browser.new_page(viewport=viewport)
    try:
        page.on("request", lambda request: requests.append(request.url))
        page.on("websocket", lambda socket: requests.append(socket.url))
        page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route(re.compile(r"^(?!file:|data:)"), lambda route: route.abort())
        page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")
        images = page.evaluate(_IMAGES_JS)
        invisible = []
        for number in numbers:
            found = page.get_by_text(_number_pattern(number))
            if not any(found.nth(i).is_visible() for i in range(found.count())):
                invisible.append(number)
        overflow = page.evaluate("() => document.documentElement.scrollWidth"
                                 " - document.documentElement.clientWidth")
    finally:
        page.close()
    return PageView(url, tuple(requests), tuple(console), tuple(errors), tuple(images),
                    tuple(invisible), int(overflow))


# --- the rendered report ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def report(browser, tmp_path_factory) -> PageView:
    return open_page(browser, rendered_report(tmp_path_factory)["html"], headline_numbers())


def test_report_loads_without_console_or_page_errors(report):
    assert report.console_errors == ()
    assert report.page_errors == ()


def test_report_is_self_contained(report):
    assert report.requests and report.requests[0] == report.url
    assert report.outside_requests() == []


def test_every_image_has_alt_text_and_has_loaded(report):
    assert len(report.images) > 0
    assert report.images_without_alt() == []
    assert report.images_not_loaded() == []


def test_headline_numbers_are_visible_text(report):
    assert report.invisible_numbers == ()


def test_nothing_is_wider_than_a_desktop_window(report):
    assert report.overflow_px <= 0


def test_nothing_is_wider_than_a_phone_and_the_numbers_stay_readable(browser, tmp_path_factory):
    phone = open_page(browser, rendered_report(tmp_path_factory)["html"], headline_numbers(),
                      viewport=PHONE)
    assert phone.overflow_px <= 0
    assert phone.invisible_numbers == ()


# --- the checks fire on a deliberately broken page --------------------------------------------

def _png_data_uri() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "#005EB8").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


SHOWN = "-9.6% (95% CI -14.6% to -4.4%)"
HIDDEN = "+1.5% (95% CI +0.2% to +2.8%)"
ABSENT = "-3.3% (95% CI -6.0% to -0.5%)"


@pytest.fixture(scope="module")
def broken(browser, tmp_path_factory) -> PageView:
    png = _png_data_uri()
    page = tmp_path_factory.mktemp("broken-html") / "broken.html"
    page.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A broken report</title>
<link rel="stylesheet" href="https://cdn.example.invalid/style.css"></head>
<body>
<p>Emergency admissions changed by <span>&minus;9.6% (95% CI
&minus;14.6% to &minus;4.4%)</span>.</p>
<p style="display: none">{HIDDEN}</p>
<img src="https://example.invalid/figure.png" alt="A figure from another site">
<img src="{png}">
<img src="{png}" alt="   ">
<img src="{png}" alt="A figure that is here">
<img src="missing.png" alt="A figure that is not there">
<div style="width: 3000px">A line wider than any window</div>
<script>console.error("a script failed"); throw new Error("the page broke");</script>
</body></html>""", encoding="utf-8")
    return open_page(browser, page, [SHOWN, HIDDEN, ABSENT])


def test_checks_see_errors_on_a_broken_page(broken):
    assert "a script failed" in broken.console_errors
    assert any("Failed to load resource" in e for e in broken.console_errors)
    assert any("the page broke" in e for e in broken.page_errors)


def test_checks_see_requests_that_leave_the_page(broken):
    outside = broken.outside_requests()
    assert "https://cdn.example.invalid/style.css" in outside
    assert "https://example.invalid/figure.png" in outside
    assert any(u.startswith("file:") and u.endswith("/missing.png") for u in outside)
    assert not any(u.startswith("data:") for u in outside)


def test_checks_see_missing_alt_text_and_images_that_did_not_load(broken):
    assert len(broken.images) == 5
    assert len(broken.images_without_alt()) == 2
    assert broken.images_not_loaded() == ["https://example.invalid/figure.png",
                                          broken.url.rsplit("/", 1)[0] + "/missing.png"]


def test_checks_see_numbers_that_are_hidden_or_absent(broken):
    assert broken.invisible_numbers == (HIDDEN, ABSENT)


def test_checks_see_a_page_wider_than_the_window(broken):
    assert broken.overflow_px > 0
