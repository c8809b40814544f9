"""Receiving rules (spec §1.1): decode a peer's message liberally, field by field and
entry by entry.

:func:`receive` first tries the strict decoder of :mod:`ringpop.messages`, so a
well-formed message costs one msgspec decode plus a set lookup per change (is its
status known?). Only when that fails does it decode again, field by field:

* a field the receiver does not need takes its default when it is absent, ``null``
  or unusable (a response ``checksum``, ``source``, ``sourceIncarnationNumber``,
  ``timestamp``, ``id``, ``membershipChecksum``...);
* a field the receiver needs (a request's ``source``, a ``changes`` list) refuses the
  whole message with :class:`FieldError` when it is absent or ``null``, and when it is
  unusable unless its rules say what to take instead (:attr:`Rules.unusable`: a ping's
  non-string ``source`` becomes ``""``, unknown; :attr:`Rules.as_list`: a ``changes``
  that is no list is an unusable list, an object a one-entry list); a *checked* field
  (``app`` of a ping, ``labels`` and ``tombstone`` of a change) may be absent or
  ``null`` but refuses when present and unusable;
* an unusable entry of a list (a change without a usable ``address``, ``status`` or
  ``incarnationNumber``, bad ``labels``, an entry that is not an object) is dropped
  alone and counted in :attr:`Received.dropped` by reason; the rest is kept in order.

Bounds stay: a list longer than its ``max_length`` (``MAX_CHANGES``) refuses the
whole message on both paths. Sending is untouched: the structs and :func:`encode`
are as strict as before.

(About 470 lines, over the usual 400: the per-message rules tables and the
field-by-field fallback decoder read each other's private helpers and are
reviewed together against spec §1.1; split, each half would be unreadable alone.)

>>> body = b'{"changes": [], "checksum": null}'
>>> receive(body, PingResponse).message.changes
[]
>>> got = receive(b'{"changes": [{"address": "127.0.0.1:3001", "status": "alive"}]}', PingResponse)
>>> got.message.changes, dict(got.dropped)
([], {'incarnationNumber': 1})
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Generic, NamedTuple, TypeVar

import msgspec
from msgspec import NODEFAULT

from ringpop.messages import (
    AdminLookupRequest,
    Change,
    DampReqRequest,
    DampReqResponse,
    JoinRequest,
    JoinResponse,
    MessageError,
    PingReqRequest,
    PingReqResponse,
    PingRequest,
    PingResponse,
)

__all__ = ["STATUSES", "FieldError", "Received", "Rules", "receive"]

T = TypeVar("T")

STATUSES: Final = frozenset({"alive", "suspect", "faulty", "leave", "tombstone"})
"""Statuses a change may carry on the wire (§2.2); others are dropped. The wire vocabulary,
spelled out here so decoding sits below membership (tests check it equals ``Status``)."""

_SAMPLE_BYTES: Final = 120
_NULL: Final = msgspec.Raw(b"null")
_BRACE: Final = ord("{")
_BRACKET: Final = ord("[")
_QUOTE: Final = ord('"')
_NO_DROPS: Final[Mapping[str, int]] = MappingProxyType({})


class FieldError(MessageError):
    """A field the receiver needs is absent, ``null`` or unusable: refuse the message.

    ``field`` is its JSON name (``"source"``, ``"app"``, ``"changes"``...).
    """

    def __init__(self, message_type: type[Any], field: str, detail: str) -> None:
        super().__init__(f"bad {message_type.__name__} body: {detail} - at `$.{field}`")
        self.field = field


class Received(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """A decoded message and what was dropped from it."""

    message: T
    dropped: Mapping[str, int]
    """Dropped entries by reason: the JSON name of the unusable field (``address``,
    ``status``, ``incarnationNumber``, ``labels``...) or ``entry`` (not an object)."""
    sample: str = ""
    """The start of the first dropped entry, for a log line."""


class Rules(NamedTuple):
    """How to receive one struct type (attribute names, not JSON names)."""

    needed: frozenset[str] = frozenset()
    """Absent, ``null`` or unusable: refuse the message (drop the entry)."""
    checked: frozenset[str] = frozenset()
    """Absent or ``null``: default; present but unusable: refuse (drop the entry)."""
    fallback: Mapping[str, Callable[[], Any]] = {}
    """Defaults for required fields the receiver does not need."""
    valid: Mapping[str, Callable[[Any], bool]] = {}
    """Checks beyond the type, e.g. a change's status is one of :data:`STATUSES`."""
    unusable: Mapping[str, Callable[[msgspec.Raw], Any]] = {}
    """Present, not ``null``, but unusable (e.g. a number where an address belongs):
    take this value, made from the raw JSON, instead of refusing. The handler then
    treats the field as unknown (a request's ``source``, a ping-req's ``target``)."""
    as_list: frozenset[str] = frozenset()
    """Lists of changes that may arrive as something else (§1.1 rule 2): a JSON object
    is taken as a one-entry list, anything else as a list of unusable entries
    (dropped, counted under the field's JSON name); the message is processed."""


