"""Reading span ids and attribute keys straight from an encoded trace request, so that ordinary
spans (no LLM, credential or content key: most of them) never become Python objects.

``scan_spans``, ``locate_spans`` (the same, with each span's byte range), ``parents``,
``read_attributes``, ``edit_attributes`` (a span's encoding with some attributes replaced, dropped
or added), ``plan_pairs`` and ``redaction_edits`` (write-back's and redaction's decisions as
those edits), ``splice`` (a request re-assembled from the spans that changed) and ``find_any``
(a fast ``needle in data`` for several needles) come from the C extension ``llmpulse.otlp._scan``
when it is built (a wheel or ``pip install -e .`` with a C compiler) and from its pure-Python
twin otherwise, the way PyYAML and msgpack offer their speedups; ``NATIVE``
says which. With ``LLMPULSE_REQUIRE_NATIVE=1`` a missing extension is an ImportError instead
(CI, the image).

    >>> from llmpulse.otlp.scan import scan_spans
    >>> scan_spans(b"", {}, lambda key: 0)
    ([], [])
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

# the head of a span decoded anyway (read_span reads it from the bytes, in C when built)
from llmpulse.otlp._scan_py import SpanHead, span_head

try:
    from llmpulse.otlp._scan import (
        edit_attributes,
        find_any,
        locate_spans,
        parents,
        plan_pairs,
        read_attributes,
        read_span,
        redaction_edits,
        scan_spans,
        splice,
    )

    NATIVE = True
except ImportError as exc:
    if os.environ.get("LLMPULSE_REQUIRE_NATIVE") == "1":
        raise ImportError(
            "LLMPULSE_REQUIRE_NATIVE=1 but the native scanner llmpulse.otlp._scan is not built: "
            "install a C compiler (Debian: apt-get install gcc libc6-dev) and reinstall llmpulse "
            "(`pip install -e .` in a checkout, or build the wheel), or unset LLMPULSE_REQUIRE_NATIVE "
            f"to use the pure-Python scanner ({exc})"
        ) from exc
    from llmpulse.otlp._scan_py import (
        edit_attributes,
        find_any,
        locate_spans,
        parents,
        plan_pairs,
        read_attributes,
        read_span,
        redaction_edits,
        scan_spans,
        splice,
    )

    NATIVE = False


def scan_message(
    request: Any, key_flags: dict[bytes, int], classify: Callable[[bytes], int]
) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int]]]:
    """``scan_spans`` over the decoded request: what the pipeline uses without the C module,
    because walking upb's objects beats walking the bytes in Python (about 4x)."""
    flagged: list[tuple[int, int, int, int]] = []
    invalid: list[tuple[int, int, int]] = []
    for i, rs in enumerate(request.resource_spans):
        for j, ss in enumerate(rs.scope_spans):
            for k, span in enumerate(ss.spans):
                flags = 0
                for kv in span.attributes:  # an invalid span's keys too, as the C scanner does
                    key = kv.key.encode()
                    found = key_flags.get(key)
                    if found is None:
                        found = key_flags[key] = classify(key)
                    flags |= found
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    invalid.append((i, j, k))
                elif flags:
                    flagged.append((i, j, k, flags))
    return flagged, invalid


def message_parents(request: Any, traces: set[bytes] | frozenset[bytes]) -> dict[tuple[bytes, bytes], bytes]:
    """``parents`` over the decoded request (see ``scan_message``)."""
    found: dict[tuple[bytes, bytes], bytes] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if span.trace_id in traces and len(span.trace_id) == 16 and len(span.span_id) == 8:
                    found[(span.trace_id, span.span_id)] = span.parent_span_id
    return found


__all__ = [
    "NATIVE",
    "SpanHead",
    "edit_attributes",
    "find_any",
    "locate_spans",
    "message_parents",
    "parents",
    "plan_pairs",
    "read_attributes",
    "read_span",
    "redaction_edits",
    "scan_message",
    "scan_spans",
    "span_head",
    "splice",
]
