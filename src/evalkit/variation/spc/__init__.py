"""Statistical process control in the NHS England "Making Data Count" style.

:func:`xmr` draws XmR (individuals) charts; :func:`p_chart` and :func:`u_chart` draw
charts of proportions and rates with varying denominators. All three apply the four
Making Data Count rules (:mod:`evalkit.variation.spc.rules`), classify special-cause variation as
improvement or concern, give assurance against a target, and run over thousands of
groups (practices, outcomes) in one vectorised pass. Each returns an
:class:`~evalkit.variation.spc.result.SPCResult`; :mod:`evalkit.plots.spc` draws it.

Examples
--------
>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")  # 18 points: trial limits
...     res = xmr([1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1],
...               screen_outliers=False)
>>> res.limits[["lower", "upper"]].round(2).values.tolist()
[[-3.06, 6.95]]
"""

from evalkit.variation.spc.attribute import p_chart, u_chart
from evalkit.variation.spc.prepare import SPCWarning
from evalkit.variation.spc.result import (
    ASSURANCE_CLASSES,
    ASSURANCE_ICONS,
    VARIATION_CLASSES,
    VARIATION_ICONS,
    SPCResult,
)
from evalkit.variation.spc.rules import RULE_COLUMNS
from evalkit.variation.spc.xmr import xmr

__all__ = ["xmr", "p_chart", "u_chart", "SPCResult", "SPCWarning", "RULE_COLUMNS",
           "VARIATION_CLASSES", "VARIATION_ICONS", "ASSURANCE_CLASSES", "ASSURANCE_ICONS"]
