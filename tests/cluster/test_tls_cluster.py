"""A mutual-TLS cluster of real ``testpop`` processes; outsiders cannot join it.

Certificates come from ``ringpop.cli.tlscerts`` (what ``tick-cluster --tls`` uses):
three nodes converge over mutual TLS, ``ringpop admin`` reads them with the CA and
a client certificate, and two would-be members (a plaintext node, and one whose
certificate comes from another CA) stay out while the nodes log who was refused.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ringpop.cli.tlscerts import ClusterCerts, make_cluster_certs
from ringpop.tchannel import Channel
from ringpop.tchannel.tlsgen import make_ca, make_cert
from tests.cluster.procs import (
    REPO_ROOT,
    Admin,
    Cluster,
    allocate_ports,
    converged,
    wait_until,
)

pytestmark = pytest.mark.cluster

CONVERGE_TIMEOUT_S = 40.0


@pytest.fixture
async def tls_admin() -> AsyncIterator[Callable[[ClusterCerts], Admin]]:
    made: list[Admin] = []

    def make(certs: ClusterCerts) -> Admin:
        admin = Admin(timeout=1.0)
        admin.channel = Channel(tls=certs.admin_tls())  # the plain one never connected
        made.append(admin)
        return admin

    try:
        yield make
    finally:
        for admin in made:
            await admin.close()


def admin_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ringpop.cli.main", "admin", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_mutual_tls_cluster_converges_and_keeps_outsiders_out(
    make_cluster: Callable[..., Cluster],
    tls_admin: Callable[[ClusterCerts], Admin],
    admin: Admin,
    tmp_path: Path,
) -> None:
    cluster = make_cluster()
    ports = allocate_ports(5)
    addresses = [f"127.0.0.1:{port}" for port in ports[:3]]
    plain_node, stranger_node = (f"127.0.0.1:{port}" for port in ports[3:])
    certs = make_cluster_certs(tmp_path / "tls", addresses)
    hosts = cluster.hosts_file("hosts.json", addresses)
    for address in addresses:
        cluster.spawn(address, hosts, extra_args=certs.node_flags(address))
    secure = tls_admin(certs)
    await wait_until(
        secure,
        addresses,
        lambda s: converged(s, addresses),
        timeout=CONVERGE_TIMEOUT_S,
        cluster=cluster,
    )

    # Outsiders try to join: one without TLS, one with a certificate from another CA.
    outsiders = cluster.hosts_file("outsiders.json", [*addresses, plain_node, stranger_node])
    plain = cluster.spawn(plain_node, outsiders)
    other_ca = make_ca("not the cluster's CA")
    cert, key = make_cert(other_ca, "stranger", ips=["127.0.0.1"]).write(tmp_path, "stranger")
    stranger = cluster.spawn(
        stranger_node,
        outsiders,
        extra_args=[f"--tls-cert={cert}", f"--tls-key={key}", f"--tls-ca={certs.ca_file}"],
    )

    # ringpop admin reaches the cluster with the CA and a client certificate...
    done = await asyncio.to_thread(
        admin_cli, "status", addresses[0], "--json", *certs.admin_flags()
    )
    assert done.returncode == 0, done.stderr
    members = {m["address"] for m in json.loads(done.stdout)["members"]}
    assert members == set(addresses)
    # ...and not without one.
    done = await asyncio.to_thread(
        admin_cli, "status", addresses[0], "--tls-ca", str(certs.ca_file), "--timeout", "1"
    )
    assert done.returncode == 1
    assert "client certificate" in done.stderr
    assert await admin.stats(addresses[0]) is None  # plaintext admin

    # Both outsiders have tried by now (joins retry within 0.1-0.2 s); the three agree
    # on three members all along.
    await asyncio.sleep(2.0)
    await wait_until(
        secure, addresses, lambda s: converged(s, addresses), timeout=5.0, cluster=cluster
    )
    cluster.check_running([p for p in cluster.procs if p not in (plain, stranger)])
    plain_log, stranger_log = plain.log_tail(20_000), stranger.log_tail(20_000)
    assert "does the peer require TLS?" in plain_log
    assert "does the peer accept our client certificate?" in stranger_log
    node_logs = "".join(p.log_tail(20_000) for p in cluster.procs[:3])
    assert "TLS handshake from 127.0.0.1:" in node_logs
    assert "wrong version number" in node_logs  # the plaintext node's init request
