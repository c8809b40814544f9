"""Tunables of a TChannel :class:`~ringpop.tchannel.Channel` (spec defaults.md §11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ringpop.checks import check_seconds
from ringpop.tchannel.checksum import ChecksumType
from ringpop.tchannel.stale import DEFAULT_STALE_PERIOD

if TYPE_CHECKING:
    from ringpop.tchannel.tls import TLSConfig

__all__ = ["DEFAULT_MAX_ARG_SIZE", "ChannelOptions"]

#: Default bound on arg1+arg2+arg3 of one received message.
DEFAULT_MAX_ARG_SIZE = 16 * 1024 * 1024


class ChannelOptions(msgspec.Struct, frozen=True):
    """Everything a channel and its connections can be tuned with.

    * ``process_name`` - sent in init headers (default ``pyringpop[<pid>]``).
    * ``caller_name`` - ``cn`` header of outgoing calls.
    * ``max_arg_size`` - largest total argument size of a received call message;
      a peer exceeding it gets a protocol error and its connection is closed.
    * ``max_buffered`` - bytes of partially received messages per connection and
      direction (default ``4 * max_arg_size``).
    * ``max_buffered_total`` - bytes of partially received messages over all the
      channel's connections (default ``8 * max_arg_size``); a message that would
      pass it is refused with ``busy`` (see :class:`~ringpop.tchannel.budget.ReceiveBudget`).
    * ``init_timeout`` - seconds a new connection may take to finish the handshake.
    * ``connect_timeout`` - upper bound (seconds) on one TCP connect + handshake;
      each call is additionally bounded by its own timeout.
    * ``drain_timeout`` - how long :meth:`Channel.close` waits for in-flight calls.
    * ``checksum_type`` - checksum of outgoing requests (responses echo the request's).
    * ``max_concurrent_requests`` - per connection; beyond it requests get ``busy``.
    * ``init_headers`` - extra init headers to advertise.
    * ``stale_period`` - a connection on which an outgoing call timed out and
      nothing was read for this long is aborted (queued requests are never sent);
      tchannel-node's ``CONN_STALE_PERIOD``, 1.5 s. 0 disables it.
    * ``tls`` - TLS settings (:class:`~ringpop.tchannel.tls.TLSConfig`); ``None``
      (default): plain TCP, as ringpop-node and ringpop-go speak it.
    """

    process_name: str = ""
    caller_name: str = "ringpop"
    max_arg_size: int = DEFAULT_MAX_ARG_SIZE
    max_buffered: int | None = None
    max_buffered_total: int | None = None
    init_timeout: float = 2.0
    connect_timeout: float = 3.0
    drain_timeout: float = 5.0
    checksum_type: ChecksumType = ChecksumType.CRC32
    max_concurrent_requests: int = 10_000
    init_headers: dict[str, str] = msgspec.field(default_factory=dict)
    tls: TLSConfig | None = None
    stale_period: float = DEFAULT_STALE_PERIOD

    def __post_init__(self) -> None:
        if self.max_arg_size <= 0:
            raise ValueError("max_arg_size must be positive")
        for name in ("max_buffered", "max_buffered_total"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value <= 0):
                raise ValueError(f"{name} must be a positive number of bytes, not {value!r}")
        check_seconds("init_timeout", self.init_timeout)
        check_seconds("connect_timeout", self.connect_timeout)
        check_seconds("drain_timeout", self.drain_timeout, zero_ok=True)
        check_seconds("stale_period", self.stale_period, zero_ok=True)
        if self.max_concurrent_requests <= 0:
            raise ValueError("max_concurrent_requests must be positive")
        ChecksumType(self.checksum_type)

    @property
    def buffered_total(self) -> int:
        """``max_buffered_total``, or its default."""
        if self.max_buffered_total is not None:
            return self.max_buffered_total
        return 8 * self.max_arg_size
