"""Runnable examples of ringpop for Python (see each package's README)."""
