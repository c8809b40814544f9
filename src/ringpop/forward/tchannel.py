"""Handle-or-forward for the application's own TChannel endpoints, ringpop-go style (§5.9).

The call goes unchanged (same service, endpoint, arg scheme, arg2/arg3) to the key's
owner, with the application header ``ringpop-forward-keys`` (a JSON array of the
keys) added to arg2. A receiver that sees the header handles the call itself and
removes the header, so a call is forwarded at most once whatever the rings say.

Application headers live in arg2, whose format depends on the scheme: a JSON object
for ``json``, ``nh:2 (k~2 v~2){nh}`` for ``thrift``. ``raw`` calls have no header
map, so they cannot carry the marker; they are forwarded unmarked (as ringpop-go's
raw forwarder does).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Unpack

import msgspec
from msgspec.structs import replace

from ringpop.clock import Clock
from ringpop.errors import RingpopError
from ringpop.eventbus import EventEmitter
from ringpop.forward.ownership import OwnershipError, key_list
from ringpop.forward.policy import ForwardOptions, ForwardOverrides
from ringpop.forward.retrying import AttemptError, Retrier, RetriesExhaustedError
from ringpop.membership.node import SwimNode
from ringpop.options import Options
from ringpop.tchannel import (
    BadRequestError,
    Handler,
    Request,
    Response,
    TChannelError,
    UnexpectedError,
    too_large,
)
from ringpop.transport import Transport

__all__ = [
    "FORWARD_KEYS_HEADER",
    "ForwardError",
    "Forwarder",
    "add_forward_keys",
    "forwarded_keys",
]

log = logging.getLogger(__name__)

FORWARD_KEYS_HEADER = "ringpop-forward-keys"


class ForwardError(RingpopError):
    """Forwarding failed (diverged keys, every retry failed, unmarkable headers)."""


class ForwardTooLargeError(ForwardError, ValueError):
    """The call's own arguments are more than one call carries (``max_arg_size``):
    nothing was sent. A ``ValueError`` too, as the argument is the caller's."""


class UnmarkableError(ForwardError):
    """The call's arg2 is not of its scheme (``json``, ``thrift``): the forward marker
    cannot be added to it."""


def _thrift_headers(arg2: bytes) -> list[tuple[str, str]]:
    if not arg2:
        return []
    (count,) = struct.unpack_from(">H", arg2, 0)
    offset = 2
    headers = []
    for _ in range(count):
        (klen,) = struct.unpack_from(">H", arg2, offset)
        key = arg2[offset + 2 : offset + 2 + klen].decode()
        offset += 2 + klen
        (vlen,) = struct.unpack_from(">H", arg2, offset)
        value = arg2[offset + 2 : offset + 2 + vlen].decode()
        offset += 2 + vlen
        headers.append((key, value))
    return headers


def _pack_thrift_headers(headers: list[tuple[str, str]]) -> bytes:
    out = [struct.pack(">H", len(headers))]
    for key, value in headers:
        k, v = key.encode(), value.encode()
        out.append(struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v)
    return b"".join(out)


def _json_headers(arg2: bytes) -> dict[str, object]:
    if not arg2.strip():
        return {}
    decoded = msgspec.json.decode(arg2)
    if decoded is None:
        return {}
    if not isinstance(decoded, dict):
        raise ValueError("json arg2 must be an object of application headers")
    return decoded


def add_forward_keys(scheme: str, arg2: bytes, keys: Sequence[str]) -> bytes:
    """arg2 with the ``ringpop-forward-keys`` header added (unchanged for ``raw``)."""
    marker = msgspec.json.encode(list(keys)).decode()
    try:
        if scheme == "json":
            headers = _json_headers(arg2)
            headers[FORWARD_KEYS_HEADER] = marker
            return msgspec.json.encode(headers)
        if scheme == "thrift":
            pairs = [(k, v) for k, v in _thrift_headers(arg2) if k != FORWARD_KEYS_HEADER]
            return _pack_thrift_headers([*pairs, (FORWARD_KEYS_HEADER, marker)])
    except (ValueError, struct.error, UnicodeDecodeError) as error:
        raise UnmarkableError(
            f"cannot add {FORWARD_KEYS_HEADER} to {scheme} arg2: {error}"
        ) from None
    return arg2


def forwarded_keys(request: Request) -> tuple[list[str] | None, bytes]:
    """The forwarded keys of a call (``None`` if not forwarded) and arg2 without the marker."""
    scheme = request.scheme
    try:
        if scheme == "json":
            headers = _json_headers(request.arg2)
            if FORWARD_KEYS_HEADER not in headers:
                return None, request.arg2
            marker = headers.pop(FORWARD_KEYS_HEADER)
            rest = msgspec.json.encode(headers) if headers else b""
        elif scheme == "thrift":
            pairs = _thrift_headers(request.arg2)
            found = [v for k, v in pairs if k == FORWARD_KEYS_HEADER]
            if not found:
                return None, request.arg2
            marker = found[0]
            rest = _pack_thrift_headers([(k, v) for k, v in pairs if k != FORWARD_KEYS_HEADER])
        else:
            return None, request.arg2
    except (ValueError, struct.error, UnicodeDecodeError):
        return None, request.arg2
    return _marker_keys(marker), rest


