"""The state bench scripts' own logic: what they time must be the work they claim."""

from __future__ import annotations

import msgspec
import pytest

from tests.benchload import load_bench

least_work = load_bench("least_work")
store_bench = load_bench("store")


@pytest.mark.parametrize("shape", ["objects", "values-blob", "page3"])
def test_least_work_decodes_checks_and_keeps_every_record(shape: str) -> None:
    encoded = least_work.pages(20, 7, shape)
    kept = least_work.receive(encoded, shape)
    if shape == "page3":
        assert [len(page) for page in kept] == [7, 7, 6]
        assert kept[0].blob.key(0) == "key-00000000"
    else:
        assert [len(page.keys) for page in kept] == [7, 7, 6]
        assert kept[0].keys[0] == "key-00000000"


@pytest.mark.parametrize("shape", ["objects", "values-blob"])
def test_least_work_refuses_a_hash_that_is_not_the_keys(shape: str) -> None:
    kind = least_work._BlobPage if shape == "values-blob" else least_work._Page
    page = msgspec.msgpack.decode(least_work.pages(5, 5, shape)[0], type=kind)
    wrong = bytearray(page.hashes)
    wrong[0] ^= 1
    bad = msgspec.msgpack.encode(msgspec.structs.replace(page, hashes=bytes(wrong)))
    with pytest.raises(ValueError, match="not its key"):
        least_work.receive([bad], shape)


def test_least_work_page3_refuses_a_hash_that_is_not_the_keys() -> None:
    good = least_work.pages(5, 5, "page3")[0]
    body = msgspec.msgpack.decode(good)
    wrong = bytearray(body[10])  # the hashes
    wrong[0] ^= 1
    body[10] = bytes(wrong)
    with pytest.raises(ValueError, match="not its key"):
        least_work.receive([msgspec.msgpack.encode(body)], "page3")


async def test_store_bench_measures_both_layouts_over_the_same_operations() -> None:
    for segment in (64, 4000):
        figures = await store_bench.measure(2000, segment, 50)
        assert set(figures) == {"put new key", "update", "get", "scan (per record)"}
        assert all(value > 0 for value in figures.values())
