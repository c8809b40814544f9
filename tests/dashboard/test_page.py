"""The dashboard page in a real headless Chromium against 5 real testpop processes.

The checks read what the browser drew: the arcs' lengths (SVG ``getTotalLength``)
against each member's share of the hash space computed here from a ring of the same
servers, the owner the page shows against ``ringpop admin lookup``, a killed node's
status and its arc, and what the page says about nodes that cannot answer.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from ringpop.ring import HashRing
from tests.cli.helpers import free_ports, run_cli, stop
from tests.dashboard.conftest import SUSPECT_MS, Cluster

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = pytest.mark.cluster

SPACE = 1 << 32
PAGE_TIMEOUT_S = 15.0
# ping timeout + ping-req timeout + the suspect period + polling, with room for load.
DETECTION_TIMEOUT_S = 1.5 + 5.0 + SUSPECT_MS / 1000 + 10.0

ARCS_JS = """
const R = window.ringpopDashboard.R;
return [...document.querySelectorAll('#ring path.arc')].map((p) => ({
  address: p.dataset.address, cls: p.getAttribute('class'), stroke: p.getAttribute('stroke'),
  degrees: p.getTotalLength() / R * 180 / Math.PI}));
"""
ROWS_JS = """
return [...document.querySelectorAll(arguments[0] + ' tbody tr')].map(
  (tr) => [...tr.cells].map((td) => td.textContent.trim()));
