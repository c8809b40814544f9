"""Call messages <-> frames: fragmentation and reassembly (spec tchannel.md §8, §10).

A call message is a first frame (call req/res) followed by zero or more
continuation frames; together they carry three arguments. :func:`encode_call`
writes a message as encoded frames, splitting arguments exactly as tchannel-go
does (an argument that ends on a frame boundary is closed by a zero-length chunk
at the start of the next frame). :class:`MessageAssembler` joins received frames
back into arguments, checking checksums and size limits.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import msgspec

from ringpop.tchannel.budget import ReceiveBudget
from ringpop.tchannel.checksum import CHECKSUM_SIZE, UPDATE, checksum_update, verifiable
from ringpop.tchannel.errors import TOO_LARGE, ErrorCode, MalformedFrameError, ProtocolError
from ringpop.tchannel.frames import (
    FLAG_MORE_FRAGMENTS,
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_PAYLOAD_SIZE,
    CallRequest,
    CallRequestContinue,
    CallResponse,
    CallResponseContinue,
    FrameType,
    encode_checksum,
    pack_header,
)

__all__ = [
    "CompleteMessage",
    "MessageAssembler",
    "MessageRejectedError",
    "MessageTooLargeError",
    "encode_call",
    "split_args",
]

_U16 = struct.Struct(">H")
_CSUM = struct.Struct(">BI")
_HEAD_FLAGS = struct.Struct(">HBxI8xB")  # frame header + the payload's flags byte


def split_args(
    args: Sequence[bytes], first_room: int, cont_room: int
) -> list[tuple[bool, list[bytes]]]:
    """Distribute ``args`` over frames: ``[(more_fragments, chunks), ...]``.

    ``first_room`` / ``cont_room`` are the bytes available for chunks (length
    prefixes included) in the first and in continuation frames.
    """
    if first_room < 2 or cont_room < 3:
        raise ValueError("no room for arguments in a frame")
    frames: list[tuple[bool, list[bytes]]] = []
    chunks: list[bytes] = []
    room = first_room
    last = len(args) - 1
    i = 0
    off = 0
    while True:
        arg = args[i]
        n = min(len(arg) - off, room - 2)
        chunks.append(arg[off : off + n])
        room -= 2 + n
        off += n
        if off < len(arg):  # frame full in the middle of arg i: continue it next frame
            frames.append((True, chunks))
            chunks = []
            room = cont_room
            continue
        if i == last:
            frames.append((False, chunks))
            return frames
        i += 1
        off = 0
        if room <= 2:  # no room to start the next arg: close this one in the next frame
            frames.append((True, chunks))
            chunks = [b""]
            room = cont_room - 2


def encode_call(
    frame_id: int,
    response: bool,
    prefix: bytes,
    args: Sequence[bytes],
    csum_type: int,
) -> list[bytes]:
    """Encode one call message as a list of frames (usually one).

    ``prefix`` is the first frame's payload after the flags byte and before the
    checksum (``frames.call_request_prefix`` / ``call_response_prefix``).
    """
    csize = CHECKSUM_SIZE[csum_type]
    first_type = FrameType.CALL_RES if response else FrameType.CALL_REQ
    if len(args) == 3:  # fast path: the usual single-frame message
        a1, a2, a3 = args
        total = len(prefix) + 8 + csize + len(a1) + len(a2) + len(a3)
        if total <= MAX_PAYLOAD_SIZE:
            if csize:
                update = UPDATE[csum_type]
                csum = _CSUM.pack(csum_type, update(a3, update(a2, update(a1, 0))))
            else:
                csum = b"\x00"
            return [
                b"".join(
                    (
                        _HEAD_FLAGS.pack(HEADER_SIZE + total, first_type, frame_id, 0),
                        prefix,
                        csum,
                        _U16.pack(len(a1)),
                        a1,
                        _U16.pack(len(a2)),
                        a2,
                        _U16.pack(len(a3)),
                        a3,
                    )
                )
            ]
    update = checksum_update(csum_type)
    cont_type = FrameType.CALL_RES_CONTINUE if response else FrameType.CALL_REQ_CONTINUE
    first_overhead = 1 + len(prefix) + 1 + csize
    cont_overhead = 1 + 1 + csize
    plan = split_args(args, MAX_PAYLOAD_SIZE - first_overhead, MAX_PAYLOAD_SIZE - cont_overhead)
    out: list[bytes] = []
    csum_value = 0
    for index, (more, chunks) in enumerate(plan):
        for chunk in chunks:
            csum_value = update(chunk, csum_value)
        body = [b"\x01" if more else b"\x00"]
        if index == 0:
            body.append(prefix)
        body.append(encode_checksum(csum_type, csum_value))
        for chunk in chunks:
            body.append(_U16.pack(len(chunk)))
            body.append(chunk)
        payload = b"".join(body)
        ftype = first_type if index == 0 else cont_type
        out.append(pack_header(HEADER_SIZE + len(payload), ftype, frame_id) + payload)
    return out


class CompleteMessage(msgspec.Struct):
    """A fully received call message: its first frame and its three arguments."""

    first: CallRequest | CallResponse
    arg1: bytes
    arg2: bytes
    arg3: bytes


class MessageRejectedError(Exception):
    """A message that must be refused (bad checksum, no room left in the channel's
    :class:`ReceiveBudget`); the connection stays usable. ``code`` is the error
    frame's code for a refused request."""

    def __init__(self, frame_id: int, message: str, code: int = ErrorCode.BAD_REQUEST) -> None:
        super().__init__(message)
        self.frame_id = frame_id
        self.message = message
        self.code = code


