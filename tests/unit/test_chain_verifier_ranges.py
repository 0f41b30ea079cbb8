"""The chain check split into ranges (each verified on its own, as a worker process does, its
part pickled as it crosses processes) and joined in order gives exactly the single verifier's
report: the same problems in the same order, counts, checkpoint verdicts and running digests,
on the untouched log and on each tampering, wherever the range boundaries fall."""

from __future__ import annotations

import pickle
from itertools import combinations, pairwise

import pytest

from infra.eventstore.verify import StreamVerifier, VerificationReport
from tests.unit.test_chain_verifier_frames import LAYOUT, Stored, _log, _tampered

KEYS = [b"", b"chain-key"]


def _single(log: list[Stored], key: bytes) -> tuple[VerificationReport, list[str]]:
    verifier = StreamVerifier(LAYOUT, key=key)
    for s in log:
        verifier.frame(s.subject, s.seq, s.header, s.data)
    return verifier.report(), [verifier.digest_at(n) for n in range(len(log) + 2)]


def _in_ranges(
    log: list[Stored], key: bytes, starts: tuple[int, ...], *, first_apart: bool = False
) -> tuple[VerificationReport, list[str]]:
    """``log`` cut before each sequence in ``starts``, each range verified apart, then joined.
    The first range goes straight into the whole log's verifier, as `audit verify` does, or
    (``first_apart``) is joined like the others."""
    whole = StreamVerifier(LAYOUT, key=key)
    edges = [1, *starts, len(log) + 10]
    for first, end in pairwise(edges):
        if first == 1 and not first_apart:
            for s in log:
                if s.seq < end:
                    whole.frame(s.subject, s.seq, s.header, s.data)
            continue
        verifier = StreamVerifier(LAYOUT, key=key, range_part=True)
        for s in log:
            if first <= s.seq < end:
                verifier.frame(s.subject, s.seq, s.header, s.data)
        whole.join(pickle.loads(pickle.dumps(verifier.part())))
    return whole.report(), [whole.digest_at(n) for n in range(len(log) + 2)]


@pytest.mark.parametrize("key", KEYS)
def test_the_untouched_log_joins_to_the_same_report_at_every_cut(key: bytes) -> None:
    log = _log(key)
    single = _single(log, key)
    assert single[0].ok
    seqs = range(2, len(log) + 1)
    for starts in [*combinations(seqs, 1), *combinations(seqs, 2)]:
        assert _in_ranges(log, key, starts) == single, starts
        assert _in_ranges(log, key, starts, first_apart=True) == single, starts


CASES = _tampered(_log(b""))


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_tampering_joins_to_the_same_report_with_a_cut_at_or_near_it(case: str) -> None:
    log = CASES[case]
    single = _single(log, b"")
    changed = [i for i, s in enumerate(_log(b"")) if i >= len(log) or log[i] != s]
    near = {
        seq
        for i in changed or [len(log) - 1]
        for seq in (i, i + 1, i + 2, i + 3)
        if 2 <= seq <= len(log)
    }
    cuts = [(s,) for s in sorted(near)] + [
        (a, b) for a, b in combinations(sorted(near | {2, len(log)}), 2)
    ]
    for starts in cuts:
        assert _in_ranges(log, b"", starts) == single, (case, starts)
        assert _in_ranges(log, b"", starts, first_apart=True) == single, (case, starts)
    harmless = {
        "second hash header, same value",
        "padded values",
        "tracking header repeated",
        "headers reordered",
    }
    assert single[0].ok == (case in harmless)


def test_empty_ranges_and_a_range_of_checkpoints_only_join_alike() -> None:
    log = _log(b"")
    holed = [s for s in log if not 5 <= s.seq <= 8]  # a whole range removed
    single = _single(holed, b"")
    assert [p.kind for p in single[0].problems][:1] == ["missing-sequence"]
    for starts in [(5,), (5, 9), (6, 8), (len(log),)]:
        assert _in_ranges(holed, b"", starts) == single, starts
