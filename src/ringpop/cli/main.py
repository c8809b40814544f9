"""``ringpop`` command: dispatches to subcommands, importing only the one used."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: ringpop <command> [options]

commands:
  testpop       run one node with the conformance program's command line
  tick-cluster  start a local cluster of N nodes and watch it live (keys: k K l j g p t s d q h)
  admin         inspect and steer any node: status, lookup, dump, partitions, checksums,
                count, join, leave, reap, gossip start|stop|tick|status, heal
  dashboard     a live web page of a cluster: ring, members, partitions, timeline
  simulate      N full nodes in virtual time, one scenario, figures against SWIM's theory

"ringpop <command> --help" describes a command's options.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``ringpop``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "testpop":
        from ringpop.cli import testpop

        return testpop.main(rest)
    if command == "tick-cluster":
        from ringpop.cli import tickrun

        return tickrun.main(rest)
    if command == "admin":
        from ringpop.cli import admin

        return admin.main(rest)
    if command == "dashboard":
        from ringpop.cli import dashboard

        return dashboard.main(rest)
    if command == "simulate":
        from ringpop.cli import simulate

        return simulate.main(rest)
    print(f"ringpop: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