class MessageTooLargeError(ProtocolError):
    """A message's arguments exceed the configured maximum (fatal for the connection)."""


class _Partial:
    """A message being received: its closed arguments, and the chunks of the open one
    (joined once, when it closes: one copy of each argument, however many frames)."""

    __slots__ = ("csum", "csum_type", "current", "done", "first", "size")

    def __init__(self, first: CallRequest | CallResponse, args: Sequence[bytes], csum: int) -> None:
        self.first = first
        self.done: list[bytes] = list(args[:-1])
        self.current: list[bytes] = [args[-1]] if args else []
        self.csum = csum
        self.csum_type = first.checksum_type
        self.size = 0


_MAX_DROPPED = 4096


class MessageAssembler:
    """Joins the frames of call messages flowing in one direction on one connection.

    ``max_arg_size`` bounds arg1+arg2+arg3 of one message; ``max_buffered`` bounds
    the bytes held for all unfinished messages. Exceeding either, more than three
    arguments, a continuation without a first frame or a duplicate first frame
    raise ``ProtocolError`` (close the connection). A checksum mismatch or change
    of checksum type raises :class:`MessageRejectedError`: the rest of that message is
    skipped and the connection stays usable.
    """

    __slots__ = (
        "_dropped",
        "_partials",
        "_small_limit",
        "budget",
        "buffered",
        "max_arg_size",
        "max_buffered",
    )

    def __init__(
        self, max_arg_size: int, max_buffered: int, budget: ReceiveBudget | None = None
    ) -> None:
        self.max_arg_size = max_arg_size
        self._small_limit = max_arg_size < MAX_FRAME_SIZE
        self.max_buffered = max_buffered
        self.budget = budget  # shared with the channel's other connections
        self.buffered = 0
        self._partials: dict[int, _Partial] = {}
        self._dropped: set[int] = set()

    def __len__(self) -> int:
        return len(self._partials)

    def first(self, frame: CallRequest | CallResponse) -> CompleteMessage | None:
        """Take a call req/res frame; the message if it is complete, else ``None``."""
        fid = frame.id
        if fid in self._partials or fid in self._dropped:
            raise MalformedFrameError(f"second first frame for message id {fid}")
        args = frame.args
        if len(args) == 3 and not frame.flags & FLAG_MORE_FRAGMENTS:  # fast path
            a1, a2, a3 = args
            # one frame cannot exceed a limit of at least a frame's size
            if self._small_limit and len(a1) + len(a2) + len(a3) > self.max_arg_size:
                raise MessageTooLargeError(f"message {fid} {TOO_LARGE} {self.max_arg_size}")
            csum_type = frame.checksum_type
            if csum_type == 1 or csum_type == 3:
                update = UPDATE[csum_type]
                csum = update(a3, update(a2, update(a1, 0)))
                if csum != frame.checksum:
                    raise MessageRejectedError(
                        fid, f"checksum mismatch: got 0x{frame.checksum:08x}, computed 0x{csum:08x}"
                    )
            return CompleteMessage(frame, a1, a2, a3)
        size = 0
        for arg in args:
            size += len(arg)
        if size > self.max_arg_size:
            raise MessageTooLargeError(f"message {fid} {TOO_LARGE} {self.max_arg_size}")
        csum_type = frame.checksum_type
        csum = 0
        if csum_type:
            update = checksum_update(csum_type)
            for arg in args:
                csum = update(arg, csum)
        more = frame.flags & FLAG_MORE_FRAGMENTS
        if verifiable(csum_type) and csum != frame.checksum:
            if more:
                self._drop(fid)
            raise MessageRejectedError(
                fid, f"checksum mismatch: got 0x{frame.checksum:08x}, computed 0x{csum:08x}"
            )
        if not more:
            n = len(args)
            if n == 3:
                return CompleteMessage(frame, args[0], args[1], args[2])
            return CompleteMessage(
                frame,
                args[0] if n > 0 else b"",
                args[1] if n > 1 else b"",
                b"",
            )
        self._check_budget(fid, size, more)
        partial = _Partial(frame, args, csum)
        partial.size = size
        self._reserve(size)
        self._partials[fid] = partial
        return None

    def cont(self, frame: CallRequestContinue | CallResponseContinue) -> CompleteMessage | None:
        """Take a continuation frame; the message if it is now complete, else ``None``."""
        fid = frame.id
        more = frame.flags & FLAG_MORE_FRAGMENTS
        partial = self._partials.get(fid)
        if partial is None:
            if fid in self._dropped:
                if not more:
                    self._dropped.discard(fid)
                return None
            raise MalformedFrameError(f"continuation frame for unknown message id {fid}")
        if frame.checksum_type != partial.csum_type:
            self._abandon(fid, partial, more)
            raise MessageRejectedError(
                fid, f"checksum type changed from {partial.csum_type} to {frame.checksum_type}"
            )
        chunks = frame.args
        added = 0
        for chunk in chunks:
            added += len(chunk)
        if partial.size + added > self.max_arg_size:
            raise MessageTooLargeError(f"message {fid} {TOO_LARGE} {self.max_arg_size}")
        self._check_budget(fid, added, more)
        csum = partial.csum
        if partial.csum_type:
            update = checksum_update(partial.csum_type)
            for chunk in chunks:
                csum = update(chunk, csum)
            if verifiable(partial.csum_type) and csum != frame.checksum:
                self._abandon(fid, partial, more)
                raise MessageRejectedError(
                    fid, f"checksum mismatch: got 0x{frame.checksum:08x}, computed 0x{csum:08x}"
                )
        partial.csum = csum
        current = partial.current
        for index, chunk in enumerate(chunks):
            if index == 0:
                if chunk:
                    current.append(chunk)
            else:  # the open argument closes, the next one starts
                if len(partial.done) == 2:
                    raise MalformedFrameError(f"message {fid} has more than 3 arguments")
                partial.done.append(b"".join(current))
                current = partial.current = [chunk]
        partial.size += added
        self._reserve(added)
        if more:
            return None
        del self._partials[fid]
        self._release(partial.size)
        args = [*partial.done, b"".join(current)]
        while len(args) < 3:
            args.append(b"")
        return CompleteMessage(partial.first, args[0], args[1], args[2])

    def discard(self, fid: int) -> None:
        """Forget message ``fid`` (e.g. its call was abandoned); later frames are skipped."""
        partial = self._partials.pop(fid, None)
        if partial is not None:
            self._release(partial.size)
            self._drop(fid)

    def clear(self) -> None:
        """Forget every unfinished message (the connection is gone): their bytes go
        back to the channel's budget."""
        self._partials.clear()
        self._release(self.buffered)

    def _abandon(self, fid: int, partial: _Partial, more: int) -> None:
        del self._partials[fid]
        self._release(partial.size)
        if more:
            self._drop(fid)

    def _drop(self, fid: int) -> None:
        if len(self._dropped) >= _MAX_DROPPED:
            raise ProtocolError("too many abandoned fragmented messages")
        self._dropped.add(fid)

    def _check_budget(self, fid: int, n: int, more: int) -> None:
        """``MessageRejectedError`` (busy) if ``n`` more bytes of message ``fid`` do not
        fit the channel's budget; the message is then forgotten and its later frames
        skipped."""
        budget = self.budget
        if budget is not None and budget.held + n > budget.limit:
            budget.refused += 1
            partial = self._partials.get(fid)
            if partial is not None:
                self._abandon(fid, partial, more)
            else:  # its first frame, more to come
                self._drop(fid)
            raise MessageRejectedError(
                fid,
                f"message {fid} refused: the channel holds {budget.held} bytes of unfinished "
                f"messages, {budget.limit} at most",
                ErrorCode.BUSY,
            )

    def _release(self, n: int) -> None:
        self.buffered -= n
        if self.budget is not None:
            self.budget.held -= n

    def _reserve(self, n: int) -> None:
        self.buffered += n
        if self.budget is not None:
            self.budget.held += n
        if self.buffered > self.max_buffered:
            raise MessageTooLargeError(
                f"{self.buffered} bytes of unfinished messages exceed {self.max_buffered}"
            )
