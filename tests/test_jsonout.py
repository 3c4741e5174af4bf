"""The --json writer: byte for byte what json.dumps(indent=2) writes, for any JSON value."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from warmupd import jsonout

leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
          | st.text())
values = st.recursive(
    leaves,
    lambda kids: (st.lists(kids, max_size=4) | st.tuples(kids, kids)
                  | st.dictionaries(st.text(), kids, max_size=4)),
    max_leaves=30,
)


@given(values)
@example([math.nan, math.inf, -math.inf, 1e300, -0.0, "é\u2028\x00\"", {}, [], ()])
def test_same_bytes_as_json_dumps(value: Any) -> None:
    """Broken if: any JSON value (escapes, non-ASCII, NaN, nesting, empty containers)
    is written differently from the standard library's indented output."""
    assert jsonout.dumps(value) == json.dumps(value, indent=2)


def test_other_keys_and_types_fall_back_to_json() -> None:
    """Broken if: what json.dumps converts (int keys) or refuses (sets) is written
    another way."""
    assert jsonout.dumps({1: [math.inf], None: "x"}) == json.dumps({1: [math.inf], None: "x"},
                                                                   indent=2)
    try:
        jsonout.dumps({"a": {1, 2}})
    except TypeError as exc:
        assert "set" in str(exc)
    else:
        raise AssertionError("a set must be refused as json.dumps refuses it")
