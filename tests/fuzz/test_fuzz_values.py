"""Fuzz the lenient value parsers every dialect goes through (``normalise/_values.py``): any
Python value an attribute can carry, hostile strings and deep or huge structures. They never
raise and return only what the canonical record may hold."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given

from llmpulse.normalise._values import (
    MAX_LABEL_CHARS,
    MAX_SECONDS,
    MAX_TOKENS,
    MISSING,
    as_bool,
    as_float,
    as_int,
    as_str,
    as_str_list,
    dig,
    parse_structured,
)
from tests.fuzz._strategies import FUZZ, JSON_PATH_KEYS, SEEDS, Gen


def _check_all(value: Any, scale: float, path: tuple[str, ...]) -> None:
    number = as_int(value)
    assert number is None or (type(number) is int and 0 <= number <= MAX_TOKENS), number
    seconds = as_float(value, scale)
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= MAX_SECONDS * 1000), seconds
    flag = as_bool(value)
    assert flag is None or type(flag) is bool
    text = as_str(value)
    assert text is None or (
        isinstance(text, str) and 0 < len(text) <= MAX_LABEL_CHARS and text not in MISSING
    )
    texts = as_str_list(value)
    assert isinstance(texts, list) and all(isinstance(t, str) and len(t) <= MAX_LABEL_CHARS for t in texts)
    parse_structured(value)
    dig(value, path)


@FUZZ
@given(seed=SEEDS)
def test_value_parsers_accept_anything_and_return_only_sane_values(seed: int) -> None:
    gen = Gen(seed)
    r = gen.r
    value = r.choice([gen.value, gen.scalar, gen.json])()
    scale = r.choice([1.0, 0.001, 1e-9, 1e300, -1.0, math.nan])
    path = tuple(r.choice([*JSON_PATH_KEYS, "0", "1", "99"]) for _ in range(r.randint(0, 3)))
    _check_all(value, scale, path)
    if isinstance(value, (dict, list)):
        _check_all(json.dumps(value, default=repr), scale, path)  # the same, as a JSON string
