"""``/admin/lookup`` with a key that is not a string: ours answers what ringpop-node does.

ringpop-node's handler looks up any truthy ``key`` as ``key + ''`` (JavaScript's
``String``) and refuses a falsy one (``ringpop.argument-required``). Here node's own
handler (``server/admin/lookup.js``, with ``RingPop.prototype.lookup`` over its own
``HashRing``, cross-platform: Fingerprint32) and ours (the handler of
:func:`ringpop.admin.admin_handlers` on a SwimNode) see the same ring of servers and
the same bodies; both must answer the same ``dest`` or both refuse.
"""

from __future__ import annotations

import json
import random
import subprocess
from typing import Any

import pytest

from ringpop.admin import admin_handlers
from ringpop.clock import LoopClock
from ringpop.membership.heal import Healer
from ringpop.membership.network import RemoteError
from ringpop.membership.node import SwimNode
from ringpop.messages import Change
from ringpop.options import Options
from ringpop.testing.memnet import MemoryNetwork
from tests.nodeenv import node_binary, node_modules_dir

pytestmark = pytest.mark.interop

INC = 1_700_000_000_000
SERVERS = [f"127.0.0.1:{3000 + i}" for i in range(5)]
KEYS: list[Any] = [
    "differential-key",
    123,
    -1,
    1.0,
    1.5e12,
    0.000001,
    1e-7,
    1e21,
    2**63,
    2**64,
    123456789012345678901234,
    True,
    False,
    0,
    "",
    None,
    {"x": 1},
    [],
    [1, None, [2, "a"], {"b": 2}],
]

_NODE_SCRIPT = r"""
const RingPop = require('ringpop');
const HashRing = require('ringpop/lib/ring');
const createLookup = require('ringpop/server/admin/lookup.js');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
// isCrossPlatform: Fingerprint32, the only hash a Python node can share (spec §13.1).
const ring = new HashRing({ hashFunc: require('farmhash').fingerprint32 });
input.servers.forEach((s) => ring.addServer(s));
const fake = {
  ring, stat() {}, emit() {}, logger: { debug() {} }, whoami() { return 'self'; },
  lookup: RingPop.prototype.lookup,
};
const handle = createLookup(fake);
const out = input.bodies.map((raw) => {
  let answer = null;
  handle(null, JSON.parse(raw), null, (err, res1, res2) => {
    answer = err ? { error: err.type } : res2;
  });
  return answer;
});
process.stdout.write(JSON.stringify(out));
"""


def _node_answers(bodies: list[str]) -> list[dict[str, Any]]:
    modules = node_modules_dir()
    done = subprocess.run(
        [node_binary(), "-e", _NODE_SCRIPT],
        input=json.dumps({"servers": SERVERS, "bodies": bodies}),
        capture_output=True,
        text=True,
        timeout=60,
        env={"NODE_PATH": str(modules), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    return answers


async def _our_answers(bodies: list[str]) -> list[dict[str, Any]]:
    network = MemoryNetwork()
    node = SwimNode(
        SERVERS[0],
        network.membership(SERVERS[0]),
        options=Options(auto_gossip=False),
        clock=LoopClock(start_ms=INC * 1000),
        rng=random.Random(1),
    )
    node.apply_changes(
        [Change(address=s, status="alive", incarnation_number=INC) for s in SERVERS],
        disseminate=False,
    )
    assert sorted(node.ring.servers()) == sorted(SERVERS)
    lookup = admin_handlers(node, Healer(node, None))["/admin/lookup"]
    answers: list[dict[str, Any]] = []
    for body in bodies:
        try:
            answers.append(json.loads(await lookup(body.encode())))
        except RemoteError as error:
            answers.append({"error": error.type})
    await node.stop()
    return answers


async def test_non_string_keys_are_looked_up_as_node_does() -> None:
    bodies = [json.dumps({"key": key}) for key in KEYS] + ["{}"]
    theirs = _node_answers(bodies)
    ours = await _our_answers(bodies)
    for body, node_answer, our_answer in zip(bodies, theirs, ours, strict=True):
        assert our_answer == node_answer, body
    refused = [b for b, a in zip(bodies, ours, strict=True) if "error" in a]
    assert refused == [json.dumps({"key": k}) for k in (False, 0, "", None)] + ["{}"]
    assert {a["error"] for a in ours if "error" in a} == {"ringpop.argument-required"}
