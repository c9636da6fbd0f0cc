"""Colour-blind-safe colours: NHS identity blues and the Analysis Function palette.

NHS identity colours are from the NHS England identity guidelines; the
categorical palette is the UK Government Analysis Function's accessible
palette for charts. Colour never carries meaning alone: plots also use
markers, line styles or labels.
"""

NHS_BLUE = "#005EB8"
NHS_DARK_BLUE = "#003087"
NHS_BRIGHT_BLUE = "#0072CE"
NHS_LIGHT_BLUE = "#41B6E6"
NHS_AQUA_BLUE = "#00A9CE"
NHS_MID_GREY = "#768692"
NHS_PALE_GREY = "#E8EDEE"

#: Analysis Function accessible categorical palette, in its recommended order.
ANALYSIS_FUNCTION = ("#12436D", "#28A197", "#801650", "#F46A25", "#3D3D3D", "#A285D1")

__all__ = ["NHS_BLUE", "NHS_DARK_BLUE", "NHS_BRIGHT_BLUE", "NHS_LIGHT_BLUE", "NHS_AQUA_BLUE",
           "NHS_MID_GREY", "NHS_PALE_GREY", "ANALYSIS_FUNCTION", "PLAIN_TEXT", "apply_style"]

#: Matplotlib settings under which figures are drawn for outputs: text from specs and data
#: (labels, practice names) is shown as typed, never parsed as mathtext (``$...$``), which
#: could fail to draw or change what a reader sees. Use with ``matplotlib.rc_context``
#: around the drawing, since a text's setting is fixed when it is created.
PLAIN_TEXT = {"text.parse_math": False}


def apply_style(ax) -> None:
    """House style for an axis: light grid, no top/right spines."""
    ax.grid(True, color=NHS_PALE_GREY, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
