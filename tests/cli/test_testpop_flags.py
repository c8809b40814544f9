"""testpop's flags beyond the harness's: failure-detection tuning, Lifeguard, stalls."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from ringpop.cli.argtypes import configure_logging
from ringpop.cli.stall import LoopStall
from ringpop.cli.testpop import node_options, parse_args
from ringpop.options import Options

HARNESS = [
    "--hosts=/tmp/hosts.json",
    "--listen=127.0.0.1:3000",
    "--suspect-period=5000",
    "--faulty-period=5000",
    "--tombstone-period=5000",
]


def test_harness_command_line_keeps_the_defaults() -> None:
    args = parse_args(HARNESS)
    options = node_options(args)
    defaults = Options()
    assert options.ping_timeout == defaults.ping_timeout
    assert options.ping_req_timeout == defaults.ping_req_timeout
    assert options.lifeguard_enabled is False
    assert options.lifeguard_suspicion_mult == defaults.lifeguard_suspicion_mult
    assert options.background_probes == 0
    assert args.stall_ms is None


def test_background_probes_flag() -> None:
    assert node_options(parse_args([*HARNESS, "--background-probes=3"])).background_probes == 3
    for bad in ("-1", "65", "two"):
        with pytest.raises(SystemExit):
            parse_args([*HARNESS, f"--background-probes={bad}"])


def test_tuning_and_lifeguard_flags() -> None:
    args = parse_args(
        [
            *HARNESS,
            "--ping-timeout=100",
            "--ping-req-timeout=250",
            "--lifeguard",
            "--lifeguard-suspicion-mult=2.5",
            "--stall-ms=300",
            "--stall-every-ms=1000",
        ]
    )
    options = node_options(args)
    assert options.ping_timeout == pytest.approx(0.1)
    assert options.ping_req_timeout == pytest.approx(0.25)
    assert options.lifeguard_enabled is True
    assert options.lifeguard_suspicion_mult == 2.5
    assert (args.stall_ms, args.stall_every_ms) == (pytest.approx(0.3), pytest.approx(1.0))


@pytest.mark.parametrize(
    "flags",
    [
        ["--stall-ms=1000", "--stall-every-ms=1000"],
        ["--stall-ms=0"],
        ["--ping-timeout=-5"],
        ["--lifeguard-suspicion-mult=0"],
        ["--lifeguard-suspicion-mult=nan"],
        ["--identity=\udcff"],  # bytes that are not UTF-8: a traceback at start
        ["--suspect-period=abc"],  # "invalid _milliseconds value"
    ],
)
def test_bad_values_are_usage_errors(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args([*HARNESS, *flags])
    assert exit_.value.code == 2
    assert "error" in capsys.readouterr().err


async def test_loop_stall_really_blocks_the_event_loop() -> None:
    """While a stall lasts nothing else runs: a 10 ms sleeper wakes up late."""
    stall = LoopStall(0.15, 0.3)
    loop = asyncio.get_running_loop()
    worst = 0.0
    started = time.monotonic()
    stall.start()
    try:
        for _ in range(60):  # ~0.6 s+: at least one stall
            before = loop.time()
            await asyncio.sleep(0.01)
            worst = max(worst, loop.time() - before - 0.01)
            if stall.count >= 2:
                break
    finally:
        stall.stop()
    assert stall.count >= 1
    assert worst >= 0.14, f"the loop was never blocked ~150 ms (worst lateness {worst:.3f} s)"
    # On schedule: the first stall starts 150 ms in, the second 300 ms later.
    assert time.monotonic() - started < 2.0


def test_stall_shorter_than_its_interval() -> None:
    with pytest.raises(ValueError, match="shorter than its interval"):
        LoopStall(1.0, 1.0)


def test_log_level_takes_levels_of_single_loggers() -> None:
    spec = "WARNING,ringpop.membership.verdicts=INFO"
    assert parse_args([*HARNESS, f"--log-level={spec}"]).log_level == spec
    assert parse_args(HARNESS).log_level == "INFO"
    for bad in ("LOUD", "INFO,DEBUG", "WARNING,ringpop=NOISY"):
        with pytest.raises(SystemExit):
            parse_args([*HARNESS, f"--log-level={bad}"])
    named = logging.getLogger("ringpop.membership.verdicts")
    before = named.level
    try:
        configure_logging(spec)
        assert named.level == logging.INFO
    finally:
        named.setLevel(before)


@pytest.mark.parametrize(
    ("listen", "why"),
    [
        ("127.0.0.1:abc", "expected a port number"),
        ("localhost:3000", "expected an IPv4 address"),
        ("127.0.0.1:70000", "port out of range"),
        ("127.0.0.1", "ipv4:port"),
    ],
)
def test_a_listen_address_tchannel_cannot_take_is_a_usage_error(
    listen: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once a traceback from deep in the channel; now argparse's one-line error."""
    with pytest.raises(SystemExit) as exited:
        parse_args(["--listen", listen, "--hosts", "hosts.json"])
    assert exited.value.code == 2
    assert why in capsys.readouterr().err


def test_an_ephemeral_listen_address_is_taken() -> None:
    assert parse_args(["--listen", "127.0.0.1:0", "--hosts", "hosts.json"]).listen == "127.0.0.1:0"


async def test_a_statsd_host_that_does_not_resolve_or_a_taken_port_exit_with_a_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each ended in a traceback; a name was resolved again at every stat sent."""
    from ringpop.cli.testpop import run

    assert await run(parse_args([*HARNESS, "--statsd=nonexistent.invalid:8125"])) == 2
    assert "statsd host 'nonexistent.invalid' does not resolve" in capsys.readouterr().err
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        assert await run(parse_args([*HARNESS, f"--prometheus-port={port}"])) == 2
    finally:
        taken.close()
    assert f"Prometheus exporter on 127.0.0.1:{port}" in capsys.readouterr().err


async def test_periods_ringpop_refuses_exit_with_a_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A period the options refuse (10**23 ms) ended in a traceback."""
    from ringpop.cli.testpop import run

    args = parse_args([*HARNESS, "--suspect-period=100000000000000000000000"])
    assert await run(args) == 2
    err = capsys.readouterr().err
    assert "ringpop testpop: suspect_period=" in err
    assert "Traceback" not in err


def test_long_periods_in_milliseconds_are_seconds_to_the_options() -> None:
    options = node_options(parse_args([*HARNESS, "--suspect-period=2000000"]))
    assert options.suspect_period == 2000
