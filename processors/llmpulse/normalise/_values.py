"""Lenient parsers for the values dialects send.

Tokens arrive as ints, floats, strings (``"42"``), Envoy's ``"-"`` for missing, JSON strings and
Python reprs; flags as ``"True"``; lists as JSON strings or comma-joined text. Every parser returns
``None`` for anything it cannot read sensibly (negative, NaN, absurdly large), never raises.
"""

from __future__ import annotations

import ast
import json
import math
from typing import Any

#: Values that mean "not set" in some dialect (Envoy ``-``, Spring AI ``none``).
MISSING = frozenset({"", "-", "none", "None", "null", "NULL", "undefined", "nil", "n/a", "N/A"})

MAX_TOKENS = 10**10
MAX_SECONDS = 7 * 24 * 3600.0
MAX_LABEL_CHARS = 200
_MAX_STRUCTURED_CHARS = 1 << 20


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_TOKENS else None
    if isinstance(value, float):
        if math.isfinite(value) and 0 <= value <= MAX_TOKENS and value == int(value):
            return int(value)
        return None
    if isinstance(value, str):
        text = value.strip()
        if text in MISSING or len(text) > 20:
            return None
        try:
            number = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            return None
        return as_int(number)
    return None


def as_float(value: Any, scale: float = 1.0) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value) * scale
    elif isinstance(value, str):
        text = value.strip()
        if text in MISSING or len(text) > 40:
            return None
        unit = 1.0
        if text.endswith("ms"):
            text, unit = text[:-2], 0.001
        elif text.endswith("s"):
            text = text[:-1]
        try:
            number = float(text) * scale * unit
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(number) or number < 0 or number > MAX_SECONDS * 1000:
        return None
    return number


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes", "stream", "streaming", "y"):
            return True
        if text in ("false", "0", "no", "normal", "n"):
            return False
    return None


def as_str(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if text in MISSING:
            return None
        return text[:MAX_LABEL_CHARS]
    return None


def as_str_list(value: Any) -> list[str]:
    """Finish reasons and similar: a list, a JSON list in a string, or comma-joined text."""
    if isinstance(value, (list, tuple)):
        return [s for s in (as_str(v) for v in value) if s is not None]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            parsed = parse_structured(text)
            if isinstance(parsed, list):
                return as_str_list(parsed)
        return [s for s in (as_str(part) for part in text.split(",")) if s is not None]
    single = as_str(value)
    return [single] if single is not None else []


def parse_structured(value: Any) -> Any:
    """A dict/list from a JSON string or a Python ``repr`` (LangSmith), else ``value`` itself."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text or text[0] not in "[{" or len(text) > _MAX_STRUCTURED_CHARS:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # ValueError: also integers past the 4300-digit limit
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None


def dig(value: Any, path: tuple[str, ...]) -> Any:
    """Walk ``path`` through nested dicts (lists by index), parsing JSON strings on the way."""
    return walk(parse_structured(value), path)


def walk(node: Any, path: tuple[str, ...]) -> Any:
    """``dig`` on a value already through ``parse_structured`` (parse once, walk many paths)."""
    for part in path:
        if isinstance(node, str):
            node = parse_structured(node)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
