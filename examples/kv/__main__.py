"""``python -m examples.kv`` or ``python examples/kv``: run one key-value node.

Takes testpop's flags (``--listen= --hosts= --suspect-period= --faulty-period=
--tombstone-period=``) plus ``--http=ip:port`` (default: TChannel port + 1000).
"""

import sys
from pathlib import Path

if not __package__:  # run as `python examples/kv`: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.kv.node import main

sys.exit(main())
