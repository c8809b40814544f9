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


handoff_bench = load_bench("handoff")


@pytest.mark.parametrize("handed", [False, True])
@pytest.mark.parametrize("max_bytes", [0, 700])
async def test_the_source_bound_makes_a_page_of_every_record_once(
    handed: bool, max_bytes: int
) -> None:
    """``least_source_work`` times making pages of the whole store: each record in
    one page, also when the encoder cuts a page short of what the store gave."""
    from ringpop.hashing import fingerprint32
    from ringpop.ring.ownership import Range
    from ringpop.state.blobpage import decode_blob_page, encode_blob_page
    from ringpop.state.checks import check_blob_page
    from ringpop.state.memory import MemoryStore
    from ringpop.state.packed import Packed
    from ringpop.state.store import Columns

    store = MemoryStore()
    keys = sorted((f"key-{i:05d}" for i in range(300)), key=lambda k: (fingerprint32(k), k))
    values: list[bytes | None] = [b"v" * 100] * len(keys)
    if handed:
        for start in range(0, len(keys), 50):
            chunk = keys[start : start + 50]
            packed = Packed.of(chunk, values[:50], [1] * 50, [0] * 50, ["n"] * 50)
            page = decode_blob_page(encode_blob_page(packed)[0])
            check_blob_page(page, Range(0, 1 << 32), None, 50)
            await store.put_blob_page(page)
    else:
        await store.put_many_if_newer(Columns(keys, values, [1] * 300, [0] * 300, ["n"] * 300))
    done = await handoff_bench.least_source_work(store, 7, max_bytes, 10_000)
    assert done["records"] == 300
    assert (await handoff_bench.least_source_work(store, 7, max_bytes, 20))["records"] in (20, 21)
