"""Every tunable a Channel takes is a ChannelOptions field, with the same default."""

from __future__ import annotations

import inspect

import pytest

from ringpop.tchannel import Channel, ChannelOptions, ChecksumType

# Channel-only parameters (not tunables) and the defaults Channel resolves itself.
_NOT_OPTIONS = {"self", "host_port", "bind"}
_RESOLVED = {"process_name": None, "init_headers": None}  # pyringpop[<pid>], {}


def test_channel_keywords_are_exactly_the_channel_options() -> None:
    params = inspect.signature(Channel.__init__).parameters
    keywords = {name: p.default for name, p in params.items() if name not in _NOT_OPTIONS}
    defaults = ChannelOptions()
    assert set(keywords) == set(ChannelOptions.__struct_fields__)
    for name, default in keywords.items():
        if name in _RESOLVED:
            assert default is _RESOLVED[name]
        else:
            assert default == getattr(defaults, name), name


def test_channel_keywords_land_in_its_options() -> None:
    given = {
        "caller_name": "svc",
        "max_arg_size": 1000,
        "max_buffered": 5000,
        "init_timeout": 0.5,
        "connect_timeout": 0.75,
        "drain_timeout": 0.0,
        "checksum_type": ChecksumType.CRC32C,
        "max_concurrent_requests": 3,
        "init_headers": {"x": "y"},
        "stale_period": 0.0,
    }
    channel = Channel("127.0.0.1:0", process_name="p", **given)  # type: ignore[arg-type]
    assert channel.options == ChannelOptions(process_name="p", **given)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"max_arg_size": 0},
        {"connect_timeout": 0.0},
        {"drain_timeout": -1.0},
        {"stale_period": -1.0},
        {"max_concurrent_requests": 0},
        {"init_timeout": float("nan")},  # NaN slipped past "<= 0"
        {"connect_timeout": float("inf")},
        {"drain_timeout": float("nan")},
    ],
)
def test_bad_tunables_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        Channel("127.0.0.1:0", **bad)  # type: ignore[arg-type]
