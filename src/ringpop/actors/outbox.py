"""The sending side: one ordered stream per actor, at most one batch in flight.

``send``/``ask`` put the encoded message on the stream of ``(kind, key)``; a pump
sends what waits as one batch (up to ``max_batch`` messages, numbered by the stream),
waits for the batch's results, then sends the next. So a node's messages to one
actor are handled in the order ``send``/``ask`` were called, whichever node the
actor lives on and however often it moves: a batch is resent (same numbers) until a
node handles it or the deadline passes, and the receiving mailbox recognises a
resent batch (:mod:`ringpop.actors.mailbox`). At most ``capacity`` messages wait per
stream (:class:`~ringpop.actors.errors.MailboxFullError` beyond: backpressure).

A stream's id is ``address#process.n``: it lives as long as this process remembers
the stream (the ``max_streams`` most recently used; an idle one beyond is forgotten
and a later message starts a new stream), so receivers keep one entry per sending
process and actor, and numbers never need to outlive the stream.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from ringpop.actors.errors import MailboxFullError
from ringpop.actors.wire import Result

__all__ = ["BATCH_BYTES", "Deliver", "Outbox"]

BATCH_BYTES = 1 << 20
"""Most message bytes a batch carries (but one message of any size): a batch of large
messages could exceed what one call may carry (``max_arg_size``) and fail them all."""

Deliver = Callable[[str, str, str, int, list[bytes]], Awaitable[list[Result]]]
"""``deliver(kind, key, stream, first, payloads)`` -> one result per payload."""


class _Stream:
    __slots__ = ("id", "inline", "next_seq", "queue", "task")

    def __init__(self, stream_id: str) -> None:
        self.id = stream_id
        self.next_seq = 1
        self.queue: deque[tuple[bytes, asyncio.Future[Result]]] = deque()
        self.task: asyncio.Task[None] | None = None
        self.inline = False


class Outbox:
    """This node's streams to actors."""

    def __init__(
        self,
        address: str,
        deliver: Deliver,
        *,
        capacity: int,
        max_batch: int,
        max_streams: int = 65_536,
    ) -> None:
        self._prefix = f"{address}#{secrets.token_hex(4)}."
        self._deliver = deliver
        self.capacity = capacity
        self.max_batch = max_batch
        self.max_streams = max_streams
        self._streams: OrderedDict[tuple[str, str], _Stream] = OrderedDict()
        self._created = 0
        self.batches = 0
        """Batches sent so far."""

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def busy(self) -> int:
        """Streams with messages waiting or in flight."""
        return sum(1 for s in self._streams.values() if s.queue or s.task is not None or s.inline)

    async def send(self, kind: str, key: str, payload: bytes) -> Result:
        """Queue one encoded message; its result once handled (or the delivery error)."""
        stream = self._streams.get((kind, key))
        if stream is None:
            self._created += 1
            stream = self._streams[(kind, key)] = _Stream(f"{self._prefix}{self._created}")
            self._forget_idle()
        else:
            self._streams.move_to_end((kind, key))
        if len(stream.queue) >= self.capacity:
            raise MailboxFullError(
                f"outbox to {kind}/{key} is full ({self.capacity} messages waiting to be sent)"
            )
        if stream.task is None and not stream.queue and not stream.inline:
            return await self._send_inline(kind, key, stream, payload)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        stream.queue.append((payload, future))
        if stream.task is None and not stream.inline:
            stream.task = asyncio.create_task(self._pump(kind, key, stream))
        return await future

    async def _send_inline(self, kind: str, key: str, stream: _Stream, payload: bytes) -> Result:
        """An idle stream: the caller sends its own message (no pump task, no hop);
        what queues meanwhile goes after it, by the pump."""
        stream.inline = True
        first = stream.next_seq
        stream.next_seq += 1
        self.batches += 1
        try:
            return (await self._deliver(kind, key, stream.id, first, [payload]))[0]
        finally:
            stream.inline = False
            if stream.queue and stream.task is None:
                stream.task = asyncio.create_task(self._pump(kind, key, stream))

    async def _pump(self, kind: str, key: str, stream: _Stream) -> None:
        try:
            while stream.queue:
                count = size = 0
                for payload, _ in stream.queue:  # max_batch messages, BATCH_BYTES (one at least)
                    size += len(payload)
                    if count == self.max_batch or (count and size > BATCH_BYTES):
                        break
                    count += 1
                items = [stream.queue.popleft() for _ in range(count)]
                first = stream.next_seq
                stream.next_seq += count
                self.batches += 1
                try:
                    results = await self._deliver(
                        kind, key, stream.id, first, [payload for payload, _ in items]
                    )
                except Exception as error:
                    for _, future in items:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), result in zip(items, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            stream.task = None

    def _forget_idle(self) -> None:
        """Drop the least recently used idle streams beyond ``max_streams``."""
        for _ in range(len(self._streams) - self.max_streams):
            ident, oldest = next(iter(self._streams.items()))
            if oldest.queue or oldest.task is not None or oldest.inline:
                return
            del self._streams[ident]
