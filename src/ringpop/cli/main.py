"""``ringpop`` command: dispatches to subcommands, importing only the one used."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: ringpop <command> [options]

commands:
  testpop       run one node with the conformance program's command line
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
    print(f"ringpop: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
