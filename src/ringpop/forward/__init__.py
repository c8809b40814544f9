"""Handle-or-forward: requests for keys owned elsewhere go to the owner.

* :mod:`~ringpop.forward.proxy` - ringpop-node's ``/proxy/req`` for HTTP requests
  (its messages in :mod:`~ringpop.forward.http`);
* :mod:`~ringpop.forward.tchannel` - ringpop-go's forwarding of the application's own
  TChannel calls, marked with ``ringpop-forward-keys``.

Both share one ownership check (:mod:`~ringpop.forward.ownership`), one options
object and retry policy (:mod:`~ringpop.forward.policy`), one retry loop
(:mod:`~ringpop.forward.retrying`) and report through the events of
:mod:`~ringpop.forward.events`.
"""

from ringpop.forward.http import HttpHandler, HttpRequest, HttpResponse, ProxyError
from ringpop.forward.ownership import OwnershipError, owner_of, owns_all
from ringpop.forward.policy import ForwardOptions, ForwardOverrides, RetryPolicy, RetryStep
from ringpop.forward.proxy import RequestProxy
from ringpop.forward.tchannel import (
    FORWARD_KEYS_HEADER,
    Forwarder,
    ForwardError,
    ForwardTooLargeError,
    add_forward_keys,
    forwarded_keys,
)

__all__ = [
    "FORWARD_KEYS_HEADER",
    "ForwardError",
    "ForwardOptions",
    "ForwardOverrides",
    "ForwardTooLargeError",
    "Forwarder",
    "HttpHandler",
    "HttpRequest",
    "HttpResponse",
    "OwnershipError",
    "ProxyError",
    "RequestProxy",
    "RetryPolicy",
    "RetryStep",
    "add_forward_keys",
    "forwarded_keys",
    "owner_of",
    "owns_all",
]
