"""Types of the native dialect-table reader (``_fields.c``); ``_recognise._read_fields`` is its twin.
``untracked`` is dedup's (``_dedup._tracked`` its stand-in without the module)."""

from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

def configure(
    missing: frozenset[str], max_tokens: int, max_label_chars: int, max_float: float, /
) -> None: ...
def read_fields(
    attrs: dict[str, Any] | Any,
    plan: tuple[tuple[str, Callable[[Any, float], Any], int, tuple[Any, ...]], ...],
    view: Any,
    slow: Callable[[Any, Any, dict[str, Any]], Any],
    /,
) -> tuple[dict[str, Any], bool]: ...
def untracked(value: _T, /) -> _T: ...
