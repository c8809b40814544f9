"""The ``ringpop`` command line: testpop, and (later) tick-cluster and admin tools."""