"""


def wait_page(
    driver: WebDriver,
    script: str,
    check: Callable[[Any], bool],
    what: str,
    *args: Any,
    timeout: float = PAGE_TIMEOUT_S,
) -> Any:
    """Run ``script`` in the page until ``check`` accepts its result (bounded)."""
    deadline = time.monotonic() + timeout
    value: Any = None
    while True:
        value = driver.execute_script(script, *args)
        if check(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not seen within {timeout:.0f} s; last: {value!r}")
        time.sleep(0.1)


def expected_degrees(servers: list[str]) -> dict[str, float]:
    """Each server's share of the hash space in degrees: a point owns the hashes from
    just after the previous point (cyclically) up to itself."""
    ring = HashRing()
    ring.add_remove_servers(servers, ())
    distinct: list[tuple[int, str]] = []
    for h, address, _ in ring.points():
        if not distinct or distinct[-1][0] != h:
            distinct.append((h, address))
    owned = dict.fromkeys(servers, 0)
    for i, (h, address) in enumerate(distinct):
        owned[address] += (h - distinct[i - 1][0]) % SPACE
    assert sum(owned.values()) == SPACE
    # Cross-check the rule with real lookups: owners of random keys follow the shares.
    rng = random.Random(7)
    keys = [f"key-{rng.random()}" for _ in range(4000)]
    counts = dict.fromkeys(servers, 0)
    for key in keys:
        counts[ring.lookup(key) or ""] += 1
    for server in servers:
        assert abs(counts[server] / len(keys) - owned[server] / SPACE) < 0.03
    return {server: owned[server] / SPACE * 360 for server in servers}


def test_ring_arcs_match_the_shares(
    browser: WebDriver, cluster5: Cluster, dashboard: Callable[..., str]
) -> None:
    browser.get(dashboard(cluster5.addresses[0]))
    arcs = wait_page(browser, ARCS_JS, lambda a: len(a) == 5, "5 arcs")
    expected = expected_degrees(cluster5.addresses)
    assert sorted(a["address"] for a in arcs) == cluster5.addresses
    for arc in arcs:
        assert arc["degrees"] == pytest.approx(expected[arc["address"]], abs=0.1), arc
    assert len({a["stroke"] for a in arcs}) == 5  # a colour per member
    members = browser.execute_script(ROWS_JS, "#members")
    assert [row[0] for row in members] == cluster5.addresses
    assert {row[1] for row in members} == {"alive"}
    assert "all 5 answering nodes agree" in browser.find_element("id", "partitions").text


def test_lookup_shows_the_owner_the_cli_reports(
    browser: WebDriver, cluster5: Cluster, dashboard: Callable[..., str]
) -> None:
    browser.get(dashboard(cluster5.addresses[1]))
    wait_page(browser, ARCS_JS, lambda a: len(a) == 5, "5 arcs")
    for key in ("user:42", "order-7"):
        cli = run_cli("admin", "lookup", cluster5.addresses[1], key)
        assert cli.returncode == 0, cli.stderr
        box = browser.find_element("id", "lookup-key")
        box.clear()
        box.send_keys(key)
        browser.find_element("css selector", "#lookup-form button").click()
        shown = wait_page(
            browser,
            "const o = document.getElementById('lookup-owner');"
            "return o && document.getElementById('lookup-result').textContent.startsWith("
            "arguments[0] + ':') ? [o.textContent, "
            "document.getElementById('lookup-preference').textContent] : null;",
            lambda v: v is not None,
            f"the owner of {key}",
            key,
        )
        owner, preference = shown
        assert owner == cli.stdout.strip()
        ring = HashRing()
        ring.add_remove_servers(cluster5.addresses, ())
        assert preference.split(", ") == ring.lookup_n(key, 3)
        highlighted = [a["address"] for a in browser.execute_script(ARCS_JS) if " hl" in a["cls"]]
        assert sorted(highlighted) == sorted(ring.lookup_n(key, 3))


def test_bad_nodes_are_reported_and_the_rest_shown(
    browser: WebDriver, cluster5: Cluster, dashboard: Callable[..., str]
) -> None:
    unreachable, other, garbage = (f"127.0.0.1:{p}" for p in free_ports(3))
    fakes = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.dashboard.fakenodes",
            other.split(":")[1],
            garbage.split(":")[1],
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert fakes.stdout is not None
        assert fakes.stdout.readline().strip() == b"ready"
        browser.get(dashboard(unreachable))
        problem = wait_page(
            browser,
            "return document.getElementById('problem').textContent;",
            lambda t: "unreachable" in t,
            "the unreachable seed's banner",
        )
        assert unreachable in problem

        browser.get(dashboard(cluster5.addresses[0], unreachable, other, garbage))
        wait_page(browser, ARCS_JS, lambda a: len(a) == 5, "5 arcs")
        rows = wait_page(
            browser,
            ROWS_JS,
            lambda r: len(r) == 8,
            "8 node rows",
            "#nodes",
        )
        answers = {row[0]: row[1] for row in rows}
        assert "unreachable" in answers[unreachable]
        assert "not supported" in answers[other]
        assert "not a JSON object" in answers[garbage]
        assert all(answers[a] == "yes" for a in cluster5.addresses)
        assert not browser.find_element("id", "problem").is_displayed()
        timeline = browser.find_element("id", "timeline").text
        assert f"{garbage} does not answer" in timeline
    finally:
        stop([fakes])


def test_killed_node_turns_suspect_then_leaves_the_ring(
    browser: WebDriver, cluster5: Cluster, dashboard: Callable[..., str]
) -> None:
    seed, victim = cluster5.addresses[0], cluster5.addresses[3]
    browser.get(dashboard(seed))
    wait_page(browser, ARCS_JS, lambda a: len(a) == 5, "5 arcs")
    cluster5.procs[victim].kill()  # SIGKILL, by PID
    killed = time.monotonic()
    status_js = (
        "const tr = document.querySelector(`#members tr[data-address='${arguments[0]}']`);"
        "return tr ? tr.cells[1].textContent : null;"
    )
    # On the page: the member row says suspect, or (a loaded machine may draw a later
    # snapshot first) the timeline has kept the suspicion the dashboard saw.
    suspect_js = (
        status_js.replace("return tr", "const row = tr")
        + "return row === 'suspect' || [...document.querySelectorAll("
        "'#timeline div[data-kind=suspect]')].some((d) => d.textContent.includes("
        "arguments[0] + ' alive -> suspect'));"
    )
    wait_page(browser, suspect_js, bool, f"{victim} suspect", victim, timeout=DETECTION_TIMEOUT_S)
    arcs = wait_page(browser, ARCS_JS, lambda a: len(a) == 4, "4 arcs", timeout=DETECTION_TIMEOUT_S)
    gone_after = time.monotonic() - killed
    assert victim not in {a["address"] for a in arcs}
    assert sum(a["degrees"] for a in arcs) == pytest.approx(360, abs=0.01)
    assert browser.execute_script(status_js, victim) == "faulty"
    assert gone_after < DETECTION_TIMEOUT_S
    rows = {row[0]: row[1] for row in browser.execute_script(ROWS_JS, "#nodes")}
    assert rows[victim].startswith("no:")
    kinds = browser.execute_script(
        "return [...document.querySelectorAll('#timeline div')].map((d) => d.dataset.kind);"
    )
    assert {"suspect", "faulty", "ring", "down"} <= set(kinds)
