"""Drift between our schemas and ringpop-common's: same verdicts on a message corpus.

Our schemas (``schemas.py``) are written from the spec's field tables; the spec keeps a
copy of ringpop-common's (testpop.md §4). When that copy is checked out, every message
our node sends (``corpus.py``) and every mutated variant of it must get the same
accept/reject verdict from both, except where the spec's tables make ours stricter
(:data:`STRICTER`, :data:`STRICTER_AT`): there ours rejects what ringpop-common's
accepts, never the other way round. A difference not listed here fails the test: fix
our schema if the spec supports it, or list it with its spec section.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conformance.corpus import Mutant, Sample, mutations, sent_messages
from tests.conformance.schemas import OurSchemas, SpecSchemas, load_spec_schemas

pytestmark = pytest.mark.skipif(
    load_spec_schemas() is None,
    reason="ringpop-common's schemas not found (RINGPOP_SPEC_DIR or ../shared/spec/schema)",
)

STRICTER: dict[str, str] = {
    "negative": "§2.1, §1.1 rule 2: incarnation numbers are int64 >= 0; §1: checksums are "
    "uint32 (ringpop-common: any number)",
    "float": "§1 Numbers: JSON integers only; a go peer fails the whole message on 1000.0 "
    "(ringpop-common: any number)",
    "fraction": "§1 Numbers: JSON integers only (ringpop-common: any number)",
    "2^64": "§2.1 int64, §2.3 timestamp int64, §1 checksums uint32 (ringpop-common: any number)",
    "not host:port": "§1 Address: host:port, exactly one ':' and a numeric port "
    "(ringpop-common: any string)",
}
"""Mutation kinds where our schemas are stricter, wherever they apply."""

STRICTER_AT: dict[tuple[str, tuple[str | int, ...], str], str] = {
    ("StatsResponse", ("membership", "checksum"), "zero"): "§5.1: membership.checksum must be "
    "non-zero (the suite checks it for truth; ringpop-common: any number)",
}
"""(schema, path, kind) where our schemas are stricter at that one place."""


def _shared_samples(spec: SpecSchemas) -> list[Sample]:
    return [s for s in sent_messages() if s.schema in spec.names]


def _spec() -> SpecSchemas:
    spec = load_spec_schemas()
    assert spec is not None
    return spec


def _explained(sample: Sample, mutant: Mutant) -> str | None:
    return STRICTER_AT.get((sample.schema, mutant.path, mutant.kind)) or STRICTER.get(mutant.kind)


def test_every_ringpop_common_schema_has_ours() -> None:
    spec = _spec()
    assert spec.names <= OurSchemas().names
    assert {s.schema for s in sent_messages()} >= spec.names


@pytest.mark.parametrize("sample", sent_messages(), ids=lambda s: s.label)
def test_messages_we_send_pass_both(sample: Sample) -> None:
    spec = _spec()
    assert OurSchemas().errors(sample.schema, sample.body) == []
    if sample.schema in spec.names:
        assert spec.errors(sample.schema, sample.body) == []


def test_same_verdicts_on_every_mutant() -> None:
    spec, ours = _spec(), OurSchemas()
    unexplained: list[str] = []
    looser: list[str] = []
    seen: Counter[str] = Counter()
    verdicts: Counter[tuple[bool, bool]] = Counter()
    for sample in _shared_samples(spec):
        for mutant in mutations(sample):
            we_accept = not ours.errors(sample.schema, mutant.body)
            they_accept = not spec.errors(sample.schema, mutant.body)
            verdicts[we_accept, they_accept] += 1
            if we_accept == they_accept:
                continue
            where = f"{sample.label} {mutant.kind} at {'/'.join(map(str, mutant.path))}"
            if we_accept:
                looser.append(where)
                continue
            reason = _explained(sample, mutant)
            if reason is None:
                unexplained.append(where)
            else:
                seen[reason] += 1
    assert looser == [], f"ours accept what ringpop-common's refuse: {looser}"
    assert unexplained == [], f"verdicts differ without a documented reason: {unexplained}"
    documented = set(STRICTER.values()) | set(STRICTER_AT.values())
    assert set(seen) == documented, f"documented but never seen: {documented - set(seen)}"
    # The corpus exercises both verdicts on both sides.
    assert verdicts[True, True] > 50
    assert verdicts[False, False] > 200
