"""Handle-or-forward: requests for keys owned elsewhere go to the owner.

* :mod:`~ringpop.forward.http` - ringpop-node's ``/proxy/req`` for HTTP requests;
* :mod:`~ringpop.forward.tchannel` - ringpop-go's forwarding of the application's own
  TChannel calls, marked with ``ringpop-forward-keys``.
"""

from ringpop.forward.http import HttpHandler, HttpRequest, HttpResponse, ProxyError, RequestProxy
from ringpop.forward.tchannel import (
    FORWARD_KEYS_HEADER,
    Forwarder,
    ForwardError,
    add_forward_keys,
    forwarded_keys,
)

__all__ = [
    "FORWARD_KEYS_HEADER",
    "ForwardError",
    "Forwarder",
    "HttpHandler",
    "HttpRequest",
    "HttpResponse",
    "ProxyError",
    "RequestProxy",
    "add_forward_keys",
    "forwarded_keys",
]
