"""The conformance tests run on a fresh clone, without the spec's JSON schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.conftest import MakeCluster
from tests.conformance.fakes import load_schemas

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


@pytest.mark.filterwarnings("ignore:spec JSON schemas not found")
async def test_cluster_runs_without_the_schemas(no_spec: None, cluster: MakeCluster) -> None:
    assert load_schemas() is None
    c = await cluster(2)
    assert c.schemas is None
    reply = await c.ping(c.fakes[0], c.ping_body(c.fakes[0]))
    assert reply.ok, reply.raw
    members = await c.members()
    assert set(members) == {c.sut, *(f.address for f in c.fakes)}
