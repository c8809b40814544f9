"""check_address: what a ringpop address is (spec §1), and clear errors."""

from __future__ import annotations

import re

import pytest

from ringpop.discovery import check_address


@pytest.mark.parametrize(
    "address", ["127.0.0.1:3000", "10.0.0.255:0", "255.255.255.255:65535", "0.0.0.0:1"]
)
def test_accepts_ipv4_and_port(address: str) -> None:
    assert check_address(address) == address


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("", 'no ":port"'),
        ("127.0.0.1", 'no ":port"'),
        (":3000", 'no ":port"'),
        ("127.0.0.1:", "not a number"),
        ("127.0.0.1:65536", "not a number"),
        ("127.0.0.1:-1", "not a number"),
        ("127.0.0.1:03000", "not a number"),
        ("127.0.0.1:3000 ", "not a number"),
        ("127.0.0.1:３０００", "not a number"),
        ("127.0.0:3000", "not an IPv4"),
        ("256.0.0.1:3000", "not an IPv4"),
        ("010.0.0.1:3000", "not an IPv4"),
        (" 10.0.0.1:3000", "not an IPv4"),
        ("localhost:3000", "not an IPv4"),
        ("1.2.3.4:5:6", "not an IPv4"),
        ("[::1]:3000", "not an IPv4"),
    ],
)
def test_rejects_with_a_message_naming_the_entry(value: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)) as info:
        check_address(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [3000, None, b"127.0.0.1:3000", ["127.0.0.1:3000"]])
def test_rejects_non_strings(value: object) -> None:
    with pytest.raises(ValueError, match="is not a string"):
        check_address(value)


def test_ipv6_only_when_asked() -> None:
    assert check_address("[::1]:3000", allow_ipv6=True) == "[::1]:3000"
    assert check_address("[fd00::5]:0", allow_ipv6=True) == "[fd00::5]:0"
    assert check_address("10.0.0.1:1", allow_ipv6=True) == "10.0.0.1:1"
    with pytest.raises(ValueError, match="not an IPv6"):
        check_address("[::zz]:3000", allow_ipv6=True)
    with pytest.raises(ValueError, match="not an IPv4"):
        check_address("::1:3000", allow_ipv6=True)
