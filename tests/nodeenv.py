"""The Node.js interop environment (tchannel-node, ringpop-node) for tests.

``interop/node/setup.sh`` installs pinned ``tchannel@3.10.1`` and
``ringpop@10.21.0`` into ``interop/node/node_modules`` (see docs/interop.md).
Tests call :func:`node_modules_dir` to make sure it is installed; the first
call in a process runs the installer under a file lock, so parallel pytest
processes never run ``npm ci`` over each other, and later calls are free.

* no ``node`` on PATH -> the test is skipped (the machine cannot run interop);
* the installer fails -> :class:`NodeEnvError` is raised and the test fails
  with the installer's output: a broken install must never look like a skip.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
INTEROP_NODE_DIR = REPO_ROOT / "interop" / "node"
SETUP_SCRIPT = INTEROP_NODE_DIR / "setup.sh"
LOCK_FILE = INTEROP_NODE_DIR / ".setup.lock"

# Bounds for the installer: waiting for another process's install, and our own run.
LOCK_TIMEOUT_S = 900.0
SETUP_TIMEOUT_S = 900.0


class NodeEnvError(RuntimeError):
    """The Node.js interop environment could not be installed."""


_state_lock = threading.Lock()
_ready: Path | None = None
_failure: str | None = None


def node_binary() -> str:
    """Absolute path of ``node``; skips the calling test when node is missing."""
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the Node.js interop tests need node >= 18 on PATH")
    return found


def interop_script(name: str) -> Path:
    """Path of a script in interop/node (e.g. ``"admin-call.js"``)."""
    path = INTEROP_NODE_DIR / name
    if not path.is_file():
        raise NodeEnvError(f"interop script not found: {path}")
    return path


def _acquire(fd: int) -> None:
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise NodeEnvError(
                    f"timed out after {LOCK_TIMEOUT_S:.0f} s waiting for {LOCK_FILE} "
                    "(another process is installing the Node.js interop environment)"
                ) from None
            time.sleep(0.2)


def _run_setup(node: str) -> Path:
    env = dict(os.environ)
    # We hold the installer's lock ourselves; tell setup.sh not to take it again.
    env["RINGPOP_INTEROP_SETUP_LOCKED"] = "1"
    # setup.sh must use the same node we found.
    env["PATH"] = os.pathsep.join([str(Path(node).parent), env.get("PATH", "")])
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd)
        try:
            proc = subprocess.run(
                ["bash", str(SETUP_SCRIPT)],
                cwd=INTEROP_NODE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=SETUP_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else ""
            raise NodeEnvError(
                f"{SETUP_SCRIPT} did not finish within {SETUP_TIMEOUT_S:.0f} s:\n{output}"
            ) from None
    finally:
        os.close(fd)
    output = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise NodeEnvError(f"{SETUP_SCRIPT} failed with exit status {proc.returncode}:\n{output}")
    modules = INTEROP_NODE_DIR / "node_modules"
    if not (modules / "tchannel").is_dir() or not (modules / "ringpop").is_dir():
        raise NodeEnvError(f"{SETUP_SCRIPT} succeeded but {modules} is incomplete:\n{output}")
    return modules


def node_modules_dir() -> Path:
    """Install the interop environment if needed (once per process) and return its node_modules.

    Skips the calling test when node is not installed; raises :class:`NodeEnvError`
    (failing the test) with the installer's output when the install fails.
    """
    global _ready, _failure
    node = node_binary()
    with _state_lock:
        if _ready is not None:
            return _ready
        if _failure is not None:
            raise NodeEnvError(_failure)
        try:
            _ready = _run_setup(node)
        except NodeEnvError as exc:
            _failure = str(exc)
            raise
        return _ready


class AdminCallError(RuntimeError):
    """An ``admin-call.js`` call failed (transport error, timeout or not-OK answer)."""


def admin_call(host_port: str, endpoint: str, body: str = "", timeout_s: float = 5.0) -> str:
    """Call ``endpoint`` of the ringpop node at ``host_port`` through tchannel-node.

    Uses ``interop/node/admin-call.js`` (service ``ringpop``, ``as=raw``) and
    returns arg3 of the answer; raises :class:`AdminCallError` otherwise.
    """
    node_modules_dir()
    timeout_ms = max(1, int(timeout_s * 1000))
    try:
        proc = subprocess.run(
            [
                node_binary(),
                str(interop_script("admin-call.js")),
                host_port,
                endpoint,
                body,
                f"--timeout={timeout_ms}",
            ],
            cwd=INTEROP_NODE_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s + 10.0,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AdminCallError(f"{endpoint} on {host_port}: admin-call.js hung") from None
    if proc.returncode != 0:
        raise AdminCallError(
            f"{endpoint} on {host_port}: exit {proc.returncode}: {proc.stderr.strip()}"
        )
    return proc.stdout.rstrip("\n")
