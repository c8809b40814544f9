"""HostsFile: re-read at every call, clear errors for every way a file can be wrong."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from ringpop.discovery import DiscoveryError, HostsFile

HOSTS = ["127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002"]


def write(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value))
    return path


async def test_reads_the_array(tmp_path: Path) -> None:
    p = HostsFile(write(tmp_path / "hosts.json", HOSTS))
    assert await p.hosts() == HOSTS


async def test_re_reads_the_file_on_every_call(tmp_path: Path) -> None:
    path = write(tmp_path / "hosts.json", HOSTS)
    p = HostsFile(str(path))
    assert await p.hosts() == HOSTS
    write(path, ["127.0.0.1:4000"])
    assert await p.hosts() == ["127.0.0.1:4000"]
    path.unlink()
    with pytest.raises(DiscoveryError):
        await p.hosts()
    write(path, HOSTS[:1])
    assert await p.hosts() == HOSTS[:1]


async def test_deduplicates_keeping_order(tmp_path: Path) -> None:
    p = HostsFile(write(tmp_path / "h.json", [HOSTS[1], HOSTS[0], HOSTS[1]]))
    assert await p.hosts() == [HOSTS[1], HOSTS[0]]


async def test_empty_array_is_an_empty_list(tmp_path: Path) -> None:
    assert await HostsFile(write(tmp_path / "h.json", [])).hosts() == []


async def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(DiscoveryError, match="does not exist") as info:
        await HostsFile(path).hosts()
    assert info.value.source == f"hosts file {str(path)!r}"
    assert str(path) in str(info.value)


async def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="is a directory"):
        await HostsFile(tmp_path).hosts()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
async def test_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "h.json", HOSTS)
    path.chmod(0)
    with pytest.raises(DiscoveryError, match="cannot be read"):
        await HostsFile(path).hosts()


async def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text('[\n  "127.0.0.1:3000",\n  127.0.0.1:3001\n]')
    with pytest.raises(DiscoveryError, match=r"not valid JSON \(line 3 column"):
        await HostsFile(path, retry_delay=0.001).hosts()


async def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text("  \n")
    with pytest.raises(DiscoveryError, match="file is empty"):
        await HostsFile(path, retry_delay=0.001).hosts()


async def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_bytes(b'["127.0.0.1:3000\xff"]')
    with pytest.raises(DiscoveryError, match="not UTF-8"):
        await HostsFile(path).hosts()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ({"hosts": HOSTS}, "object"),
        ("127.0.0.1:3000", "string"),
        (3000, "number"),
        (None, "null"),
        (True, "boolean"),
    ],
)
async def test_wrong_shape(tmp_path: Path, value: object, kind: str) -> None:
    path = write(tmp_path / "h.json", value)
    with pytest.raises(DiscoveryError, match=f"expected a JSON array .*found a JSON {kind}"):
        await HostsFile(path).hosts()


@pytest.mark.parametrize(
    ("entries", "complaint"),
    [
        ([HOSTS[0], 3000], "entry 1: 3000 is not a string"),
        ([HOSTS[0], ["127.0.0.1:1"]], "entry 1: .* is not a string"),
        (["localhost:3000"], "entry 0: 'localhost:3000' has host 'localhost'"),
        ([HOSTS[0], HOSTS[1], "127.0.0.1:70000"], "entry 2: '127.0.0.1:70000' has port"),
    ],
)
async def test_bad_entries_are_named(tmp_path: Path, entries: list[object], complaint: str) -> None:
    path = write(tmp_path / "h.json", entries)
    with pytest.raises(DiscoveryError, match=complaint):
        await HostsFile(path).hosts()


async def test_too_large(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_bytes(b" " * (4 * 1024 * 1024 + 1))
    with pytest.raises(DiscoveryError, match="larger than"):
        await HostsFile(path).hosts()


async def test_a_rewrite_caught_half_way_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text('["127.0.0.1:30')  # a writer that has not finished yet

    async def finish_writing() -> None:
        await asyncio.sleep(0.03)
        write(path, HOSTS)

    writer = asyncio.create_task(finish_writing())
    hosts = await asyncio.wait_for(HostsFile(path, retries=20, retry_delay=0.01).hosts(), 2)
    await writer
    assert hosts == HOSTS


async def test_no_retry_when_told(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text("")
    with pytest.raises(DiscoveryError, match="empty"):
        await asyncio.wait_for(HostsFile(path, retries=0, retry_delay=10).hosts(), 1)


def test_arguments_and_repr(tmp_path: Path) -> None:
    p = HostsFile(tmp_path / "h.json")
    assert p.path == tmp_path / "h.json"
    assert repr(p) == f"HostsFile({str(tmp_path / 'h.json')!r})"
    with pytest.raises(ValueError, match="retries"):
        HostsFile("h.json", retries=-1)
