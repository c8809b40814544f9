"""argparse value types shared by the ``ringpop`` commands."""

from __future__ import annotations

import argparse
import logging
import math
import sys

from ringpop.checks import is_utf8_text, number_problem
from ringpop.tchannel.hostport import validate_host_port

__all__ = [
    "configure_logging",
    "listen_address",
    "log_levels",
    "positive_number",
    "positive_seconds",
    "seconds_or_zero",
    "small_count",
    "utf8_text",
]


def _number(text: str, *, unit: str, zero_ok: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    problem = number_problem(value, unit=unit, zero_ok=zero_ok)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem}, not {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds, > 0."""
    return _number(text, unit="seconds")


def seconds_or_zero(text: str) -> float:
    """A duration in seconds, >= 0."""
    return _number(text, unit="seconds", zero_ok=True)


def positive_number(text: str) -> float:
    """A factor or ratio, > 0."""
    return _number(text, unit="")


def listen_address(text: str) -> str:
    """An ``ipv4:port`` to listen on (port 0: any free port), as TChannel takes it."""
    reason = validate_host_port(text, allow_ephemeral=True)
    if reason is not None:
        raise argparse.ArgumentTypeError(reason)
    return text


def utf8_text(value: str) -> str:
    """Text that can travel as UTF-8 (an argument of bytes that are not UTF-8 comes to
    Python with lone surrogates: refused here, not by the encoder with a traceback)."""
    if not is_utf8_text(value):
        raise argparse.ArgumentTypeError(f"not UTF-8 text: {value!r}")
    return value


def small_count(text: str) -> int:
    """A whole number in 0..64 (a count of things in flight)."""
    if not text.isdigit() or int(text) > 64:
        raise argparse.ArgumentTypeError(f"must be a whole number in 0..64, not {text}")
    return int(text)


def _parse_log_levels(text: str) -> tuple[int, dict[str, int]]:
    root: int | None = None
    loggers: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        name, _, level_name = part.rpartition("=")
        level = logging.getLevelName(level_name.strip().upper())
        if not isinstance(level, int):
            raise argparse.ArgumentTypeError(f"unknown logging level {level_name!r} in {text!r}")
        if name.strip():
            loggers[name.strip()] = level
        elif root is None:
            root = level
        else:
            raise argparse.ArgumentTypeError(f"two levels without a logger name in {text!r}")
    return (logging.INFO if root is None else root), loggers


def log_levels(text: str) -> str:
    """``LEVEL[,LOGGER=LEVEL...]``: stderr's level, then levels of single loggers
    (``WARNING,ringpop.membership.verdicts=INFO``); checked, returned as given."""
    _parse_log_levels(text)
    return text


def configure_logging(spec: str) -> None:
    """Log to stderr as :func:`log_levels` ``spec`` says (a node program's ``--log-level``)."""
    root, loggers = _parse_log_levels(spec)
    logging.basicConfig(
        level=root, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name, level in loggers.items():  # records of a named logger reach the root's handler
        logging.getLogger(name).setLevel(level)
