"""TLS on the command line: ``tick-cluster --tls`` and the ``--tls-*`` flags' errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import REPO_ROOT, run_cli

CONVERGED = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} converged in [\d.]+ s: (\d+) nodes", re.M)


@pytest.mark.cluster
def test_tick_cluster_tls_runs_the_examples_in_mutual_tls() -> None:
    proc = run_cli(
        "tick-cluster", "-n", "3", "--example", "kv", "--tls", "--base-port", "0",
        "--duration", "4",
        timeout=60,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert [int(n) for n in CONVERGED.findall(out)][-1:] == [3], out
    assert "# TLS: mutual, hostnames checked; throwaway CA and certificates in" in out
    query = re.search(r"^# query it: (.*) admin status (\S+) (--tls-ca=\S+ .*?)   ", out, re.M)
    assert query is not None, out
    assert "--tls-cert=" in query.group(3)
    assert "# stopped 3 nodes: 3 exited after SIGTERM" in out
    assert "Traceback" not in proc.stderr


def test_tls_setup_errors_are_clear() -> None:
    foreign = run_cli("tick-cluster", "--tls", "--program", "node ringpop.js", "--duration", "1")
    assert foreign.returncode == 1
    assert "only testpop and the examples speak TLS" in foreign.stderr

    no_crypto = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['cryptography'] = None\n"
            "from ringpop.cli.tickrun import main\n"
            "sys.exit(main(['--tls', '--base-port', '0', '--duration', '1']))",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=REPO_ROOT,
    )
    assert no_crypto.returncode == 1
    assert "pip install 'ringpop[tls]'" in no_crypto.stderr
    assert "Traceback" not in no_crypto.stderr

    for flags, message in (
        (["--tls-key", "k.pem"], "--tls-key needs --tls-cert"),
        (["--tls-ca", "/nonexistent/ca.pem"], "cannot read the CA bundle /nonexistent/ca.pem"),
        (["--tls-check-hostname"], "TLS needs --tls-ca"),
    ):
        admin = run_cli("admin", "status", "127.0.0.1:1", *flags)
        assert admin.returncode == 2, admin.stderr
        assert message in admin.stderr
        assert "Traceback" not in admin.stderr


def test_testpop_with_unreadable_certificate_files_exits_with_one_line(tmp_path: Path) -> None:
    cert = tmp_path / "node.pem"
    cert.write_text("not a certificate\n")
    hosts = tmp_path / "hosts.json"
    hosts.write_text('["127.0.0.1:1"]')
    proc = run_cli(
        "testpop", "--listen", "127.0.0.1:0", "--hosts", str(hosts), "--tls-cert", str(cert)
    )
    assert proc.returncode == 2, proc.stderr
    assert f"testpop: TLS: {cert}: no PEM certificate found" in proc.stderr
    assert "Traceback" not in proc.stderr