def _marker_keys(marker: object) -> list[str]:
    """The keys of a ``ringpop-forward-keys`` value: the strings of its JSON array.

    The header's presence is what marks a forwarded call (and stops forwarding
    loops), so an unusable value still means "forwarded", with the keys that can be
    read (spec §1.1).
    """
    if isinstance(marker, str):
        try:
            marker = msgspec.json.decode(marker)
        except msgspec.DecodeError:
            return []
    if not isinstance(marker, list):
        return []
    return [key for key in marker if isinstance(key, str)]


async def _respond(handler: Handler, request: Request) -> Response:
    """Run a handler that may be a plain function or a coroutine function."""
    result = handler(request)
    if isinstance(result, Response):
        return result
    return await result


class Forwarder:
    """Forwards application calls to the owners of their keys."""

    def __init__(
        self,
        node: SwimNode,
        channel: Transport,
        events: EventEmitter,
        options: Options,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.node = node
        self.channel = channel
        self.events = events
        self.options = options
        self.retrier = Retrier(
            node.ring, node.address, events, clock if clock is not None else node.clock, "go"
        )

    def _owner(self, keys: Sequence[str]) -> str:
        try:
            return self.retrier.owner(keys)
        except OwnershipError as error:
            raise ForwardError(
                "at least one key is required"
                if error.no_keys
                else "key destinations have diverged"
            ) from None

    async def handle_or_forward(
        self, keys: str | Sequence[str], request: Request, handler: Handler
    ) -> Response:
        """Run ``handler`` here if the call was forwarded to us or we own ``keys`` (one
        key or a list of them); else forward.

        The caller hears a failure as an error frame: ``BadRequestError`` for no keys
        (or not keys at all), keys of several owners or an arg2 not of its scheme;
        ``UnexpectedError`` when forwarding failed (retries ran out).
        """
        marked, arg2 = forwarded_keys(request)
        if marked is not None:
            return await _respond(handler, replace(request, arg2=arg2))
        try:  # a lone str is one key, not its characters
            keys = key_list(keys)
        except TypeError as error:
            raise BadRequestError(f"{request.endpoint}: {error}") from None
        try:
            destination = self._owner(keys)
        except ForwardError as error:  # no keys, or keys of several owners
            raise BadRequestError(f"{request.endpoint}: {error}") from None
        if destination == self.node.address:
            return await _respond(handler, request)
        try:
            return await self.forward(
                keys,
                request.service,
                request.endpoint,
                request.arg2,
                request.arg3,
                scheme=request.scheme or "raw",
                destination=destination,
            )
        except UnmarkableError as error:  # the caller's arg2 is not of its scheme
            raise BadRequestError(f"{request.endpoint}: {error}") from None
        except ForwardError as error:  # the caller hears why, as an error frame
            raise UnexpectedError(f"{request.endpoint}: {error}") from None

    async def forward(
        self,
        keys: Sequence[str],
        service: str,
        endpoint: str,
        arg2: bytes = b"",
        arg3: bytes = b"",
        *,
        scheme: str = "json",
        options: ForwardOptions | Mapping[str, Any] | None = None,
        destination: str | None = None,
        **overrides: Unpack[ForwardOverrides],
    ) -> Response:
        """Send the call to the owner of ``keys``; the owner's response (app errors included).

        Transport failures are retried on the retry schedule; application errors
        (code 0x01) are returned, not retried. With ``reroute_retries`` every retry
        looks the keys up again. ``options`` (or the same names as keyword arguments:
        ``timeout``, ``max_retries``, ``retry_schedule``, ``reroute_retries``) override
        the ``forward_*`` options; ``destination`` skips the first lookup. Raises
        :class:`ForwardError` when retries run out or the keys stop sharing an owner,
        :class:`ForwardTooLargeError` at once when ``arg2``/``arg3`` are more than one
        call carries.
        """
        merged = ForwardOptions.of(options, overrides)
        config = self.options
        key_tuple = tuple(keys)
        timeout = config.forward_timeout if merged.timeout is None else merged.timeout
        destination = self._owner(key_tuple) if destination is None else destination
        marked = add_forward_keys(scheme, arg2, key_tuple)
        channel = self.channel

        async def send(to: str) -> Response:
            try:
                return await channel.call(
                    to, service, endpoint, marked, arg3, timeout=timeout, scheme=scheme
                )
            except ValueError as error:  # our own arguments: no attempt can send them
                raise ForwardTooLargeError(str(error)) from None
            except TChannelError as error:
                # an answer too large to send fails again on every retry, the handler
                # running each time: final, like our channel closed
                final = channel.closed or too_large(error)
                raise AttemptError(f"{to}: {error}", final=final) from None

        try:
            return await self.retrier.run(
                key_tuple, destination, send, merged.forward_policy(config), endpoint=endpoint
            )
        except OwnershipError:
            raise ForwardError("key destinations have diverged") from None
        except RetriesExhaustedError as error:
            raise ForwardError(
                f"forwarding failed after {error.retries} retries: {error.error}"
            ) from None
