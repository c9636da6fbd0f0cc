"""Checks at the public API's boundary: a table where a table is expected, and options of
the types the function declares.

Every design and measure function exported by ``evalkit`` that takes a DataFrame is wrapped
in :func:`takes_frame`. Before the function body runs, the wrapper refuses, with one
readable :class:`~evalkit.errors.DataError` or :class:`~evalkit.errors.DesignError`:

- a first argument that is not a DataFrame (a list, an array, a Series, a path);
- a keyword option whose value does not match the plain type in the function's signature
  (``str``, ``bool``, ``int``, ``float``, each optionally ``| None``): a list where a column
  name is expected, the text ``"high"`` where a number is expected, ``"yes please"`` where
  true or false is expected;
- a non-finite number, a ``per`` that is not positive, a ``conf_level`` outside (0, 1).

The spec loader applies the same option checks (:func:`check_options`) before anything
runs, so a bad spec is refused with the spec's file name.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any, TypeVar

import numpy as np

from .errors import DataError, DesignError

__all__ = ["takes_frame", "require_frame", "check_options", "check_option"]

F = TypeVar("F", bound=Callable[..., Any])

# Plain annotations the checks understand: the type, and whether None is allowed.
_KINDS = {"str": "text", "bool": "true or false", "int": "a whole number",
          "float": "a number"}


def _kind(annotation: Any) -> tuple[str | None, bool]:
    """('str' | 'bool' | 'int' | 'float' | None, None allowed) of a parameter annotation."""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    parts = [p.strip() for p in text.replace("Optional[", "").rstrip("]").split("|")]
    optional = "None" in parts
    parts = [p for p in parts if p != "None"]
    if len(parts) == 1 and parts[0] in _KINDS:
        return parts[0], optional
    return None, optional


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_option(name: str, value: Any, annotation: Any, *, default: Any = None) -> None:
    """Refuse ``value`` for option ``name`` if it is not of the annotated plain type.

    Raises
    ------
    DesignError
        Naming the option, the value and what it should be.
    """
    kind, optional = _kind(annotation)
    if kind is None or (value is None and (optional or default is None)):
        return
    ok = {"str": lambda v: isinstance(v, str),
          "bool": lambda v: isinstance(v, (bool, np.bool_)),
          "int": lambda v: isinstance(v, Integral) and not isinstance(v, bool),
          "float": lambda v: isinstance(v, Real) and not isinstance(v, bool)}[kind](value)
    if not ok:
        example = {"str": "one name (text, not a list or a number)",
                   "bool": "true or false, without quotes",
                   "int": "e.g. 12", "float": "e.g. 0.95" if name == "conf_level"
                   else "e.g. 1000"}[kind]
        raise DesignError(f"option '{name}' must be {_KINDS[kind]}, not {_describe(value)}",
                          fix=f"set {name} to {example}")
    if kind in ("int", "float") and not math.isfinite(float(value)):
        raise DesignError(f"option '{name}' must be a finite number, not {value!r}",
                          fix=f"set {name} to an ordinary number")
    if name == "per" and value <= 0:
        raise DesignError(f"option 'per' must be positive, not {value!r}",
                          fix="rates are per this many people: use e.g. 1000")
    if name == "conf_level" and not 0 < value < 1:
        raise DesignError(f"conf_level must be between 0 and 1, not {value!r}",
                          fix="use e.g. 0.95")


def check_options(func: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Check each of ``options`` against the type ``func`` declares for it."""
    params = inspect.signature(func).parameters
    for name, value in options.items():
        p = params.get(name)
        if p is not None and p.annotation is not inspect.Parameter.empty:
            check_option(name, value, p.annotation,
                         default=None if p.default is inspect.Parameter.empty else p.default)


def require_frame(value: Any, *, name: str = "data", func: str | None = None) -> None:
    """Refuse anything but a pandas DataFrame, saying what was passed and what to pass.

    Raises
    ------
    DataError
        For a list, an array, a Series, a path or anything else that is not a DataFrame.
    """
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return
    what = type(value).__name__
    where = f"{func}() " if func else ""
    hint = ("read the file first, e.g. ek.read(path)" if isinstance(value, str)
            or hasattr(value, "__fspath__") else
            "pass a table with named columns, e.g. pd.DataFrame(...) or ek.read('panel.csv')")
    raise DataError(f"{where}expects a pandas DataFrame as '{name}', not a {what}", fix=hint)


def takes_frame(func: F) -> F:
    """Decorate a public function whose first argument is a DataFrame: check the table and
    the plain-typed options at the boundary (see the module docstring)."""
    sig = inspect.signature(func)
    first = next(iter(sig.parameters))
    typed = {n: (p.annotation, None if p.default is inspect.Parameter.empty else p.default)
             for n, p in sig.parameters.items()
             if n != first and p.annotation is not inspect.Parameter.empty
             and _kind(p.annotation)[0] is not None}

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        data = args[0] if args else kwargs.get(first)
        require_frame(data, name=first, func=func.__name__)
        for name, value in kwargs.items():
            if name in typed:
                check_option(name, value, typed[name][0], default=typed[name][1])
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
