"""ringpop for Python: SWIM membership, a consistent hash ring and request forwarding.

Wire-compatible with ringpop-node and ringpop-go (TChannel v2, same endpoints,
same hashes and checksums).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
