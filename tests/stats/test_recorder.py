"""Stats subscribe to events: an event that stands for stats reaches the back end."""

from __future__ import annotations

from ringpop.eventbus import Event, EventEmitter, Kind, Stat
from ringpop.stats import MemoryBackend, NullBackend, Stats
from ringpop.stats.recorder import StatsRecorder


class _Pinged(Event, frozen=True):
    ms: float

    def stats(self) -> tuple[Stat, ...]:
        return ((Kind.COUNTER, "ping.send", 1), (Kind.TIMING, "ping", self.ms))


class _Quiet(Event, frozen=True):
    pass


def test_event_stats_reach_the_backend() -> None:
    emitter = EventEmitter()
    backend = MemoryBackend()
    recorder = StatsRecorder(Stats("127.0.0.1:3000", backend))
    recorder.attach(emitter)
    emitter.emit(_Pinged(2.5))
    emitter.emit(_Pinged(3.5))
    emitter.emit(_Quiet())
    assert backend.counters == {"ping.send": 2}
    assert backend.timings["ping"] == [2.5, 3.5]
    recorder.detach()
    emitter.emit(_Pinged(1.0))
    assert backend.counters == {"ping.send": 2}
    assert not emitter.wants(_Pinged)


def test_null_backend_subscribes_to_nothing() -> None:
    emitter = EventEmitter()
    StatsRecorder(Stats("127.0.0.1:3000", NullBackend())).attach(emitter)
    assert not emitter.wants(_Pinged)
