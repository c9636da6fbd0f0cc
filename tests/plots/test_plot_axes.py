"""Time-axis ticks shared by the ITS and before/after plots (evalkit.plots.axes)."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evalkit.plots.axes import period_ticks


def months(first_year: int, first_month: int, n: int) -> list[str]:
    out = []
    y, m = first_year, first_month
    for _ in range(n):
        out.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def test_five_years_from_april_are_ticked_at_each_january():
    periods = months(2019, 4, 60)  # 2019-04 to 2024-03
    at, labels = period_ticks(periods)
    assert [periods[i] for i in at] == ["2020-01", "2021-01", "2022-01", "2023-01",
                                        "2024-01"]
    assert labels == ["2020", "2021", "2022", "2023", "2024"]


def test_long_series_tick_every_few_years_and_never_more_than_asked():
    periods = months(2001, 1, 20 * 12)
    at, labels = period_ticks(periods, most=7)
    assert len(at) <= 7
    assert labels == ["2001", "2004", "2007", "2010", "2013", "2016", "2019"]


@pytest.mark.parametrize("periods", [months(2023, 5, 12), ["2020-01", "2020-03", "2020-04"],
                                     ["w1", "w2", "w3", "w4", "w5"]])
def test_short_gappy_or_other_labels_are_shown_as_written(periods):
    at, labels = period_ticks(periods, most=4)
    assert labels == [periods[i] for i in at]
    assert at[0] == 0 and len(at) <= 4


def test_empty_axis():
    assert period_ticks([]) == ([], [])


def test_year_labels_do_not_touch_on_a_report_sized_figure():
    periods = months(2015, 4, 84)
    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.subplots()
    ax.plot(range(len(periods)), range(len(periods)))
    at, labels = period_ticks(periods)
    ax.set_xticks(at, labels, fontsize=8)
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:], strict=False))
