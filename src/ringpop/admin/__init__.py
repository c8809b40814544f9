"""Admin and health endpoints served by every node (spec §5)."""

from ringpop.admin.handlers import admin_handlers, stats_response

__all__ = ["admin_handlers", "stats_response"]
