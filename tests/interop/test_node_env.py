"""The Node.js interop environment installs itself and works."""

from __future__ import annotations

import subprocess

import pytest

from tests.nodeenv import INTEROP_NODE_DIR, node_binary, node_modules_dir

pytestmark = pytest.mark.interop


def test_env_installs_and_loads() -> None:
    modules = node_modules_dir()
    assert modules == INTEROP_NODE_DIR / "node_modules"
    script = (
        "const t = require('tchannel/package.json').version;"
        "const r = require('ringpop/package.json').version;"
        "require('tchannel'); require('ringpop');"
        "console.log(t + ' ' + r);"
    )
    out = subprocess.run(
        [node_binary(), "-e", script],
        cwd=INTEROP_NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert out == ["3.10.1", "10.21.0"]
