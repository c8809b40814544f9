"""Member labels (ringpop-go): checksum, limits and the identity label (§12.3, §16).

Labels are a ``str -> str`` map gossiped with a member. Keys starting with ``__``
are internal: they do not count towards the limit and the public API may not set
them (``__identity`` is set from configuration). Label dicts are treated as
immutable everywhere: the helpers here return new dicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

from ringpop.checks import is_utf8_text
from ringpop.errors import RingpopError
from ringpop.hashing import fingerprint32

__all__ = [
    "IDENTITY_LABEL",
    "IDENTITY_PATTERN",
    "INTERNAL_PREFIX",
    "MAX_KEY_BYTES",
    "MAX_LABELS",
    "MAX_VALUE_BYTES",
    "LabelError",
    "check_identity",
    "check_labels",
    "identity_of",
    "is_internal",
    "labels_checksum",
    "remove_labels",
    "set_label",
]

IDENTITY_LABEL: Final = "__identity"
INTERNAL_PREFIX: Final = "__"
MAX_KEY_BYTES: Final = 32
MAX_VALUE_BYTES: Final = 128
MAX_LABELS: Final = 5
"""Most non-internal labels on one member."""
IDENTITY_PATTERN: Final = re.compile(r"^(\d+.\d+.\d+.\d+):\d+$")
"""An identity must not match this (it would look like an address); the ``.`` are
unescaped in ringpop-go too."""

_INT32_SIGN: Final = 1 << 31
_UINT32: Final = 1 << 32


class LabelError(RingpopError, ValueError):
    """A label or identity breaks a rule of §16."""


def labels_checksum(labels: Mapping[str, str]) -> int:
    """go's labels checksum as a **signed** int32; ``0`` without labels (§12.3).

    Each pair hashes ``int32_be(len(key)) key int32_be(len(value)) value`` (UTF-8);
    the hashes are XOR-ed, so the order of the pairs does not matter.
    """
    if not labels:
        return 0
    combined = 0
    for key, value in labels.items():
        key_bytes = key.encode()
        value_bytes = value.encode()
        combined ^= fingerprint32(
            len(key_bytes).to_bytes(4, "big")
            + key_bytes
            + len(value_bytes).to_bytes(4, "big")
            + value_bytes
        )
    return combined - _UINT32 if combined >= _INT32_SIGN else combined


def is_internal(key: str) -> bool:
    """Whether ``key`` is an internal label (prefix ``__``)."""
    return key.startswith(INTERNAL_PREFIX)


def _check_sizes(key: str, value: str, max_key_bytes: int, max_value_bytes: int) -> None:
    if not isinstance(key, str) or not isinstance(value, str):
        raise LabelError(f"label keys and values must be strings, not {key!r}: {value!r}")
    if not (is_utf8_text(key) and is_utf8_text(value)):
        raise LabelError(f"label {key!r}: {value!r:.60} holds a lone surrogate UTF-8 cannot carry")
    if len(key.encode()) > max_key_bytes:
        raise LabelError(f"label key {key!r:.60} is longer than {max_key_bytes} bytes")
    if len(value.encode()) > max_value_bytes:
        raise LabelError(
            f"value of label {key!r} is longer than {max_value_bytes} bytes: {value!r:.60}"
        )


def _count_public(labels: Iterable[str]) -> int:
    return sum(1 for key in labels if not is_internal(key))


def check_labels(
    labels: Mapping[str, str],
    *,
    max_key_bytes: int = MAX_KEY_BYTES,
    max_value_bytes: int = MAX_VALUE_BYTES,
    max_labels: int = MAX_LABELS,
) -> None:
    """Validate a complete label set (e.g. the initial labels from configuration).

    Internal keys are allowed here; an ``__identity`` value is checked with
    :func:`check_identity`. Raises :class:`LabelError`.
    """
    for key, value in labels.items():
        _check_sizes(key, value, max_key_bytes, max_value_bytes)
    if _count_public(labels) > max_labels:
        raise LabelError(f"more than {max_labels} labels: {sorted(labels)}")
    if IDENTITY_LABEL in labels:
        check_identity(labels[IDENTITY_LABEL])


def set_label(
    labels: Mapping[str, str],
    key: str,
    value: str,
    *,
    internal: bool = False,
    max_key_bytes: int = MAX_KEY_BYTES,
    max_value_bytes: int = MAX_VALUE_BYTES,
    max_labels: int = MAX_LABELS,
) -> dict[str, str]:
    """A copy of ``labels`` with ``key`` set to ``value``, checked against §16.

    The public API passes ``internal=False``: internal keys are refused. Raises
    :class:`LabelError`.
    """
    _check_sizes(key, value, max_key_bytes, max_value_bytes)
    if is_internal(key) and not internal:
        raise LabelError(f"label key {key!r} is internal (starts with {INTERNAL_PREFIX!r})")
    if key == IDENTITY_LABEL:
        check_identity(value)
    if key not in labels and not is_internal(key) and _count_public(labels) >= max_labels:
        raise LabelError(f"cannot set {key!r}: a member has at most {max_labels} labels")
    updated = dict(labels)
    updated[key] = value
    return updated


def remove_labels(
    labels: Mapping[str, str], keys: Iterable[str], *, internal: bool = False
) -> dict[str, str]:
    """A copy of ``labels`` without ``keys`` (missing keys are ignored).

    Raises :class:`LabelError` for an internal key unless ``internal`` is true.
    """
    updated = dict(labels)
    for key in keys:
        if not isinstance(key, str):
            raise LabelError(f"label keys are strings, not {key!r:.60}")
        if is_internal(key) and not internal:
            raise LabelError(f"label key {key!r} is internal (starts with {INTERNAL_PREFIX!r})")
        updated.pop(key, None)
    return updated


def check_identity(identity: str) -> None:
    """Raise :class:`LabelError` if ``identity`` is empty, not UTF-8 text (a lone
    surrogate) or looks like ``ip:port``."""
    if not isinstance(identity, str) or not identity:
        raise LabelError(f"an identity must be a non-empty string, not {identity!r}")
    if not is_utf8_text(identity):  # the labels checksum hashes it as UTF-8
        raise LabelError(f"identity {identity!r} is not UTF-8 text")
    if IDENTITY_PATTERN.match(identity):
        raise LabelError(f"identity {identity!r} must not look like an address (ip:port)")


def identity_of(labels: Mapping[str, str], address: str) -> str:
    """The ring identity of a member: its ``__identity`` label, else its address."""
    return labels.get(IDENTITY_LABEL) or address
