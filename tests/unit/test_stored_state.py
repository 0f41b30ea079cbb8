"""Stored states parsed by orjson give exactly what the json module's decoder gives."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.stored import UnreadableState, parsed, state_of

_json = json.JSONDecoder().decode


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (1 is not 1.0, -0.0 is not 0.0), with
    keys in the same order."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return repr(a) == repr(b) or (math.isnan(a) and math.isnan(b))
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def as_json_module(raw: bytes) -> Any:
    return _json(raw.decode("utf8"))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"n": 18446744073709551616}',  # beyond 64 bits: orjson reads a float
        b'{"n":-9223372036854775809}',
        b"[123456789012345678901234567890]",
        b"12345678901234567890",
        b'{"n":[1,\n 99999999999999999999]}',
        b'{"x": NaN, "y": Infinity, "z": -Infinity}',  # the json encoder writes these
        b'{"big": 1e400}',
        b'{"s": "\\ud800"}',  # a lone surrogate escape
    ],
)
def test_what_orjson_reads_otherwise_is_read_by_the_json_module(raw: bytes) -> None:
    assert same(parsed(raw), as_json_module(raw))


def test_a_long_run_of_digits_inside_a_string_changes_nothing() -> None:
    raw = b'{"hash":"9e5db0184fb82f19fd342227771a1f14312320085985805512d3","n":2}'
    assert same(parsed(raw), {"hash": raw[9:61].decode(), "n": 2})


def test_integers_up_to_64_bits_and_ordinary_floats_come_from_orjson_unchanged() -> None:
    raw = b'{"a":18446744073709551615,"b":-9223372036854775808,"c":0.1,"d":-0.0,"e":5e-324}'
    assert same(parsed(raw), as_json_module(raw))
    assert same(orjson.loads(raw), as_json_module(raw))  # the cases orjson itself serves


def test_a_state_that_is_not_an_object_is_unreadable() -> None:
    with pytest.raises(UnreadableState):
        state_of(b"[1, 2]")


def test_invalid_json_fails_as_with_the_json_module() -> None:
    with pytest.raises(ValueError):
        parsed(b'{"a": ')
    with pytest.raises(ValueError):
        parsed(b'{"a": "\xff"}')


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
separators = st.sampled_from([(",", ":"), (", ", ": ")])


@settings(max_examples=400, deadline=None)
@given(value=json_values, seps=separators)
def test_any_json_the_encoder_writes_parses_as_with_the_json_module(
    value: Any, seps: tuple[str, str]
) -> None:
    # As eventsourcing's JSONTranscoder writes (ensure_ascii=False), and json.dumps' default.
    for ascii_only in (False, True):
        text = json.dumps(value, separators=seps, ensure_ascii=ascii_only)
        try:
            raw = text.encode("utf8")
        except UnicodeEncodeError:  # a lone surrogate: the transcoder cannot store it either
            continue
        assert same(parsed(raw), as_json_module(raw))
