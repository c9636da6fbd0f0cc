"""Checks at the public API's boundary: a table where a table is expected, and options of
the types the function declares.

Every design and measure function exported by ``evalkit`` that takes a DataFrame is wrapped
in :func:`takes_frame` (those that also take a list of values, effect records or a result,
such as ``xmr``, ``bootstrap_ci``, ``composite_index`` and ``meta_analysis``, say so with
``takes_frame(also=...)``). Before the function body runs, the wrapper refuses, with one
readable :class:`~evalkit.errors.DataError` or :class:`~evalkit.errors.DesignError`:

- a first argument that is not a DataFrame (a list, an array, a Series, a path), or not one
  of the other things the function takes;
- a keyword option whose value does not match the type in the function's signature
  (``str``, ``bool``, ``int``, ``float``, a ``Sequence`` of one of these or of mappings,
  and unions of them with ``None``): a list where a column name is expected, the text
  ``"high"`` where a number is expected, ``"yes please"`` where true or false is expected,
  a number where a list of covariates is expected;
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

from evalkit.errors import DataError, DesignError

__all__ = ["takes_frame", "require_frame", "check_options", "check_option", "listlike"]

F = TypeVar("F", bound=Callable[..., Any])

# The annotations the checks understand, what each accepts, and how to say it.
_SHAPES = {
    "str": ("text", lambda v: isinstance(v, str)),
    "bool": ("true or false", lambda v: isinstance(v, (bool, np.bool_))),
    "int": ("a whole number", lambda v: isinstance(v, Integral) and not isinstance(v, bool)),
    "float": ("a number", lambda v: isinstance(v, Real) and not isinstance(v, bool)),
    "Any": ("anything", lambda v: True),
    "Mapping[str, Any]": ("a mapping", lambda v: isinstance(v, Mapping)),
}
_EXAMPLES = {"str": "one name (text, not a list or a number)",
             "bool": "true or false, without quotes", "int": "e.g. 12", "float": "e.g. 1000",
             "Sequence[str]": "a list of names, e.g. [age, female]",
             "Sequence[int]": "a list of whole numbers, e.g. [6, 12]",
             "Sequence[float]": "a list of numbers, e.g. [0.5, 1.0]"}


def _shapes(annotation: Any) -> tuple[list[str], bool] | None:
    """The shapes an annotation accepts (``str``, ``Sequence[int]``, ...) and whether None
    is allowed; None when part of it is not understood (then nothing is checked)."""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    parts = [p.strip() for p in text.split("|")]
    optional = "None" in parts
    shapes = [p for p in parts if p != "None"]
    for shape in shapes:
        inner = shape[len("Sequence["):-1] if shape.startswith("Sequence[") else shape
        if inner not in _SHAPES or shape == "Any":
            return None
    return (shapes, optional) if shapes else None


def _fits(shape: str, value: Any) -> bool:
    if shape.startswith("Sequence["):
        inner = _SHAPES[shape[len("Sequence["):-1]][1]
        return _listlike(value) and all(inner(v) for v in value)
    return _SHAPES[shape][1](value)


def _listlike(value: Any) -> bool:
    """A list, tuple, array, Index or Series: a collection of values, not text."""
    return (not isinstance(value, (str, bytes, Mapping)) and hasattr(value, "__iter__")
            and hasattr(value, "__len__"))


def _say(shape: str) -> str:
    if shape.startswith("Sequence["):
        inner = shape[len("Sequence["):-1]
        return {"str": "a list of names", "int": "a list of whole numbers",
                "float": "a list of numbers", "Any": "a list",
                "Mapping[str, Any]": "a list of mappings"}[inner]
    return _SHAPES[shape][0]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_option(name: str, value: Any, annotation: Any, *, default: Any = None) -> None:
    """Refuse ``value`` for option ``name`` if it is not of the annotated type (text, true
    or false, a whole number, a number, or a list of one of these), or out of range.

    Raises
    ------
    DesignError
        Naming the option, the value and what it should be.
    """
    understood = _shapes(annotation)
    if understood is None:
        return
    shapes, optional = understood
    if value is None and (optional or default is None):
        return
    if not any(_fits(s, value) for s in shapes):
        example = (_EXAMPLES.get(shapes[0], "a list (see docs/spec.md)") if len(shapes) == 1
                   else " or ".join(_say(s) for s in shapes))
        if name == "conf_level":
            example = "e.g. 0.95"
        raise DesignError(f"option '{name}' must be {' or '.join(_say(s) for s in shapes)}, "
                          f"not {_describe(value)}", fix=f"set {name} to {example}")
    numbers = [value] if isinstance(value, Real) and not isinstance(value, bool) else (
        [v for v in value if isinstance(v, Real) and not isinstance(v, bool)]
        if _listlike(value) else [])
    if not all(math.isfinite(float(v)) for v in numbers):
        raise DesignError(f"option '{name}' must hold finite numbers, not {_describe(value)}",
                          fix=f"set {name} to ordinary numbers")
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


def require_frame(value: Any, *, name: str = "data", func: str | None = None,
                  also: tuple[Callable[[Any], bool], str] | None = None) -> None:
    """Refuse anything but a pandas DataFrame, saying what was passed and what to pass.

    Parameters
    ----------
    value
        The argument.
    name, func
        The argument's and the function's names, for the message.
    also
        ``(test, description)`` for what else the function takes (e.g. a list of numbers):
        a value for which ``test(value)`` is true passes too, and the message says the
        function expects ``description`` (e.g. "a pandas DataFrame or a list of numbers").
        A path or text never passes; a DataFrame always does (the function may refuse it
        in its own words).

    Raises
    ------
    DataError
        For a list, an array, a Series, a path or anything else that is not a DataFrame
        (or, with ``also``, not what it describes).
    """
    import pandas as pd

    path = isinstance(value, (str, bytes)) or hasattr(value, "__fspath__")
    if isinstance(value, pd.DataFrame) or (also is not None and not path and also[0](value)):
        return
    what = type(value).__name__
    where = f"{func}() " if func else ""
    expects = "a pandas DataFrame" if also is None else also[1]
    hint = ("read the file first, e.g. ek.read(path)" if path else
            "pass a table with named columns, e.g. pd.DataFrame(...) or ek.read('panel.csv')"
            if also is None else f"pass {also[1]}")
    raise DataError(f"{where}expects {expects} as '{name}', not a {what}", fix=hint)


def listlike(value: Any) -> bool:
    """A list, tuple, array, Index or Series: a collection of values, not text or a mapping
    (for ``takes_frame(also=...)``)."""
    return _listlike(value)


def takes_frame(func: F | None = None, *,
                also: tuple[Callable[[Any], bool], str] | None = None) -> Any:
    """Decorate a public function whose first argument is a DataFrame: check the table and
    the plain-typed options at the boundary (see the module docstring).

    Used bare (``@takes_frame``) the first argument must be a DataFrame. A function that
    also takes other things first (a list of numbers, effect records, a result) says so
    with ``@takes_frame(also=(test, description))``: see :func:`require_frame`.
    """
    if func is None:
        return functools.partial(takes_frame, also=also)
    sig = inspect.signature(func)
    first = next(iter(sig.parameters))
    typed = {n: (p.annotation, None if p.default is inspect.Parameter.empty else p.default)
             for n, p in sig.parameters.items()
             if n != first and p.annotation is not inspect.Parameter.empty
             and _shapes(p.annotation) is not None}

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        data = args[0] if args else kwargs.get(first)
        require_frame(data, name=first, func=func.__name__, also=also)
        for name, value in kwargs.items():
            if name in typed:
                check_option(name, value, typed[name][0], default=typed[name][1])
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
