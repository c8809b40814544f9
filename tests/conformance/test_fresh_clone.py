"""On a fresh clone (no ``../shared/spec``) the conformance tests still schema-check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import CALL_TIMEOUT, SERVICE, load_schemas

pytestmark = pytest.mark.cluster


@pytest.fixture
def no_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RINGPOP_SPEC_DIR", str(tmp_path / "no-spec"))
    load_schemas.cache_clear()
    try:
        yield
    finally:
        monkeypatch.undo()
        load_schemas.cache_clear()


async def test_cluster_runs_and_checks_without_the_spec(
    no_spec: None, cluster: MakeCluster
) -> None:
    assert load_schemas() is None
    c = await cluster(2)
    assert c.schemas.spec is None, "no spec: only our schemas"
    reply = await c.ping(c.fakes[0], c.ping_body(c.fakes[0]))
    assert reply.ok, reply.raw
    members = await c.members()
    assert set(members) == {c.sut, *(f.address for f in c.fakes)}
    assert c.violations == [], "the SUT's messages pass our schemas"

    # A ping "from the SUT" that breaks our schemas, sent over TCP to a fake: the fake's
    # check must catch it. A float incarnation passes ringpop-common's "number" (spec §1:
    # a go peer refuses it); an extra field is refused by both.
    a, b = c.fakes
    bad = {**c.ping_body(a), "source": c.sut, "sourceIncarnationNumber": 1000.0, "extra": 1}
    before = len(c.violations)
    response = await a.channel.call(
        b.address,
        SERVICE,
        "/protocol/ping",
        b"",
        json.dumps(bad).encode(),
        timeout=CALL_TIMEOUT,
        scheme="raw",
    )
    assert response.ok
    caught = c.violations[before:]
    del c.violations[before:]  # ours, on purpose: not the SUT's
    schema_errors = [v for v in caught if "PingRequest: ours:" in v]
    assert any("sourceIncarnationNumber: 1000.0 is not of type 'integer'" in v for v in caught)
    assert any("'extra' was unexpected" in v for v in schema_errors), caught
    assert len(schema_errors) == 2, caught
