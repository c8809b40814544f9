"""One rule, and one wording, for settings that are durations or other positive numbers;
and one test for text that must travel as UTF-8.

Every timeout, interval and delay ringpop takes (options, forwarding policies, the
replicator, handoff, hints, actors, discovery, TLS, command-line flags) is checked
here, so each refuses the same values (bools, strings, NaN, infinity, negatives,
and 0 where 0 means nothing useful) with the same message (bytes arguments too,
with :func:`check_bytes`)::

    check_seconds("timeout", 0)
    ValueError: timeout must be a positive, finite number of seconds, not 0

Text that goes on the wire (app names, labels, error messages) must encode as
UTF-8: a Python ``str`` may hold lone surrogates (from ``os.fsdecode``, or
``"\\ud800"`` in source), which cannot. :func:`is_utf8_text` says whether it can;
:func:`utf8_safe` writes them as backslash escapes where text is only reported.

This module sits at the bottom of the layers: it imports only the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

_T = TypeVar("_T")

__all__ = [
    "as_options",
    "check_bytes",
    "check_callable",
    "check_seconds",
    "check_text",
    "check_whole",
    "is_utf8_text",
    "number_problem",
    "utf8_safe",
]


def number_problem(value: object, *, unit: str = "seconds", zero_ok: bool = False) -> str | None:
    """Why ``value`` is not a usable setting, or ``None`` if it is.

    A usable value is an ``int`` or ``float`` (a ``bool`` is not), finite, and above
    0 (at least 0 with ``zero_ok``). ``unit`` names what it counts ("" for none); the
    answer reads after the setting's name: "must be a positive, finite number of seconds".
    """
    of_unit = f" of {unit}" if unit else ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number{of_unit}"
    if zero_ok:
        return None if 0 <= value < math.inf else f"must be a finite number{of_unit} >= 0"
    return None if 0 < value < math.inf else f"must be a positive, finite number{of_unit}"


def check_seconds(
    name: str,
    value: object,
    *,
    zero_ok: bool = False,
    error: type[Exception] = ValueError,
) -> None:
    """Raise ``error`` ("<name> must be ..., not <value>") unless ``value`` is a
    finite number of seconds above 0 (at least 0 with ``zero_ok``)."""
    if type(value) is float and 0 < value < math.inf:  # every call's timeout: be quick
        return
    problem = number_problem(value, zero_ok=zero_ok)
    if problem is not None:
        raise error(f"{name} {problem}, not {value!r}")


def check_whole(*named: tuple[str, object]) -> None:
    """``TypeError`` ("<name> must be a whole number, not <value>") for the first
    ``(name, value)`` whose value is not an ``int`` (a ``bool`` is not one)."""
    for name, value in named:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be a whole number, not {value!r}")


def as_options(cls: type[_T], value: object, what: str) -> _T:
    """``value`` as ``cls`` (an options class of keyword fields), or a mapping of its
    fields made into one: ``ValueError`` naming ``what`` for unknown fields,
    ``TypeError`` for anything else (a dict used to be taken as it was and fail later
    with "'dict' object has no attribute ...")."""
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        fields: Mapping[str, Any] = value
        try:
            return cls(**fields)
        except TypeError as error:  # unknown field names
            raise ValueError(f"{what}: {error}") from None
    raise TypeError(f"{what} must be {cls.__name__} or a mapping, not {value!r:.80}")


def check_bytes(name: str, value: object) -> None:
    """``TypeError`` ("<name> must be bytes, not str (encode text first)") unless
    ``value`` is bytes-like: ``bytes``, ``bytearray`` or ``memoryview``."""
    if not isinstance(value, bytes | bytearray | memoryview):
        hint = " (encode text first)" if isinstance(value, str) else ""
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}{hint}")


def check_callable(what: str, value: object) -> None:
    """``TypeError`` ("<what> must be callable, not <value>") unless ``value`` is."""
    if not callable(value):
        raise TypeError(f"{what} must be callable, not {value!r:.80}")


def check_text(what: str, value: object, *, empty_ok: bool = False) -> None:
    """``TypeError`` unless ``value`` is a ``str``; ``ValueError`` if it is empty (unless
    ``empty_ok``) or holds lone surrogates UTF-8 cannot carry (names and keys that go
    on the wire or into a hash)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {value!r:.80}")
    if not value and not empty_ok:
        raise ValueError(f"{what} must not be empty")
    if not is_utf8_text(value):
        raise ValueError(f"{what} {value!r:.80} holds a lone surrogate UTF-8 cannot carry")


def is_utf8_text(text: str) -> bool:
    """Whether ``text`` can travel as UTF-8 (it holds no lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def utf8_safe(text: str) -> str:
    """``text`` with lone surrogates (which UTF-8 cannot carry) as backslash escapes."""
    return text if is_utf8_text(text) else text.encode("utf-8", "backslashreplace").decode()
