"""Differential tests: mutated protocol messages against ringpop-node and our testpop.

:mod:`.cases` derives a fixed set of mutated messages (every field of every message a
real peer sends or answers: missing, ``null``, wrong type, floats, negatives, 2^63,
2^64, huge strings, extra fields, and per-entry mutations inside ``changes`` /
``membership``); :mod:`.harness` sends each case to one long-running ringpop-node
process and one long-running ``ringpop testpop`` process and observes what each does;
:mod:`.rules` checks the membership afterwards against spec §6; :mod:`.corpus` keeps
the interesting cases as JSON regression data. ``python -m tests.interop.differential``
runs everything and prints the summary (``--update-corpus`` rewrites the corpus).
See docs/interop.md, "Differential tests".
"""