def _zero() -> int:
    return 0


def _none() -> None:
    return None


def _empty() -> str:
    return ""


def _no_changes() -> list[Change]:
    return []


def _unknown_address(raw: msgspec.Raw) -> str:
    """A ``source`` that is not a string: unknown (``""`` is no usable address)."""
    return ""


def _as_text(raw: msgspec.Raw) -> str:
    """A ``target`` that is not a string, as the JSON text received (it is echoed in
    the ping-req response, whose ``target`` must be a string)."""
    return bytes(raw).decode("utf-8", "replace")


_CHANGES: Final = frozenset({"changes"})


RULES: Final[dict[type[Any], Rules]] = {
    Change: Rules(
        needed=frozenset({"address", "status", "incarnation_number"}),
        checked=frozenset({"labels", "tombstone"}),
        valid={"status": STATUSES.__contains__},
    ),
    JoinRequest: Rules(needed=frozenset({"app", "source"}), fallback={"incarnation_number": _zero}),
    # ``app`` absent, null or not a string: unknown (the struct's default, UNSET).
    JoinResponse: Rules(
        needed=frozenset({"membership"}),
        fallback={"coordinator": _empty},
        as_list=frozenset({"membership"}),
    ),
    PingRequest: Rules(
        needed=frozenset({"source", "changes"}),
        checked=frozenset({"app"}),
        fallback={"checksum": _none, "source_incarnation_number": _zero},
        unusable={"source": _unknown_address},
        as_list=_CHANGES,
    ),
    PingResponse: Rules(
        checked=frozenset({"changes"}), fallback={"changes": _no_changes}, as_list=_CHANGES
    ),
    PingReqRequest: Rules(
        needed=frozenset({"source", "target", "changes"}),
        fallback={"checksum": _none, "source_incarnation_number": _zero},
        unusable={"source": _unknown_address, "target": _as_text},
        as_list=_CHANGES,
    ),
    PingReqResponse: Rules(
        needed=frozenset({"ping_status"}),
        checked=frozenset({"changes"}),
        fallback={"changes": _no_changes, "target": _empty},
        as_list=_CHANGES,
    ),
    DampReqRequest: Rules(needed=frozenset({"flappers"})),
    DampReqResponse: Rules(needed=frozenset({"scores"})),
    AdminLookupRequest: Rules(needed=frozenset({"key"})),
}
"""The rules of every message we receive; other structs get :func:`_default_rules`."""


class _Field(NamedTuple):
    name: str
    json_name: str
    decoder: msgspec.json.Decoder[Any]
    needed: bool
    checked: bool
    fallback: Callable[[], Any] | None
    valid: Callable[[Any], bool] | None
    entry: type[Any] | None
    """For a list field: the entry type (entries are received one by one)."""
    unusable: Callable[[msgspec.Raw], Any] | None
    as_list: bool


class _Plan(NamedTuple):
    decoder: msgspec.json.Decoder[Any]
    fields: tuple[_Field, ...]
    change_lists: tuple[str, ...]
    """Attribute names of the lists of changes (their statuses are checked)."""


_plans: dict[type[Any], _Plan] = {}
_object: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])


def _default_rules(message_type: type[Any]) -> Rules:
    required = {
        f.name
        for f in msgspec.structs.fields(message_type)
        if f.required and f.default is NODEFAULT and f.default_factory is NODEFAULT
    }
    return Rules(needed=frozenset(required))


