"""The state bench scripts' own logic: what they time must be the work they claim."""

from __future__ import annotations

import msgspec
import pytest

from tests.benchload import load_bench

least_work = load_bench("least_work")
store_bench = load_bench("store")


@pytest.mark.parametrize("blob", [False, True])
def test_least_work_decodes_checks_and_keeps_every_record(blob: bool) -> None:
    encoded = least_work.pages(20, 7, blob)
    kept = least_work.receive(encoded, blob)
    assert [len(page.keys) for page in kept] == [7, 7, 6]
    assert kept[0].keys[0] == "key-00000000"


@pytest.mark.parametrize("blob", [False, True])
def test_least_work_refuses_a_hash_that_is_not_the_keys(blob: bool) -> None:
    kind = least_work._BlobPage if blob else least_work._Page
    page = msgspec.msgpack.decode(least_work.pages(5, 5, blob)[0], type=kind)
    wrong = bytearray(page.hashes)
    wrong[0] ^= 1
    bad = msgspec.msgpack.encode(msgspec.structs.replace(page, hashes=bytes(wrong)))
    with pytest.raises(ValueError, match="not its key"):
        least_work.receive([bad], blob)


async def test_store_bench_measures_both_layouts_over_the_same_operations() -> None:
    for segment in (64, 4000):
        figures = await store_bench.measure(2000, segment, 50)
        assert set(figures) == {"put new key", "update", "get", "scan (per record)"}
        assert all(value > 0 for value in figures.values())
