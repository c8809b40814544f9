"""The ``ringpop`` command line: testpop, tick-cluster, admin and dashboard (see docs/cli.md)."""
