"""The checks of a received page: valid answers to a scan, or ``ValueError``.

A page another node sent is checked whole before anything of it is applied: every
record's hash is its key's (recomputed here), ``(hash, key)`` strictly increases
after the cursor asked from, every hash lies in the range asked for, the page holds
at most the records asked for, and its cursor (if any) is its last record. One
check per page format: :func:`check_page` (``/1``), :func:`check_packed` (``/2``),
:func:`check_blob_page` (``/3``). :class:`~ringpop.state.transfer.RangeClient` runs
them and turns their errors into ``TransferError``.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence

from ringpop.hashing import fingerprint32_blob, fingerprint32_many
from ringpop.ring.ownership import Range
from ringpop.state.blob import Blob
from ringpop.state.blobpage import BlobPage
from ringpop.state.columns import ties
from ringpop.state.packed import Packed
from ringpop.state.store import Columns, Cursor

__all__ = ["check_blob_page", "check_packed", "check_page", "range_text"]


def check_page(page: Columns, range: Range, cursor: Cursor | None, limit: int) -> array[int]:
    """The hashes of ``page``'s keys if it is a valid answer to a scan; else ``ValueError``.

    Valid: parallel arrays of one length, at most ``limit`` records, every key's hash
    in ``range``, strictly increasing ``(hash, key)`` after ``cursor``, and a cursor
    (if any) equal to the last record.
    """
    keys = page.keys
    count = len(keys)
    lengths = {len(page.values), len(page.walls), len(page.logicals), len(page.nodes)}
    if lengths != {count}:
        raise ValueError(f"a page's arrays differ in length ({count} keys, {sorted(lengths)})")
    if count > limit:
        raise ValueError(f"{count} records for a limit of {limit}")
    hashes = fingerprint32_many(keys)
    if not count:
        if page.cursor is not None:
            raise ValueError("an empty page with a cursor")
        return hashes
    _check_order(hashes, keys, range, cursor, page.cursor)
    return hashes


def check_packed(page: Packed, range: Range, cursor: Cursor | None, limit: int) -> None:
    """``ValueError`` unless ``page`` is a valid answer to a scan (as :func:`check_page`).

    Valid: at most ``limit`` records, every hash the key's ``fingerprint32``, strictly
    increasing ``(hash, key)`` after ``cursor``, every hash in ``range``, a cursor (if
    any) equal to the last record. Sets ``page.ordered``. Every step runs in C over
    the columns: the hashes are recomputed with one ``map`` and compared as bytes.
    """
    keys = page.keys
    _check_hashed(page, keys, lambda: fingerprint32_many(keys), range, cursor, limit)


def check_blob_page(page: BlobPage, range: Range, cursor: Cursor | None, limit: int) -> None:
    """``ValueError`` unless ``page`` is a valid answer to a scan (as :func:`check_packed`).

    The keys' hashes are computed from the blob in one call (native where built) and
    compared as memory; only the keys the order check reads become objects (the
    first, the last and those sharing a hash). Sets ``page.ordered``.
    """
    blob = page.blob
    keys = _Keys(blob)
    _check_hashed(
        page, keys, lambda: fingerprint32_blob(blob.keys, blob.key_ends), range, cursor, limit
    )


def _check_hashed(
    page: Packed | BlobPage,
    keys: Sequence[str],
    hash_keys: Callable[[], array[int]],
    range: Range,
    cursor: Cursor | None,
    limit: int,
) -> None:
    """The checks of :func:`check_packed` and :func:`check_blob_page`: ``keys`` read the
    page's keys, ``hash_keys`` computes their hashes (compared with the page's as
    memory). Sets ``page.ordered`` once every check passed."""
    count = len(page)
    if count > limit:
        raise ValueError(f"{count} records for a limit of {limit}")
    if count:
        hashes = hash_keys()
        if hashes != page.hashes:
            bad = next(
                i for i, (h, g) in enumerate(zip(hashes, page.hashes, strict=True)) if h != g
            )
            raise ValueError(f"record {keys[bad]!r}: hash {page.hashes[bad]} is not its key's")
        _check_order(page.hashes, keys, range, cursor, page.cursor)
    elif page.cursor is not None:
        raise ValueError("an empty page with a cursor")
    page.ordered = True


class _Keys(Sequence[str]):
    """A blob's keys as a sequence: each read decodes one key."""

    def __init__(self, blob: Blob) -> None:
        self._blob = blob

    def __len__(self) -> int:
        return len(self._blob)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        return self._blob.key(i)


def range_text(r: Range) -> str:
    """``r`` as ``[start, end)``, for messages."""
    return f"[{r.start}, {r.end})"


def _check_order(
    hashes: Sequence[int],
    keys: Sequence[str],
    range: Range,
    cursor: Cursor | None,
    page_cursor: Cursor | None,
) -> None:
    """``ValueError`` unless the (non-empty) records strictly increase in ``(hash, key)``
    after ``cursor``, lie in ``range``, and ``page_cursor`` (if any) is the last one.

    Whole-column checks (:func:`~ringpop.state.columns.ties`): the hashes never
    decrease, and where two are equal (a 32-bit hash repeats about once per 8 000
    neighbours in a million keys) the keys increase.
    """
    previous = (cursor.hash, cursor.key) if cursor is not None else (-1, "")
    first, last = (hashes[0], keys[0]), (hashes[-1], keys[-1])
    equal = ties(hashes)
    if not previous < first or equal is None:
        _out_of_order(hashes, keys, previous)
    for i in equal or ():
        if keys[i] >= keys[i + 1]:
            raise ValueError(f"record {keys[i + 1]!r} out of order")
    # (hash, key) strictly increasing: the hashes are sorted, so the ends bound them all
    for hash, key in (first, last):
        if hash not in range:
            raise ValueError(f"record {key!r} is outside {range_text(range)}")
    if page_cursor is not None and (page_cursor.hash, page_cursor.key) != last:
        raise ValueError("the page's cursor is not its last record")


def _out_of_order(hashes: Sequence[int], keys: Sequence[str], previous: tuple[int, str]) -> None:
    """Raise the ``ValueError`` naming the first record out of ``(hash, key)`` order."""
    positions = list(zip(hashes, keys, strict=True))
    for before, (hash, key) in zip([previous, *positions], positions, strict=False):
        if (hash, key) <= before:
            raise ValueError(f"record {key!r} out of order")
    raise AssertionError("no record out of order")  # pragma: no cover - callers checked
