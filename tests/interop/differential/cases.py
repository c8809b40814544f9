"""The fixed set of differential cases: every field of every message, mutated.

A :class:`Case` is a message template (or a raw body) for one *kind*:

==================  =========================================================
kind                how the target gets the message
==================  =========================================================
``join-request``    a fake calls the target's ``/protocol/join``
``ping-request``    a fake calls the target's ``/protocol/ping``
``ping-req-request`` a fake calls the target's ``/protocol/ping-req``
``damp-req-request`` a fake calls the target's ``/protocol/damp-req``
``admin-lookup``    a fake calls the target's ``/admin/lookup``
``proxy-head``      a fake calls ``/proxy/req`` (the template is arg2, the head)
``ping-response``   the target pings a scripted fake (asked to by a ping-req)
                    which answers with the template
``join-response``   the target joins a scripted fake (a heal pass through
                    ``/admin/healpartition/disco``) which answers with it
==================  =========================================================

Placeholders (:mod:`.template`): ``<target>``/``<target-inc>`` (the target's own
address and incarnation, ``<target-inc+1>``/``<target-inc-1>``), ``<fake0>`` ...
``<fake3>`` (fresh unused addresses, new for every case), ``<responder>`` (the
scripted fake of response cases, fresh for join responses), ``<pong>`` (a fake that
answers pings normally), ``<anchor>`` (the fake the target bootstrapped with) and
``<ring-checksum>`` (the target's ring checksum, for ``/proxy/req``).

:func:`generate` enumerates the cases in a fixed order: no randomness, so the set,
its ids and the corpus are stable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from tests.interop.differential.mutations import (
    ABOVE_ARG_LIMIT,
    PathPart,
    body_mutations,
    entry_mutations,
    field_mutations,
    format_path,
    list_mutations,
    mutate,
)

__all__ = [
    "BASE_INC",
    "ENDPOINTS",
    "KINDS",
    "Case",
    "Kind",
    "base_message",
    "generate",
]

Kind = Literal[
    "join-request",
    "ping-request",
    "ping-req-request",
    "damp-req-request",
    "admin-lookup",
    "proxy-head",
    "ping-response",
    "join-response",
]
KINDS: Final[tuple[Kind, ...]] = (
    "join-request",
    "ping-request",
    "ping-req-request",
    "damp-req-request",
    "admin-lookup",
    "proxy-head",
    "ping-response",
    "join-response",
)
ENDPOINTS: Final[dict[Kind, str]] = {
    "join-request": "/protocol/join",
    "ping-request": "/protocol/ping",
    "ping-req-request": "/protocol/ping-req",
    "damp-req-request": "/protocol/damp-req",
    "admin-lookup": "/admin/lookup",
    "proxy-head": "/proxy/req",
    "ping-response": "/protocol/ping",
    "join-response": "/protocol/join",
}

BASE_INC: Final = 1_700_000_000_000
"""Incarnation numbers of the fake members (a fixed past time in ms)."""


@dataclass(frozen=True, slots=True)
class Case:
    """One mutated message.

    ``message`` is the JSON template, or ``None`` when ``raw`` (a body that is not a
    JSON object, sent as is) is given.
    """

    id: str
    kind: Kind
    message: Any
    raw: str | None = None
    description: str = ""

    def as_json(self) -> dict[str, Any]:
        """The case as stored in a corpus file."""
        return {
            "id": self.id,
            "kind": self.kind,
            "message": self.message,
            "raw": self.raw,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        kind = data["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown case kind {kind!r}")
        return cls(data["id"], kind, data.get("message"), data.get("raw"), data["description"])


def _change(address: str, inc: int | str, status: str = "alive") -> dict[str, Any]:
    """A change as ringpop-node gossips it (with ``id``, source and its incarnation)."""
    return {
        "id": "c0ffee00-0000-4000-8000-000000000000",
        "source": "<fake0>",
        "sourceIncarnationNumber": BASE_INC,
        "address": address,
        "status": status,
        "incarnationNumber": inc,
    }


def _member(address: str, inc: int | str, status: str = "alive") -> dict[str, Any]:
    """A join-response membership entry (no ``id``, source = the responder)."""
    return {
        "source": "<responder>",
        "sourceIncarnationNumber": BASE_INC,
        "address": address,
        "status": status,
        "incarnationNumber": inc,
    }


def base_message(kind: Kind) -> Any:
    """The valid message of ``kind`` every mutation starts from."""
    changes = [_change("<fake1>", BASE_INC + 1), _change("<fake2>", BASE_INC + 2)]
    if kind == "join-request":
        return {"app": "ringpop", "source": "<fake0>", "incarnationNumber": BASE_INC}
    if kind == "ping-request":
        return {
            "checksum": 1,
            "changes": changes,
            "source": "<fake0>",
            "sourceIncarnationNumber": BASE_INC,
            "app": "ringpop",
        }
    if kind == "ping-req-request":
        return {
            "source": "<fake0>",
            "sourceIncarnationNumber": BASE_INC,
            "target": "<pong>",
            "checksum": 1,
            "changes": changes,
        }
    if kind == "damp-req-request":
        return {
            "sourceAddr": "<fake0>",
            "sourceIncarnationNumber": BASE_INC,
            "sourceChecksum": 1,
            "flappers": ["<anchor>", "<fake1>"],
        }
    if kind == "admin-lookup":
        return {"key": "differential-key"}
    if kind == "proxy-head":
        return {
            "url": "/differential",
            "headers": {"x-differential": "1"},
            "method": "GET",
            "httpVersion": "1.1",
            "ringpopChecksum": "<ring-checksum>",
            "ringpopKeys": ["differential-key"],
        }
    if kind == "ping-response":
        return {
            "changes": [{**c, "source": "<responder>"} for c in changes],
            "checksum": 1,
            "source": "<responder>",
            "sourceIncarnationNumber": BASE_INC,
        }
    return {
        "app": "ringpop",
        "coordinator": "<responder>",
        "membership": [
            _member("<responder>", BASE_INC),
            _member("<fake1>", BASE_INC + 1),
            _member("<fake2>", BASE_INC + 2),
            _member("<target>", "<target-inc>"),
        ],
        "membershipChecksum": 1,
    }


_STATUS_EXTRAS: Final = [
    ("unknown-status", "dead"),
    ("uppercase-status", "ALIVE"),
    ("suspect", "suspect"),
    ("faulty", "faulty"),
    ("leave", "leave"),
    ("tombstone-literal", "tombstone"),
]
_ADDRESS_EXTRAS: Final = [("no-port", "127.0.0.1"), ("bad-port", "127.0.0.1:port")]
_OPTIONAL_FIELDS: Final[dict[str, list[tuple[str, Any]]]] = {
    "tombstone": [("true", True), ("false", False), ("string-true", "true"), ("one", 1)],
    "labels": [
        ("string-labels", {"k": "v"}),
        ("int-value", {"k": 1}),
        ("long-key", {"k" * 40: "v"}),
        ("six-labels", {f"k{i}": "v" for i in range(6)}),
    ],
    "timestamp": [("go-zero-time", -62135596800), ("seconds", 1_700_000_000)],
}
_MESSAGE_EXTRAS: Final[dict[Kind, dict[str, list[tuple[str, Any]]]]] = {
    "join-request": {
        "timeout": [("nanoseconds", 1_000_000_000)],
        "labels": [("string-labels", {"k": "v"})],
    },
    "ping-response": {
        "app": [("empty", ""), ("ringpop", "ringpop")],
        "target": [("pong", "<pong>")],
    },
}
# Fields of the entries and the messages that take a 17 MiB string (above the limits).
_ABOVE_LIMIT_PATHS: Final[dict[Kind, tuple[PathPart, ...]]] = {
    "join-request": ("source",),
    "ping-request": ("source",),
    "admin-lookup": ("key",),
    "ping-response": ("changes", 0, "address"),
}
# The list of entries and which entry per-entry mutations change.
_LISTS: Final[dict[Kind, tuple[str, int]]] = {
    "ping-request": ("changes", 0),
    "ping-req-request": ("changes", 0),
    "ping-response": ("changes", 0),
    "join-response": ("membership", 1),
}


def _extras_for(key: str) -> list[tuple[str, Any]]:
    if key == "status":
        return list(_STATUS_EXTRAS)
    if key in {"address", "source", "target", "sourceAddr", "coordinator"}:
        return list(_ADDRESS_EXTRAS)
    return []


def _field_cases(kind: Kind, base: Any) -> Iterator[Case]:
    """Every field of the message itself."""
    for key, value in base.items():
        for name, mutated in field_mutations(value, _extras_for(key)):
            path: tuple[PathPart, ...] = (key,)
            yield _case(kind, base, path, name, mutated)
    for key, extras in _MESSAGE_EXTRAS.get(kind, {}).items():
        for name, value in extras:
            yield _case(kind, base, (key,), f"added-{name}", value)
    yield _case(kind, base, ("extraField",), "added-extra-field", {"nested": [1, None]})
    above = _ABOVE_LIMIT_PATHS.get(kind)
    if above is not None:
        yield _case(kind, base, above, "above-arg-limit", {"$huge": ABOVE_ARG_LIMIT})


def _entry_cases(kind: Kind, base: Any) -> Iterator[Case]:
    """Every field of one entry of ``changes`` / ``membership``, the entry, the list."""
    list_key, index = _LISTS[kind]
    entry = base[list_key][index]
    for key, value in entry.items():
        for name, mutated in field_mutations(value, _extras_for(key)):
            yield _case(kind, base, (list_key, index, key), name, mutated)
    for key, extras in _OPTIONAL_FIELDS.items():
        for name, value in extras:
            yield _case(kind, base, (list_key, index, key), f"added-{name}", value)
    yield _case(kind, base, (list_key, index, "status"), "faulty-tombstone", "faulty")
    for name, value in entry_mutations(entry):
        yield _case(kind, base, (list_key, index), name, value)
    for name, value in list_mutations(entry):
        yield _case(kind, base, (list_key,), name, value)
    yield from _self_cases(kind, base, list_key, index)


def _self_cases(kind: Kind, base: Any, list_key: str, index: int) -> Iterator[Case]:
    """Entries about the target itself: refuted, ignored, or dropped."""
    rumours: list[tuple[str, dict[str, Any]]] = [
        ("self-suspect", {"status": "suspect", "incarnationNumber": "<target-inc>"}),
        ("self-faulty", {"status": "faulty", "incarnationNumber": "<target-inc>"}),
        (
            "self-tombstone",
            {"status": "faulty", "tombstone": True, "incarnationNumber": "<target-inc>"},
        ),
        ("self-leave", {"status": "leave", "incarnationNumber": "<target-inc>"}),
        ("self-alive-newer", {"status": "alive", "incarnationNumber": "<target-inc+1>"}),
        ("self-suspect-older", {"status": "suspect", "incarnationNumber": "<target-inc-1>"}),
        ("self-missing-incarnation", {"status": "suspect", "incarnationNumber": None}),
        ("self-suspect-float", {"status": "suspect", "incarnationNumber": 1.5e12}),
        ("self-suspect-2^64", {"status": "suspect", "incarnationNumber": 2**64}),
    ]
    entry = base[list_key][index]
    for name, fields in rumours:
        changed = {**entry, "address": "<target>", **fields}
        if fields["incarnationNumber"] is None:
            del changed["incarnationNumber"]
        yield _case(kind, base, (list_key, index), name, changed)


def _case(kind: Kind, base: Any, path: tuple[PathPart, ...], name: str, value: Any) -> Case:
    where = format_path(path)
    if name == "faulty-tombstone":
        message = mutate(mutate(base, path, value), (*path[:-1], "tombstone"), True)
    else:
        message = mutate(base, path, value)
    return Case(f"{kind}/{where}/{name}", kind, message, None, f"{where}: {name}")


def generate() -> list[Case]:
    """All cases, in a fixed order."""
    cases: list[Case] = []
    for kind in KINDS:
        base = base_message(kind)
        cases.append(Case(f"{kind}/$/valid", kind, base, None, "the unmutated message"))
        for name, raw in body_mutations():
            cases.append(Case(f"{kind}/$/{name}", kind, None, raw, f"body: {name}"))
        cases.extend(_field_cases(kind, base))
        if kind in _LISTS:
            cases.extend(_entry_cases(kind, base))
        if kind == "damp-req-request":
            for name, value in field_mutations("<fake1>"):
                cases.append(_case(kind, base, ("flappers", 1), name, value))
        if kind == "proxy-head":
            for name, value in field_mutations("differential-key"):
                cases.append(_case(kind, base, ("ringpopKeys", 0), name, value))
    ids = [case.id for case in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, sorted(duplicates)
    return cases
