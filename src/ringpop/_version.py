"""The package version, at the bottom layer so every layer (tchannel/ too) may import it."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
