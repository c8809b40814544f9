"""Conformance tests: scripted fake peers around one real testpop process (issue 4)."""
