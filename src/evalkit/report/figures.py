"""Report figures as Markdown, with alt text that states the finding.

A plot function returns ``(figure, alt_text)``, and its alt text states what the chart
shows in numbers. A Jupyter chunk's ``fig-alt`` option is static text, so a report that
wants the computed alt text writes the figure to a file and prints a Pandoc/Quarto figure
from an ``output: asis`` chunk::

    ![Figure caption](figures/fig-its.png){#fig-its fig-alt="Interrupted time series of ..."}

Quarto and evalkit's built-in engine both read this as a cross-referenceable figure
(``@fig-its`` becomes "Figure 3") whose ``fig-alt`` is the image's alt text: the ``alt``
attribute in HTML, the picture's description in DOCX and ``alt:`` of the image in typst.

Where the file goes (:func:`figure_folder`):

1. ``EVALKIT_FIGURE_DIR`` when set (evalkit's engines set it: the built-in engine to a
   temporary folder it reads and removes, the Quarto engine to the render's own
   ``<name>_files`` folder, which it removes);
2. else, under Quarto 1.7 or later (``QUARTO_DOCUMENT_FILE`` is set),
   ``<name>_files/mediabag/evalkit``, relative to the document as Quarto expects: the
   folder for files that filters make, which Quarto removes after every render in every
   format (a plain ``quarto render`` leaves no figure files behind);
3. else (a notebook), a temporary folder for this Python process.

Examples
--------
>>> import tempfile
>>> from matplotlib.figure import Figure
>>> fig = Figure(figsize=(2, 2)); _ = fig.add_subplot().plot([0, 1], [1, 0])
>>> with tempfile.TemporaryDirectory() as folder:
...     md = figure_markdown((fig, "A line falling from 1 to 0."), label="fig-demo",
...                          caption="A demonstration", folder=folder)
>>> md.startswith("![A demonstration](") and 'fig-alt="A line falling from 1 to 0."' in md
True
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from evalkit.errors import DesignError
from evalkit.report.markdown_text import (
    md_attribute,
    md_text,
)

__all__ = ["FIGURE_DIR_ENV", "ReportFigure", "figure_folder", "figure_markdown"]

#: The environment variable naming the folder figure files are written to.
FIGURE_DIR_ENV = "EVALKIT_FIGURE_DIR"

_LABEL = re.compile(r"^fig-[A-Za-z0-9_-]*[A-Za-z0-9_]$")
_PROCESS_FOLDER: dict[str, Path] = {}


def figure_folder() -> Path:
    """The folder figure files are written to (see the module notes for the order)."""
    given = os.environ.get(FIGURE_DIR_ENV)
    if given:
        return Path(given)
    document = os.environ.get("QUARTO_DOCUMENT_FILE")
    if document:
        return Path(f"{Path(document).stem}_files") / "mediabag" / "evalkit"
    if "folder" not in _PROCESS_FOLDER:
        from evalkit.files.run_temp import temp_dir

        _PROCESS_FOLDER["folder"] = temp_dir("evalkit-figures-")
    return _PROCESS_FOLDER["folder"]


def _target(path: Path) -> str:
    text = path.as_posix()
    return f"<{text}>" if re.search(r"[\s()<>]", text) else text


@dataclass(frozen=True)
class ReportFigure:
    """A figure written to a file, ready to be placed in a report.

    Attributes
    ----------
    label
        The cross-reference label, e.g. ``"fig-its"``.
    caption
        The visible caption (without "Figure N:", which the renderer adds).
    alt
        The alt text: what the figure shows, in numbers.
    path
        The image file.
    width
        The displayed width (e.g. ``"70%"``), or ``None`` for the image's own size.
    """

    label: str
    caption: str
    alt: str
    path: Path
    width: str | None = None

    def markdown(self) -> str:
        """The figure as a Pandoc/Quarto Markdown paragraph.

        The caption is text shown as it is (:func:`~evalkit.report.markdown_text.md_text`; a
        :class:`~evalkit.report.markdown_text.Markdown` caption is put in as it is), and so is the
        alt text (:func:`~evalkit.report.markdown_text.md_attribute`).
        """
        width = f' width="{md_attribute(self.width)}"' if self.width else ""
        return (f"![{md_text(self.caption)}]({_target(self.path)})"
                f'{{#{self.label} fig-alt="{md_attribute(self.alt)}"{width}}}')


def save_figure(drawn: tuple[Figure, str], *, label: str, caption: str, alt_extra: str = "",
                folder: str | Path | None = None, dpi: int = 150,
                width: str | None = None) -> ReportFigure:
    """Write a drawn figure to ``<folder>/<label>.png`` and describe it.

    Parameters
    ----------
    drawn
        ``(figure, alt_text)`` as a plot function returns it.
    label
        The cross-reference label; must start with ``fig-``.
    caption
        The caption.
    alt_extra
        A sentence appended to the plot's alt text (e.g. what the numbers mean here).
    folder
        Where to write (default :func:`figure_folder`).
    dpi
        Resolution of the PNG.
    width
        The displayed width as a percentage of the text width (``"70%"``), or ``None``:
        the full width, or less for a figure too tall to fit a page at the full width.

    Raises
    ------
    DesignError
        For a label that Quarto would not treat as a figure, or a figure that is not a
        matplotlib ``Figure`` with alt text.
    """
    if not isinstance(label, str) or not _LABEL.match(label):
        raise DesignError(f"{label!r} is not a figure label",
                          fix="use 'fig-' followed by letters, digits, '-' or '_'")
    if (not isinstance(drawn, tuple) or len(drawn) != 2 or not isinstance(drawn[0], Figure)
            or not isinstance(drawn[1], str)):
        raise DesignError(f"the figure for {label} is not a (Figure, alt text) pair",
                          fix="pass what an evalkit plot function returns")
    figure, alt = drawn
    alt = " ".join([alt.strip(), alt_extra.strip()]).strip()
    if not alt:
        raise DesignError(f"the figure {label} has no alt text",
                          fix="give the plot's alt text, stating what it shows")
    if width is not None and not re.fullmatch(r"\d{1,3}(\.\d+)?%", str(width)):
        raise DesignError(f"width={width!r} is not a percentage", fix='use e.g. width="70%"')
    where = Path(folder) if folder is not None else figure_folder()
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{label}.png"
    tmp = where / f".{label}.{os.getpid()}.png.part"
    # zlib level 1: about a quarter quicker to write than the default 6, files ~10% larger.
    # bbox_inches="tight": labels that reach past the canvas (a long axis title) are kept,
    # not cut off at its edge.
    figure.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None},
                   bbox_inches="tight", pad_inches=0.05, pil_kwargs={"compress_level": 1})
    os.replace(tmp, path)
    if width is None:
        width = _fitting_width(path)
    return ReportFigure(label=label, caption=caption, alt=alt, path=path, width=width)


#: The tallest figure, as height over width at the full text width, that fits a page with
#: its caption (A4 with 2 cm margins, or Letter with 1 inch margins, as DOCX has).
MAX_ASPECT = 1.2


def _fitting_width(path: Path) -> str | None:
    """A width that keeps a tall figure on one page (``None``: the full width fits).

    A figure with many rows (the headline effects, a balance plot) drawn at the full text
    width would be taller than the page and run over the footer; it is shown narrower
    instead, so that its height is :data:`MAX_ASPECT` times the text width.
    """
    from PIL import Image

    with Image.open(path) as image:
        w, h = image.size
    aspect = h / w if w else 0.0
    if aspect <= MAX_ASPECT:
        return None
    return f"{100 * MAX_ASPECT / aspect:.0f}%"


def figure_markdown(drawn: tuple[Figure, str] | None, *, label: str, caption: str,
                    alt_extra: str = "", folder: str | Path | None = None,
                    dpi: int = 150, width: str | None = None) -> str:
    """The Markdown of a figure with its computed alt text, or ``""`` without a figure.

    Parameters are those of :func:`save_figure`; ``drawn`` may be ``None`` (the design or
    data the figure needs is absent), and then nothing is written or shown.
    """
    if drawn is None:
        return ""
    return save_figure(drawn, label=label, caption=caption, alt_extra=alt_extra,
                       folder=folder, dpi=dpi, width=width).markdown() + "\n"


#: Each report figure's caption, by label (``{outcome}``: the outcome the figure shows).
FIGURE_CAPTIONS = {
    "fig-spc-outcome": "The headline outcome across the scheme's units each month, as an XmR "
                       "chart with separate limits before and after the start (Making Data "
                       "Count rules): mean (solid), process limits (dashed), two-sigma lines "
                       "(dotted), special-cause points marked by shape and colour.",
    "fig-effects": "Estimated changes with 95% confidence intervals. Each kind of estimate "
                   "has its own marker shape and colour, named in the legend. The dashed "
                   "line marks no change.",
    "fig-its": "Interrupted time series of {outcome}: observed values (dots), the fitted model "
               "(solid line) and the counterfactual without the scheme (dashed, with its 95% "
               "band). The vertical line marks the start.",
    "fig-event": "Effects on {outcome} by time since adoption (event study): points are "
                 "estimates with 95% pointwise intervals, circles before and squares after "
                 "adoption; the shaded area is the 95% simultaneous band. The vertical line "
                 "marks adoption.",
    "fig-synth": "Synthetic control: the scheme's area (solid blue) against its synthetic "
                 "control, a weighted average of other areas (dashed orange). The dotted line "
                 "marks the start.",
    "fig-synth-gaps": "Gap between each area and its synthetic control: the scheme's area "
                      "(blue) and every other area treated as if it had adopted the scheme "
                      "(grey placebos; poorly fitting placebos left out). The dotted line marks "
                      "the start.",
    "fig-love": "Balance before and after matching: absolute standardised mean differences of "
                "each characteristic between enrolled and comparison units (circles before, "
                "squares after). The dashed line marks 0.1, the usual threshold of "
                "balance.",
    "fig-ce-plane": "Cost-effectiveness plane: bootstrap replicates (dots) of the scheme's "
                    "incremental cost and QALYs per patient, the estimate (diamond) and the "
                    "£20,000 per QALY threshold (dashed). Points below the dashed line are "
                    "cost-effective at that threshold.",
    "fig-ceac": "Cost-effectiveness acceptability curve: the probability that the scheme is "
                "cost-effective at each willingness to pay per QALY. Dashed lines mark £20,000 "
                "and £30,000.",
    "fig-tornado": "One-way sensitivity analysis: how the economic result per patient moves "
                   "when each input is set to the low (solid) and high (hatched) end of its "
                   "range, the others held at the base case (vertical line).",
    "fig-spc-referrals": "Referrals to the scheme per 1,000 registered patients a month across "
                         "the scheme's units (u-chart, Making Data Count rules): mean (solid), "
                         "process limits (dashed), special-cause points marked by shape and "
                         "colour.",
    "fig-funnel": "Funnel plot: each unit's referrals per 1,000 patients a year against its "
                  "patient-years, with the scheme average and 95% (dashed) and 99.8% (dotted) "
                  "limits allowing for overdispersion. Units outside the limits are marked "
                  "with distinct shapes and named.",
    "fig-likert": "Staff survey answers before and after the scheme started, on a 1 (strongly "
                  "disagree) to 5 (strongly agree) scale: disagreement extends left (hatched), "
                  "agreement right.",
    "fig-maturity": "Network maturity self-assessment on the ten building blocks of "
                    "high-performing primary care (1 to 5), for the networks scoring highest "
                    "and lowest at the last assessment; line style marks the wave.",
    "fig-dose": "Engagement and outcome: the change in {outcome} after the start estimated "
                "for a unit at each level of referrals per 1,000 patients in the first year "
                "(solid line), with its 95% confidence band, from a model of every unit's "
                "monthly values; the dashed line marks no change. An association, not a "
                "causal effect.",
}


#: Display widths of the taller figures (a share of the text width), so that they sit on a
#: page with their neighbours.
FIGURE_WIDTHS = {"fig-maturity": "70%", "fig-love": "80%", "fig-ce-plane": "85%",
                 "fig-dose": "85%", "fig-likert": "90%"}


class FigureOutput:
    """A figure that any Jupyter front end (Quarto, nbclient) displays as a PNG."""

    def __init__(self, figure, dpi: int = 150):
        self.figure = figure
        self.dpi = dpi

    def _repr_png_(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=self.dpi, metadata={"Software": None})
        return buffer.getvalue()

    def __repr__(self) -> str:
        return "<figure>"
