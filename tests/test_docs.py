"""The documentation stays complete: every option is described in docs/options.md."""

from __future__ import annotations

from pathlib import Path

import msgspec.structs

from ringpop.options import Options

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_option_is_documented_with_its_default() -> None:
    text = (DOCS / "options.md").read_text()
    defaults = Options()
    missing = [
        f.name
        for f in msgspec.structs.fields(Options)
        if f"| `{f.name}` | `{getattr(defaults, f.name)!r}` |" not in text
    ]
    assert missing == [], f"docs/options.md lacks (or has a stale default for): {missing}"
