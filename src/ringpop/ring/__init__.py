"""The consistent hash ring (spec §13): replica points, lookup, lookup_n, checksums."""

from ringpop.ring.hashring import DEFAULT_REPLICA_POINTS, HashRing, RingChange, RingListener

__all__ = ["DEFAULT_REPLICA_POINTS", "HashRing", "RingChange", "RingListener"]
