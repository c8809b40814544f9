"""``python -m examples.objects``: run one node (same flags as ``examples.objects.node``)."""

import sys
from pathlib import Path

if not __package__:  # run as `python examples/objects`: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.objects.node import main

sys.exit(main())
