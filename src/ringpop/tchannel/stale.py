"""When a connection has gone stale: calls time out and the peer says nothing.

A peer behind a silent network partition (packets dropped, no RST) looks like a
slow peer: TCP keeps the connection and queues everything written to it, to be
retransmitted when the network returns. Requests that timed out long ago then
arrive all at once and are served as if they were new (for ringpop: 30-second-old
suspect/faulty rumours applied as fresh). tchannel-node guards against this by
closing a connection on which an outgoing call times out more than
``CONN_STALE_PERIOD`` (1.5 s) after an earlier timeout with no frame read in
between. :class:`StaleWatch` is that rule, with one addition: a timer at the first
timeout plus the period also checks it, so one lone timed-out call (a single
ping-req, a heal join) on an otherwise idle connection is caught too. A live
peer always answers a call, late or with a ``timeout`` error frame at its ttl,
so reading nothing for a whole period after a timeout means nobody is listening.

Pure: the driver passes the time and decides what "closing" means.
"""

from __future__ import annotations

__all__ = ["DEFAULT_STALE_PERIOD", "StaleWatch"]

#: tchannel-node's ``CONN_STALE_PERIOD`` (channel.js), in seconds.
DEFAULT_STALE_PERIOD = 1.5

# Loop timers may fire a little early (uvloop rounds to milliseconds).
_SLACK = 0.001


class StaleWatch:
    """Timeouts with nothing read in between, per connection.

    ``period`` of 0 disables the rule (never stale).
    """

    __slots__ = ("period", "since")

    def __init__(self, period: float = DEFAULT_STALE_PERIOD) -> None:
        if period < 0:
            raise ValueError("stale period must not be negative")
        self.period = period
        #: When the first call timed out since the last read (``None``: none did).
        self.since: float | None = None

    def read(self) -> None:
        """Something arrived from the peer: it is alive, forget the timeouts."""
        self.since = None

    def timed_out(self, now: float) -> bool:
        """An outgoing call timed out at ``now``; is the connection stale?"""
        if not self.period:
            return False
        if self.since is None:
            self.since = now
            return False
        return now - self.since > self.period

    def due(self) -> float | None:
        """When :meth:`check` should run next (``None``: no timeout pending)."""
        if self.since is None or not self.period:
            return None
        return self.since + self.period

    def check(self, now: float) -> bool:
        """Stale at ``now``: a call timed out at least a period ago, nothing read since."""
        since = self.since
        return since is not None and bool(self.period) and now - since >= self.period - _SLACK
