"""Cases where ours is still stricter than ringpop-node (strict xfail in the suite).

Each entry: case id -> what ours does and what ringpop-node does. For these cases the
suite asserts that ours *accepts* the message (independent of ringpop-node, which
crashes on some of them only now and then), so they fail until the receiving side is
changed; remove an entry then (the strict xfail turns an unexpected pass into a
failure, as a reminder). Recorded after merging ``wire-decode`` @d5d061a.
"""

from __future__ import annotations

from typing import Final

__all__ = ["KNOWN_STRICTER"]

LOOKUP_KEY: Final = "node looks up a non-string key; ours answers ringpop.argument-required"
JOIN_RESPONSE_APP: Final = (
    "node's healer ignores the join response's app and merges; "
    "ours refuses the response (healed=[])"
)
NOT_A_LIST: Final = (
    "changes/membership is not a list: node wraps it ([changes]) and goes on; "
    "ours refuses, as spec §1.1 rule 3 allows"
)
NEEDED_FIELD: Final = (
    "source/target is not a string: node only checks truthiness; "
    "ours refuses (ringpop.bad-request), as spec §1.1 rule 3 allows"
)

_GROUPS: Final[dict[str, list[str]]] = {
    LOOKUP_KEY: [
        "admin-lookup/key/2^63",
        "admin-lookup/key/2^64",
        "admin-lookup/key/bool",
        "admin-lookup/key/float-1.0",
        "admin-lookup/key/float-1.5e12",
        "admin-lookup/key/int",
        "admin-lookup/key/list",
        "admin-lookup/key/negative",
        "admin-lookup/key/object",
    ],
    JOIN_RESPONSE_APP: [
        "join-response/app/2^63",
        "join-response/app/2^64",
        "join-response/app/bool",
        "join-response/app/float-1.0",
        "join-response/app/float-1.5e12",
        "join-response/app/int",
        "join-response/app/list",
        "join-response/app/missing",
        "join-response/app/negative",
        "join-response/app/null",
        "join-response/app/object",
    ],
    NOT_A_LIST: [
        "ping-req-request/changes/bool",
        "ping-req-request/changes/object",
        "join-response/membership/bool",
        "join-response/membership/object",
        "ping-request/changes/bool",
        "ping-request/changes/object",
        "ping-response/changes/bool",
        "ping-response/changes/object",
    ],
    NEEDED_FIELD: [
        "ping-req-request/source/2^63",
        "ping-req-request/source/2^64",
        "ping-req-request/source/bool",
        "ping-req-request/source/float-1.0",
        "ping-req-request/source/float-1.5e12",
        "ping-req-request/source/int",
        "ping-req-request/source/list",
        "ping-req-request/source/negative",
        "ping-req-request/source/object",
        "ping-req-request/target/2^63",
        "ping-req-request/target/2^64",
        "ping-req-request/target/bool",
        "ping-req-request/target/float-1.0",
        "ping-req-request/target/float-1.5e12",
        "ping-req-request/target/int",
        "ping-req-request/target/list",
        "ping-req-request/target/negative",
        "ping-req-request/target/object",
        "ping-request/source/2^63",
        "ping-request/source/2^64",
        "ping-request/source/bool",
        "ping-request/source/float-1.0",
        "ping-request/source/float-1.5e12",
        "ping-request/source/int",
        "ping-request/source/list",
        "ping-request/source/negative",
        "ping-request/source/object",
    ],
}

KNOWN_STRICTER: Final[dict[str, str]] = {
    case: reason for reason, cases in _GROUPS.items() for case in cases
}
