"""Sensitivity analysis of an economic model: one-way (tornado) and probabilistic (PSA).

A *model* is a Python function of named parameters. For one-way analysis it returns one
number (net cost, an ICER, incremental net benefit). For a PSA it returns, for each
strategy, its cost and effect; the parameters arrive as numpy arrays of draws, so a model
written with numpy operations runs once for all draws.

Distributions for PSA (Briggs, Claxton and Sculpher, 2006, ch. 4) are given by their mean
and standard error and fitted by the method of moments:

``gamma`` (costs, resource use; positive)
    ``shape = mean**2 / se**2``, ``scale = se**2 / mean``.
``beta`` (probabilities, utilities below one)
    ``a = mean * (mean * (1 - mean) / se**2 - 1)``, ``b = a * (1 - mean) / mean``;
    needs ``se**2 < mean * (1 - mean)``.
``lognormal`` (relative risks, rate ratios)
    ``sigma**2 = log(1 + se**2 / mean**2)``, ``mu = log(mean) - sigma**2 / 2``; or give
    ``ci`` (a 95% interval of a ratio) and the log scale is read from it.
``normal``
    ``mean``, ``se``.
``uniform``
    ``low``, ``high``.
``triangular``
    ``low``, ``mode``, ``high``.
``fixed``
    ``value``: not varied.

References
----------
Briggs A, Claxton K, Sculpher M. *Decision Modelling for Health Economic Evaluation*.
Oxford University Press; 2006.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from evalkit.data.arguments import check_whole
from evalkit.economics.bootstrap import Seed, _rng
from evalkit.errors import DesignError

__all__ = ["DISTRIBUTIONS", "draw_parameters", "psa", "one_way"]

DISTRIBUTIONS = {
    "gamma": ("mean", "se"),
    "beta": ("mean", "se"),
    "lognormal": ("mean", "se"),
    "normal": ("mean", "se"),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "fixed": ("value",),
}


def _spec(name: str, spec: Any) -> dict[str, Any]:
    if isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
        return {"dist": "fixed", "value": float(spec)}
    if not isinstance(spec, Mapping) or "dist" not in spec:
        raise DesignError(f"parameter '{name}' needs a distribution, e.g. "
                          "{'dist': 'gamma', 'mean': 3000, 'se': 300}",
                          fix=f"give one of {', '.join(DISTRIBUTIONS)} with its arguments")
    dist = str(spec["dist"])
    if dist not in DISTRIBUTIONS:
        raise DesignError(f"parameter '{name}': unknown distribution '{dist}'",
                          fix=f"use one of {', '.join(DISTRIBUTIONS)}")
    need = DISTRIBUTIONS[dist]
    if dist == "lognormal" and "ci" in spec and "mean" in spec:
        need = ("mean", "ci")
    missing = [k for k in need if k not in spec]
    if missing:
        raise DesignError(f"parameter '{name}' ({dist}) is missing {', '.join(missing)}",
                          fix=f"a {dist} distribution takes {', '.join(need)}")
    out = {"dist": dist}
    for k in need:
        value = spec[k]
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise DesignError(f"parameter '{name}': {k} must be a finite number, not {value!r}",
                              fix="give numbers")
        out[k] = arr if arr.ndim else float(arr)
    return out


def _draw(name: str, spec: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    dist = spec["dist"]
    bad = None
    if dist == "fixed":
        return np.full(n, spec["value"])
    if dist in ("gamma", "beta", "lognormal", "normal"):
        m = spec["mean"]
    if dist == "gamma":
        se = spec["se"]
        if m <= 0 or se <= 0:
            bad = "a gamma distribution needs a positive mean and standard error"
        else:
            return rng.gamma(m * m / (se * se), se * se / m, n)
    elif dist == "beta":
        se = spec["se"]
        if not 0 < m < 1 or se <= 0 or se * se >= m * (1 - m):
            bad = ("a beta distribution needs 0 < mean < 1 and se**2 < mean * (1 - mean) "
                   f"(here mean {m}, se {se})")
        else:
            a = m * (m * (1 - m) / (se * se) - 1)
            return rng.beta(a, a * (1 - m) / m, n)
    elif dist == "lognormal":
        if m <= 0:
            bad = "a lognormal distribution needs a positive mean"
        elif "ci" in spec:
            lo, hi = np.asarray(spec["ci"], dtype=float).ravel()[:2]
            if not 0 < lo < hi:
                bad = "a lognormal ci needs 0 < low < high"
            else:
                sigma = (np.log(hi) - np.log(lo)) / (2 * 1.959963984540054)
                return np.exp(rng.normal(np.log(m), sigma, n))
        else:
            se = spec["se"]
            if se <= 0:
                bad = "a lognormal distribution needs a positive standard error"
            else:
                s2 = np.log1p(se * se / (m * m))
                return np.exp(rng.normal(np.log(m) - s2 / 2, np.sqrt(s2), n))
    elif dist == "normal":
        if spec["se"] < 0:
            bad = "a normal distribution needs a non-negative standard error"
        else:
            return rng.normal(m, spec["se"], n)
    elif dist == "uniform":
        if not spec["low"] < spec["high"]:
            bad = "a uniform distribution needs low < high"
        else:
            return rng.uniform(spec["low"], spec["high"], n)
    elif dist == "triangular":
        if not spec["low"] <= spec["mode"] <= spec["high"] or spec["low"] == spec["high"]:
            bad = "a triangular distribution needs low <= mode <= high, low < high"
        else:
            return rng.triangular(spec["low"], spec["mode"], spec["high"], n)
    raise DesignError(f"parameter '{name}': {bad}", fix="correct the distribution's arguments")


def draw_parameters(parameters: Mapping[str, Any], n: int, *, seed: Seed = None
                    ) -> pd.DataFrame:
    """Draw every parameter ``n`` times from its distribution (columns in the given order).

    Each parameter is drawn in turn from one generator, so adding a parameter at the end
    leaves the earlier draws unchanged.

    Examples
    --------
    >>> d = draw_parameters({"p": {"dist": "beta", "mean": 0.2, "se": 0.05},
    ...                      "c": 100.0}, 4, seed=1)
    >>> list(d.columns), float(d["c"].iloc[0])
    (['p', 'c'], 100.0)
    """
    check_whole("n", n, 1)
    if not isinstance(parameters, Mapping) or not parameters:
        raise DesignError("parameters must be a non-empty mapping of name to distribution",
                          fix="e.g. {'unit_cost': {'dist': 'gamma', 'mean': 3000, 'se': 300}}")
    rng = _rng(seed)
    return pd.DataFrame({str(k): _draw(str(k), _spec(str(k), v), n, rng)
                         for k, v in parameters.items()})


def _strategy_output(out: Any, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not isinstance(out, Mapping) or not out:
        raise DesignError("a PSA model must return {strategy: (cost, effect)}",
                          fix="return e.g. {'usual care': (c0, e0), 'scheme': (c1, e1)}")
    result = {}
    for name, pair in out.items():
        try:
            c, e = pair
        except (TypeError, ValueError):
            raise DesignError(f"the model's value for '{name}' is not a (cost, effect) pair",
                              fix="return {strategy: (cost, effect)}") from None
        c = np.broadcast_to(np.asarray(c, dtype=float), (n,))
        e = np.broadcast_to(np.asarray(e, dtype=float), (n,))
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(e))):
            raise DesignError(f"the model gave non-finite costs or effects for '{name}'",
                              fix="check the model for divisions by zero or missing inputs")
        result[str(name)] = (c, e)
    return result


def psa(model: Callable[..., Mapping[str, tuple]], parameters: Mapping[str, Any], *,
        n: int = 1000, seed: Seed = None) -> pd.DataFrame:
    """Probabilistic sensitivity analysis: the model over ``n`` draws of its inputs.

    Parameters
    ----------
    model
        ``model(**params)`` returning ``{strategy: (cost, effect)}``; each parameter is an
        array of ``n`` draws (a model written with numpy runs once for all draws).
    parameters
        Name to distribution (see the module notes); a plain number is fixed.
    n, seed
        Draws and the seed.

    Returns
    -------
    pandas.DataFrame
        Long draws ``draw, strategy, cost, effect`` (ready for :func:`ceac`, :func:`nmb`
        and :func:`evpi`); ``attrs["parameters"]`` holds the parameter draws.
    """
    params = draw_parameters(parameters, n, seed=seed)
    out = _strategy_output(model(**{k: params[k].to_numpy() for k in params}), n)
    names = list(out)
    frame = pd.DataFrame({
        "draw": np.tile(np.arange(1, n + 1), len(names)),
        "strategy": np.repeat(names, n),
        "cost": np.concatenate([out[k][0] for k in names]),
        "effect": np.concatenate([out[k][1] for k in names])})
    frame.attrs["parameters"] = params
    return frame


def one_way(model: Callable[..., float], base: Mapping[str, float],
            ranges: Mapping[str, tuple[float, float]], *, label: Mapping[str, str] | None = None
            ) -> pd.DataFrame:
    """One-way sensitivity analysis: each parameter at its low and high value in turn.

    Parameters
    ----------
    model
        ``model(**params)`` returning one number.
    base
        The base-case value of every parameter.
    ranges
        ``{name: (low, high)}`` for the parameters to vary (a subset of ``base``).
    label
        Readable names for the table and tornado diagram.

    Returns
    -------
    pandas.DataFrame
        ``parameter, label, low, high, output_low, output_high, base_output, swing`` in
        order of decreasing swing (``|output_high - output_low|``), as a tornado diagram
        draws them.
    """
    if not isinstance(base, Mapping) or not isinstance(ranges, Mapping) or not ranges:
        raise DesignError("one_way needs base values and at least one range",
                          fix="e.g. ranges={'unit_cost': (2000, 4000)}")
    unknown = [k for k in ranges if k not in base]
    if unknown:
        raise DesignError(f"ranges name parameters with no base value: {', '.join(unknown)}",
                          fix="give every varied parameter a base value")

    def run(params: Mapping[str, float]) -> float:
        value = float(np.asarray(model(**params), dtype=float))
        if not np.isfinite(value):
            raise DesignError(f"the model gave a non-finite output at {dict(params)}",
                              fix="check the model for divisions by zero")
        return value

    base_out = run(base)
    label = dict(label or {})
    rows = []
    for name, bounds in ranges.items():
        lo, hi = (float(x) for x in bounds)
        if not lo <= hi:
            raise DesignError(f"range for '{name}' has low {lo} above high {hi}",
                              fix="give (low, high)")
        out_lo = run({**base, name: lo})
        out_hi = run({**base, name: hi})
        rows.append({"parameter": name, "label": label.get(name, name), "low": lo,
                     "high": hi, "output_low": out_lo, "output_high": out_hi,
                     "base_output": base_out, "swing": abs(out_hi - out_lo)})
    frame = pd.DataFrame(rows)
    return frame.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
