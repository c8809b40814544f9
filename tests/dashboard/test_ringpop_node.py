"""The dashboard against a ringpop-node 10.21.0 cluster (skipped without node).

The data layer (the poller over TChannel admin calls, the model) and the page: only
the admin endpoints both implementations serve are used, and ringpop-node's
``/admin/state`` error only stops the dashboard asking it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ringpop.admin.client import AdminClient
from ringpop.dashboard.poller import Poller
from ringpop.ring import HashRing
from tests.cli.helpers import free_ports, start_nodes, stop, wait_converged
from tests.dashboard.test_page import ARCS_JS, ROWS_JS, expected_degrees, wait_page
from tests.nodeenv import INTEROP_NODE_DIR, interop_script, node_binary, node_modules_dir

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = [pytest.mark.cluster, pytest.mark.interop]


@pytest.fixture(scope="module")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    node = node_binary()  # skips when node is not installed
    node_modules_dir()  # installs once; a broken install fails the test
    workdir: Path = tmp_path_factory.mktemp("dashboard-ringpop-node")
    addresses = [f"127.0.0.1:{port}" for port in free_ports(3)]
    procs = start_nodes(
        [node, str(interop_script("ringpop-node.js"))], addresses, workdir, cwd=INTEROP_NODE_DIR
    )
    try:
        wait_converged(addresses, workdir)
        yield sorted(addresses)
    finally:
        stop(procs)


async def test_poller_reads_a_ringpop_node_cluster(node_cluster: list[str]) -> None:
    async with AdminClient(timeout=2.0) as client:
        poller = Poller([node_cluster[0]], client, timeout=2.0)
        snap = await poller.poll_round()  # the seed, then the members it lists
    assert [m["address"] for m in snap["members"]] == node_cluster
    assert {m["status"] for m in snap["members"]} == {"alive"}
    assert all(isinstance(m["dampScore"], int | float) for m in snap["members"])  # node's field
    assert [n["address"] for n in snap["nodes"]] == node_cluster
    assert all(n["ok"] and "keys" not in n for n in snap["nodes"])  # no /admin/state
    assert snap["partitions"] == [{"checksum": snap["nodes"][0]["checksum"], "nodes": node_cluster}]
    expected = expected_degrees(node_cluster)
    for address, share in snap["ring"]["shares"].items():
        assert share * 360 == pytest.approx(expected[address], abs=1e-6)


def test_page_against_ringpop_node(
    browser: WebDriver, node_cluster: list[str], dashboard: Callable[..., str]
) -> None:
    browser.get(dashboard(node_cluster[0]))
    arcs = wait_page(browser, ARCS_JS, lambda a: len(a) == 3, "3 arcs")
    expected = expected_degrees(node_cluster)
    for arc in arcs:
        assert arc["degrees"] == pytest.approx(expected[arc["address"]], abs=0.1)
    rows = wait_page(browser, ROWS_JS, lambda r: len(r) == 3, "3 node rows", "#nodes")
    assert {row[1] for row in rows} == {"yes"}
    box = browser.find_element("id", "lookup-key")
    box.send_keys("user:42")
    browser.find_element("css selector", "#lookup-form button").click()
    owner = wait_page(
        browser,
        "const o = document.getElementById('lookup-owner'); return o && o.textContent;",
        bool,
        "the owner",
    )
    ring = HashRing()
    ring.add_remove_servers(node_cluster, ())
    assert owner == ring.lookup("user:42")  # ringpop-node runs Fingerprint32 here
    assert "differs" not in browser.find_element("id", "lookup-result").text