def _list_entry(annotation: Any) -> tuple[Any, type[Any] | None]:
    """For ``list[X]`` (maybe ``Annotated``): the ``list[Raw]`` type to decode and ``X``."""
    metas: tuple[Any, ...] = ()
    inner = annotation
    if typing.get_origin(inner) is typing.Annotated:
        inner, *extra = typing.get_args(inner)
        metas = tuple(extra)
    if typing.get_origin(inner) is not list:
        return annotation, None
    (entry,) = typing.get_args(inner)
    if entry is not str and not (isinstance(entry, type) and issubclass(entry, msgspec.Struct)):
        return annotation, None
    raw_list: Any = list[msgspec.Raw]
    if metas:
        raw_list = typing.Annotated.__class_getitem__((raw_list, *metas))  # type: ignore[attr-defined]
    return raw_list, entry


def _plan(message_type: type[Any]) -> _Plan:
    plan = _plans.get(message_type)
    if plan is not None:
        return plan
    rules = RULES.get(message_type) or _default_rules(message_type)
    hints = typing.get_type_hints(message_type, include_extras=True)
    fields = []
    change_lists = []
    for info in msgspec.structs.fields(message_type):
        annotation, entry = _list_entry(hints[info.name])
        if entry is Change:
            change_lists.append(info.name)
        fallback = rules.fallback.get(info.name)
        if fallback is None and info.default_factory is not NODEFAULT:
            fallback = info.default_factory
        elif fallback is None and info.default is not NODEFAULT:
            fallback = _constant(info.default)
        fields.append(
            _Field(
                info.name,
                info.encode_name,
                msgspec.json.Decoder(annotation),
                info.name in rules.needed,
                info.name in rules.checked,
                fallback,
                rules.valid.get(info.name),
                entry,
                rules.unusable.get(info.name),
                entry is not None and info.name in rules.as_list,
            )
        )
    # Needed fields first: most unusable entries are dropped at their first field.
    fields.sort(key=lambda field: (not field.needed, not field.checked))
    plan = _Plan(msgspec.json.Decoder(message_type), tuple(fields), tuple(change_lists))
    _plans[message_type] = plan
    return plan


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


class _Drops:
    __slots__ = ("counts", "sample")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.sample = ""

    def add(self, reason: str, entry: msgspec.Raw | msgspec.Struct) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if not self.sample:
            raw = entry if isinstance(entry, msgspec.Raw) else msgspec.json.encode(entry)
            head = memoryview(raw)[:_SAMPLE_BYTES].tobytes().decode("utf-8", "replace")
            self.sample = head + ("..." if len(raw) > _SAMPLE_BYTES else "")


def receive(data: bytes | bytearray | memoryview | str, message_type: type[T]) -> Received[T]:
    """Decode a peer's message of ``message_type`` by the receiving rules (§1.1).

    Raises :class:`MessageError` when the body is no JSON object or a list is over
    its bound, :class:`FieldError` when a field the receiver needs is unusable.
    """
    plan = _plans.get(message_type) or _plan(message_type)
    try:
        message: T = plan.decoder.decode(data)
    except msgspec.DecodeError as error:
        return _lenient(data, message_type, plan, error)
    for name in plan.change_lists:
        for change in getattr(message, name):
            if change.status not in STATUSES:
                return _checked(message, plan)
    return Received(message, _NO_DROPS)


def _checked(message: T, plan: _Plan) -> Received[T]:
    """Drop the changes that decoded but carry an unknown status."""
    drops = _Drops()
    entry_plan = _plan(Change)
    for name in plan.change_lists:
        kept = []
        for entry in getattr(message, name):
            reason = _invalid(entry, entry_plan)
            if reason is None:
                kept.append(entry)
            else:
                drops.add(reason, entry)
        setattr(message, name, kept)
    return Received(message, drops.counts, drops.sample)


def _invalid(entry: Any, plan: _Plan) -> str | None:
    for field in plan.fields:
        if field.valid is not None and not field.valid(getattr(entry, field.name)):
            return field.json_name
    return None


