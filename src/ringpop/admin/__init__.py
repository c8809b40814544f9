"""Admin and health endpoints served by every node (spec §5), and the client that calls them.

* :mod:`ringpop.admin.handlers`: the endpoints a node serves (``admin_handlers``);
* :mod:`ringpop.admin.client`: :class:`~ringpop.admin.client.AdminClient`, the
  command line's and the dashboard's way to call them over TChannel;
* :mod:`ringpop.admin.lifeguard`: the Lifeguard figures behind ``/admin/stats``.

The handlers are imported on first use, so the client loads without the node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["admin_handlers", "stats_response"]

if TYPE_CHECKING:
    from ringpop.admin.handlers import admin_handlers, stats_response


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ringpop.admin import handlers

        return getattr(handlers, name)
    raise AttributeError(f"module 'ringpop.admin' has no attribute {name!r}")
