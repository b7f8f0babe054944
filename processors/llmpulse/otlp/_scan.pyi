"""Types of the native scanner (``_scan.c``); ``_scan_py.py`` has the same signatures."""

from collections.abc import Callable
from typing import Any

from _typeshed import ReadableBuffer

from llmpulse.otlp._scan_py import SpanHead

def scan_spans(
    body: ReadableBuffer, key_flags: dict[bytes, int], classify: Callable[[bytes], int], /
) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int]]]: ...
def parents(
    body: ReadableBuffer, traces: set[bytes] | frozenset[bytes], index: ReadableBuffer | None = None, /
) -> dict[tuple[bytes, bytes], bytes]: ...
def check_traces(
    body: ReadableBuffer, schema: ReadableBuffer, /
) -> list[tuple[int, int, list[tuple[str, int, int, int]]]]: ...
def read_attributes(
    span: ReadableBuffer, key_flags: dict[str, int], classify: Callable[[str], int], unread: int = 0, /
) -> tuple[dict[str, Any], bytes]: ...
def read_span(
    span: ReadableBuffer, key_flags: dict[str, int], classify: Callable[[str], int], unread: int = 0, /
) -> tuple[dict[str, Any], bytes, SpanHead]: ...
def locate_spans(
    body: ReadableBuffer,
    key_flags: dict[bytes, int],
    classify: Callable[[bytes], int],
    index: bytearray | None = None,
    /,
) -> tuple[list[tuple[int, int, int, int, int, int]], list[tuple[int, int, int]]]: ...
def splice(
    body: ReadableBuffer,
    spans: list[tuple[int, int, int, bytes | None]],
    resources: list[tuple[int, bytes]],
    /,
) -> bytes: ...
def find_any(data: ReadableBuffer, needles: tuple[bytes, ...], /) -> bool: ...
def edit_attributes(
    span: ReadableBuffer,
    edits: dict[int | str, Any],
    appends: list[tuple[str, Any] | tuple[str, None, str]],
    /,
) -> bytes: ...
def plan_pairs(
    keys: tuple[str, ...],
    values: tuple[Any, ...],
    current: dict[str, Any],
    edits: dict[int | str, Any],
    appends: list[Any],
    keep_original: bool,
    write_over: Callable[[Any, Any, bool], int],
    /,
) -> None: ...
def redaction_edits(
    flags: ReadableBuffer, table: ReadableBuffer, edits: dict[int | str, Any], masked: Any, /
) -> int: ...
