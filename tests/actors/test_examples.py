"""The actor examples' one-line demos run and say what the docs show."""

from __future__ import annotations

import asyncio
import random
import re
import socket
import sys

import pytest

from tests.forward.procs import REPO, python_env

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


def _free_base() -> int:
    """A port p with p, p+1, p+2 and the same + 1000 free on 127.0.0.1."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(21000, 30000)
        ports = [base + i for i in range(3)] + [base + 1000 + i for i in range(3)]
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports")


async def _demo(module: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        f"--base-port={_free_base()}",
        cwd=REPO,
        env=python_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=100)
    text = output.decode()
    assert process.returncode == 0, text
    return text


async def test_chat_demo() -> None:
    text = await _demo("examples.chat.cluster")
    reads = re.findall(r"GET .*/rooms/lobby -> (\[.*\]) \(room (?:now )?on (\S+)\)", text)
    assert len(reads) == 4, text
    assert {said for said, _ in reads} == {"['ann: hello', 'bob: hi ann', 'cy: hey all']"}, text
    assert reads[-1][1] != reads[0][1], text  # the room moved to another node, messages kept
    assert "spammer's 6th post in 10 s -> 429" in text, text


async def test_leader_job_demo() -> None:
    text = await _demo("examples.leader_job.cluster")
    killed = re.search(r"kill -9 the leader (\S+) \(count (\d+)\)", text)
    new = re.search(
        r"new leader (\S+) after ([\d.]+) s, token (\S+) \(was (\S+)\), "
        r"count continues at (\d+)",
        text,
    )
    assert killed, text
    assert new, text
    assert new.group(1) != killed.group(1), text
    assert int(new.group(5)) > int(killed.group(2)), text  # resumed from the checkpoint
    new_wall, _, _ = new.group(3).partition("@")
    old_wall, _, _ = new.group(4).partition("@")
    assert tuple(map(int, new_wall.split("."))) > tuple(map(int, old_wall.split("."))), text
    assert float(new.group(2)) < 5, text
