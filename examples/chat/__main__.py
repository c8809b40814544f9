"""``python -m examples.chat`` or ``python examples/chat``: run one chat node."""

import sys
from pathlib import Path

if not __package__:  # run as `python examples/chat`: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.chat.node import main

sys.exit(main())
