"""The least CPU a puller spends a record: the bound on "half the TChannel floor".

A puller receiving a handoff page must at least decode it into something its store
keeps and check that each record's hash is its key's FarmHash (or a peer could
place records in ranges they do not belong to). This script does exactly that and
nothing else, in a fresh process, for four shapes of page (``--shape``); pages of
``--page`` records (keys shaped like ``bench/handoff.py``'s, values of 100 B) are
encoded beforehand, then, timed, each is decoded, checked and kept. No order
check, clock, store or transport.

* ``objects``: msgpack ``[keys, values, hashes]``, one typed msgspec decode into key
  and value objects, one ``map`` of FarmHash over the keys compared with the page's
  hashes as memory: the least any puller that builds objects does.
* ``values-blob``: the same with the values as one blob per page (only the keys
  become objects).
* ``page3``: a ``ringpop-state-page/3`` page (keys and values as blobs), decoded by
  ``decode_blob_page`` (its structure checks included) and hashed by
  ``fingerprint32_blob`` (native where built), its blobs copied into an
  :class:`~ringpop.state.arena.Arena` (memory advised huge pages): what ringpop's
  puller into a MemoryStore does before its order check.
* ``page3-malloc``: the same, the blobs copied into ordinary ``bytes`` instead
  (the baseline of the arena: what the puller did before it).

Why it bounds the target: the puller runs on one core, so a record costs it the
floor's own CPU for the record's bytes (``F``, TChannel) plus its work (``W``); the
floor runs at ``1 / F`` at best. The pull reaches half the floor only if ``W <= F``.
``bench/handoff.py`` prints this script's figure beside its measured ``F``.

Run: ``.venv/bin/python bench/least_work.py [--shape objects] [--records 500000] [--warm-mib 512]``;
prints one JSON line (µs a record: ``cpu``, ``kernel``; ``faults`` per 1000 records).
"""

from __future__ import annotations

import argparse
import json
import mmap
import resource
import time
from array import array

import msgspec

from ringpop.hashing import fingerprint32_blob, fingerprint32_unchecked
from ringpop.state.arena import Arena
from ringpop.state.blob import Blob
from ringpop.state.blobpage import BlobPage, decode_blob_page, encode_blob_page
from ringpop.state.packed import Packed

SHAPES = ("objects", "values-blob", "page3", "page3-malloc")


class _Page(msgspec.Struct, array_like=True):
    keys: list[str]
    values: list[bytes]
    hashes: bytes


class _BlobPage(msgspec.Struct, array_like=True):
    """Values as one blob and their end offsets: no value object at all."""

    keys: list[str]
    values: bytes
    ends: bytes
    hashes: bytes


def pages(records: int, page: int, shape: str) -> list[bytes]:
    """Encoded pages of ``records`` records in all (not timed)."""
    encoder = msgspec.msgpack.Encoder()
    out = []
    for start in range(0, records, page):
        keys = [f"key-{i:08d}" for i in range(start, min(records, start + page))]
        hashes = array("I", map(fingerprint32_unchecked, keys)).tobytes()
        if shape.startswith("page3"):
            count = len(keys)
            packed = Packed.of(keys, [b"v" * 100] * count, [1] * count, [0] * count, ["w"] * count)
            out.append(encode_blob_page(packed)[0])
            continue
        if shape == "values-blob":
            ends = array("I", range(100, 100 * len(keys) + 1, 100)).tobytes()
            body: object = _BlobPage(keys, b"v" * 100 * len(keys), ends, hashes)
        else:
            body = _Page(keys, [b"v" * 100] * len(keys), hashes)
        out.append(encoder.encode(body))
    return out


def receive(encoded: list[bytes], shape: str) -> list[_Page | _BlobPage | BlobPage]:
    """Decode, check and keep every page: the least work a record takes (timed)."""
    kept: list[_Page | _BlobPage | BlobPage] = []
    if shape.startswith("page3"):  # the blobs kept as a MemoryStore keeps them: in an arena
        keep = Arena().keep if shape == "page3" else bytes
        for data in encoded:
            page3 = decode_blob_page(data)
            blob = page3.blob
            if fingerprint32_blob(blob.keys, blob.key_ends) != page3.hashes:
                raise ValueError("a hash is not its key's")
            page3.blob = Blob(keep(blob.keys), blob.key_ends, keep(blob.values), blob.value_ends)
            kept.append(page3)
        return kept
    decoder: msgspec.msgpack.Decoder[_Page | _BlobPage] = msgspec.msgpack.Decoder(
        _BlobPage if shape == "values-blob" else _Page
    )
    decode = decoder.decode
    for data in encoded:
        page = decode(data)
        sent = array("I")
        sent.frombytes(page.hashes)
        if array("I", map(fingerprint32_unchecked, page.keys)) != sent:
            raise ValueError("a hash is not its key's")
        kept.append(page)
    return kept


def warm(mib: int) -> None:
    """Touch ``mib`` MiB and give them back: memory taken afterwards is not the VM's
    first touch (on a VM that backs guest memory lazily, a first touch costs several
    µs a page; a page the guest touched before costs about a tenth). ``bench/handoff.py
    --warm-mib`` uses it too. The MiB are touched twice: as ordinary memory, and as
    memory advised huge pages (where the kernel has them), since a huge page the
    guest takes for the first time costs the host's backing of all its 2 MiB."""
    if mib > 0:
        blob = bytearray(mib << 20)
        blob[::4096] = b"\x01" * len(range(0, len(blob), 4096))
        del blob
        huge = getattr(mmap, "MADV_HUGEPAGE", None)
        if huge is not None:
            with mmap.mmap(-1, mib << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as memory:
                memory.madvise(huge)
                view = memoryview(memory)
                view[::4096] = b"\x01" * len(range(0, len(view), 4096))
                view.release()


def measure(records: int, page: int, warm_mib: int, shape: str) -> dict[str, float]:
    """CPU and kernel µs a record, page faults per 1000 records, of :func:`receive`."""
    warm(warm_mib)
    encoded = pages(records, page, shape)
    before, cpu = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
    kept = receive(encoded, shape)
    cpu = time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert sum(len(p) if isinstance(p, BlobPage) else len(p.keys) for p in kept) == records
    return {
        "cpu": cpu / records * 1e6,
        "kernel": (after.ru_stime - before.ru_stime) / records * 1e6,
        "faults": (after.ru_minflt - before.ru_minflt) / records * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--page", type=int, default=5400, help="records per page")
    parser.add_argument("--warm-mib", type=int, default=0)
    parser.add_argument("--shape", choices=SHAPES, default="objects", help="the page's shape")
    args = parser.parse_args()
    figures = measure(args.records, args.page, args.warm_mib, args.shape)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
