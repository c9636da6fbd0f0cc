"""Showing a figure in a notebook: the picture, with its alt text attached.

Every plot function returns ``(figure, alt_text)``. In a notebook, :func:`show` turns that
pair into one output that Jupyter front ends display as the picture itself. The alt text
travels with it: as the image's ``alt`` attribute in HTML, and as the plain-text form that
a terminal, a screen reader reading the notebook's text, or nbval sees.
"""

from __future__ import annotations

import io

__all__ = ["NotebookFigure", "show"]


class NotebookFigure:
    """A figure and its alt text, displayed by Jupyter as a PNG image.

    Parameters
    ----------
    figure
        A matplotlib figure.
    alt
        The figure's alt text: what it shows, in words.
    dpi
        Resolution of the PNG.
    """

    def __init__(self, figure, alt: str, dpi: int = 90):
        self.figure = figure
        self.alt = str(alt)
        self.dpi = dpi

    def png(self) -> bytes:
        """The figure as PNG bytes (no software stamp, so reruns give the same bytes)."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight",
                            metadata={"Software": None})
        return buffer.getvalue()

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"image/png": self.png(), "text/plain": self.alt}
        return bundle, {"image/png": {"alt": self.alt}}

    def __repr__(self) -> str:
        return self.alt


def show(figure, alt: str | None = None, *, dpi: int = 90) -> NotebookFigure:
    """Display a figure in a notebook, with its alt text.

    Parameters
    ----------
    figure
        A matplotlib figure, or the ``(figure, alt_text)`` pair a plot function returns.
    alt
        The alt text, when ``figure`` is a figure alone.
    dpi
        Resolution of the PNG.

    Returns
    -------
    NotebookFigure
        Make it the last expression of a cell, and Jupyter shows the picture.

    Examples
    --------
    >>> fig, alt = ek.plots.its_plot(result, label="Emergency admissions")  # doctest: +SKIP
    >>> ek.plots.show(fig, alt)  # doctest: +SKIP
    """
    if isinstance(figure, tuple):
        figure, alt = figure
    if alt is None:
        raise ValueError("show() needs the figure's alt text: pass the pair a plot "
                         "function returns, or alt=...")
    import matplotlib.pyplot as plt

    plt.close(figure)  # the inline backend would otherwise show it a second time
    return NotebookFigure(figure, alt, dpi=dpi)
