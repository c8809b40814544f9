"""``python -m examples.leader_job`` or ``python examples/leader_job``: run one node."""

import sys
from pathlib import Path

if not __package__:  # run as `python examples/leader_job`: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.leader_job.node import main

sys.exit(main())