def _lenient(
    data: bytes | bytearray | memoryview | str,
    message_type: type[T],
    plan: _Plan,
    error: msgspec.DecodeError,
) -> Received[T]:
    try:
        raw = _object.decode(data)
    except msgspec.DecodeError:
        raise MessageError(f"bad {message_type.__name__} body: {error}") from None
    drops = _Drops()
    values = _values(plan, raw, drops)
    if isinstance(values, tuple):
        raise FieldError(message_type, values[0], str(values[1]))
    message: T = message_type(**values)
    return Received(message, drops.counts, drops.sample)


def _values(
    plan: _Plan, raw: dict[str, msgspec.Raw], drops: _Drops
) -> dict[str, Any] | tuple[str, object]:
    """The struct's fields from their raw JSON, or ``(field, why)`` for an unusable one.

    Returns rather than raises: a list of 100 000 bad entries must stay cheap.
    """
    values: dict[str, Any] = {}
    for field in plan.fields:
        value = raw.get(field.json_name)
        if value is None or value == _NULL:
            if field.needed:
                return field.json_name, "missing or null"
            if field.fallback is not None:
                values[field.name] = field.fallback()
            continue
        try:
            decoded = field.decoder.decode(value)
        except msgspec.DecodeError as error:
            if field.as_list and memoryview(value)[0] != _BRACKET:
                values[field.name] = _not_a_list(field, value, drops)
                continue
            if field.unusable is not None:
                values[field.name] = field.unusable(value)
                continue
            if field.needed or field.checked:
                return field.json_name, error
            if field.fallback is not None:
                values[field.name] = field.fallback()
            continue
        if field.valid is not None and not field.valid(decoded):
            if field.unusable is not None:
                values[field.name] = field.unusable(value)
                continue
            if field.needed or field.checked:
                return field.json_name, "unusable value"
            if field.fallback is not None:
                values[field.name] = field.fallback()
            continue
        if field.entry is not None:
            decoded = _entries(field.entry, decoded, drops)
        values[field.name] = decoded
    return values


def _not_a_list(field: _Field, value: msgspec.Raw, drops: _Drops) -> list[Any]:
    """The usable entries of a list of changes that arrived as something else.

    A JSON object is taken as a one-entry list, as ringpop-node does
    (``Array.isArray(changes) ? changes : [changes]``): a peer that sends one change
    bare means that change, node peers apply it, and taking it keeps our membership
    in step with theirs. The entry still passes every per-entry rule (§1.1 rule 2)
    and §6, exactly like an entry of a list. Anything else (``true``, a number, a
    string) holds no usable entry: it is dropped and counted under the field's name.
    """
    assert field.entry is not None
    if memoryview(value)[0] == _BRACE:
        return _entries(field.entry, [value], drops)
    drops.add(field.json_name, value)
    return []


def _entries(entry_type: type[Any], items: list[msgspec.Raw], drops: _Drops) -> list[Any]:
    """The usable entries of a list, in order; the others are counted in ``drops``."""
    if entry_type is str:
        return _strings(items, drops)
    plan = _plans.get(entry_type) or _plan(entry_type)
    decoder = plan.decoder
    kept = []
    for item in items:
        if memoryview(item)[0] != _BRACE:  # not an object: no need to try decoding it
            drops.add("entry", item)
            continue
        try:
            entry = decoder.decode(item)
        except msgspec.DecodeError:
            pass
        else:
            reason = _invalid(entry, plan)
            if reason is None:
                kept.append(entry)
            else:
                drops.add(reason, item)
            continue
        try:
            fields = _object.decode(item)
        except msgspec.DecodeError:
            drops.add("entry", item)
            continue
        values = _values(plan, fields, drops)
        if isinstance(values, tuple):
            drops.add(values[0], item)
        else:
            kept.append(entry_type(**values))
    return kept


_string: Final = msgspec.json.Decoder(str)


def _strings(items: list[msgspec.Raw], drops: _Drops) -> list[str]:
    kept = []
    for item in items:
        if memoryview(item)[0] != _QUOTE:
            drops.add("entry", item)
            continue
        try:
            kept.append(_string.decode(item))
        except msgspec.DecodeError:  # pragma: no cover - a raw JSON string always decodes
            drops.add("entry", item)
    return kept
