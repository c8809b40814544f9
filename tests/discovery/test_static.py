"""StaticHosts: validated at construction, deduplicated, order kept."""

from __future__ import annotations

import pytest

from ringpop.discovery import DiscoverProvider, StaticHosts


async def test_returns_the_hosts_in_order_without_repeats() -> None:
    p = StaticHosts(["127.0.0.1:3001", "127.0.0.1:3000", "127.0.0.1:3001", "10.0.0.1:3000"])
    assert await p.hosts() == ["127.0.0.1:3001", "127.0.0.1:3000", "10.0.0.1:3000"]


async def test_each_call_gets_its_own_list() -> None:
    p = StaticHosts(["127.0.0.1:3000"])
    first = await p.hosts()
    first.append("127.0.0.1:9999")
    assert await p.hosts() == ["127.0.0.1:3000"]


async def test_accepts_any_iterable_and_empty() -> None:
    assert await StaticHosts(iter(["127.0.0.1:1"])).hosts() == ["127.0.0.1:1"]
    assert await StaticHosts(()).hosts() == []


def test_bad_entry_is_named_with_its_position() -> None:
    with pytest.raises(ValueError, match=r"static hosts: entry 1: 'host:3000' has host 'host'"):
        StaticHosts(["127.0.0.1:3000", "host:3000"])


def test_a_single_string_is_refused() -> None:
    with pytest.raises(TypeError, match="list of 'ip:port' strings"):
        StaticHosts("127.0.0.1:3000")


def test_is_a_discover_provider_with_a_readable_repr() -> None:
    p = StaticHosts(["127.0.0.1:3000"])
    assert isinstance(p, DiscoverProvider)
    assert repr(p) == "StaticHosts(['127.0.0.1:3000'])"
