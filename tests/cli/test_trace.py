"""``ringpop admin trace`` against testpop processes: output, --json, --cluster, errors."""

from __future__ import annotations

import json

import pytest

from ringpop.admin.client import trace_body
from ringpop.cli import admin

pytestmark = pytest.mark.cluster


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = admin.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_trace_body_is_nodes_format() -> None:
    assert trace_body("membership.checksum.update", sink="127.0.0.1:4000", expires_in=1.5) == {
        "event": "membership.checksum.update",
        "sink": {
            "type": "tchannel",
            "hostPort": "127.0.0.1:4000",
            "serviceName": "ringpop",
            "endpoint": "/trace/membership.checksum.update",
        },
        "expiresIn": 1500,
    }
    assert trace_body("ring.changed", level="debug") == {
        "event": "ring.changed",
        "sink": {"type": "log", "level": "debug", "message": "/trace/ring.changed"},
    }


def test_add_and_remove_on_a_cluster(
    testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    seed = testpop_cluster[0]
    code, out, err = run(capsys, "trace", "add", seed, "--cluster", "--level", "debug")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0] == (
        f"{testpop_cluster[0]}: tracing membership.checksum.update to the log "
        "(debug, message '/trace/membership.checksum.update') for 60 s"
    )
    code, out, err = run(capsys, "trace", "remove", seed, "--json")
    assert code == 0, err
    answer = json.loads(out)[seed]
    assert answer["status"] == "removed"
    assert answer["request"]["sink"]["type"] == "log"
    code, out, err = run(capsys, "trace", "remove", seed)
    assert code == 0, err
    assert (
        out == f"{seed}: no tracer of membership.checksum.update to the log "
        "(info, message '/trace/membership.checksum.update')\n"
    )
    code, out, err = run(capsys, "trace", "remove", *testpop_cluster[1:], "--level", "debug")
    assert code == 0, err
    assert out.count("removed the tracer") == 2


def test_errors_are_one_line(
    testpop_cluster: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    seed = testpop_cluster[0]
    code, out, err = run(capsys, "trace", "add", seed, "--sink", "127.0.0.1:1")
    assert code == 1
    assert out == ""
    assert err.startswith(f"ringpop admin trace add: {seed}: node answered an error: ")
    assert "`tchannel.hostPort` option is invalid because it is unreachable" in err
    assert err.count("\n") == 1
    code, out, err = run(capsys, "trace", "add", seed, "--event", "nope")
    assert code == 2
    assert "invalid choice" in err
