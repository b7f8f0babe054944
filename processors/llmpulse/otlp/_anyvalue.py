"""Conversions between OTLP ``AnyValue``/``KeyValue`` and plain Python values."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableSequence
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def to_py(value: AnyValue) -> Any:
    """Return the Python value held by an ``AnyValue`` (lists and maps converted recursively)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [to_py(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: to_py(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value
    return None


def attrs_to_dict(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    """Flatten repeated ``KeyValue`` into a dict; a repeated key keeps its last value, as SDKs do."""
    return {kv.key: to_py(kv.value) for kv in attributes}


def assign(target: AnyValue, value: Any) -> None:
    """Store a Python value (scalar, list, mapping; anything else as its ``str``) in ``target``."""
    kind = type(value)  # exact types first: one lookup instead of walking the isinstance chain
    if kind is str:
        target.string_value = value
    elif kind is int:
        target.int_value = value
    elif kind is bool:
        target.bool_value = value
    elif kind is float:
        target.double_value = value
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, (list, tuple)):
        array = target.array_value
        del array.values[:]
        for item in value:
            assign(array.values.add(), item)
    elif isinstance(value, Mapping):
        kvlist = target.kvlist_value
        del kvlist.values[:]
        for key, item in value.items():
            kv = kvlist.values.add()
            kv.key = str(key)
            assign(kv.value, item)
    else:
        target.string_value = str(value)


#: types whose ``==`` means the encoded AnyValue is identical (not float: ``-0.0 == 0.0``)
_EXACT_TYPES = frozenset({str, int, bool, bytes})


def _same_scalar(old: Any, value: Any) -> bool:
    kind = type(value)
    if type(old) is not kind:
        return False
    if kind is float:
        # bit-identical: equal and, for zeros, the same sign (NaN is never equal, so rewritten)
        return old == value and (old != 0.0 or math.copysign(1.0, old) == math.copysign(1.0, value))
    return kind in _EXACT_TYPES and old == value


def _same(old: Any, value: Any) -> bool:
    """Whether storing ``value`` would encode exactly what ``old`` (``to_py`` of the stored
    AnyValue) already is, so the write can be skipped. Lists compare element-wise with exact
    element types (``[1]`` is not ``[1.0]``); nested or empty lists and maps are never "same"."""
    if type(value) is list:
        return (
            type(old) is list
            and 0 < len(old) == len(value)
            and all(_same_scalar(a, b) for a, b in zip(old, value, strict=True))
        )
    return _same_scalar(old, value)


_SKIP, _WRITE, _BACKUP = 0, 1, 2


def same_without_call(old: Any, value: Any) -> bool:
    """The usual case on semconv spans, decided without ``write_over``: equal values of the same
    exact type (str, int, bool, bytes; a float but not a zero, whose sign ``==`` ignores; a
    non-empty list of str), so storing ``value`` would encode exactly what is there."""
    kind = type(value)
    if type(old) is not kind:
        return False
    if kind is float:
        return bool(old == value and old != 0.0)
    if kind is list:
        return bool(old) and all(type(item) is str for item in value) and old == value
    return kind in _EXACT_TYPES and old == value


def write_over(old: Any, value: Any, keep_original: bool) -> int:
    """What storing ``value`` over a stored ``old`` (``to_py`` of it) takes: ``_SKIP`` (it holds
    exactly that already), ``_WRITE``, or with ``keep_original`` ``_BACKUP`` (copy what the app
    sent to ``llmpulse.original.<key>``, then write). Without ``keep_original`` only an exact
    match is skipped; with it, an equal value is not backed up and not rewritten unless its
    encoding would change."""
    if not keep_original:
        kind = type(value)
        same = type(old) is kind and (old == value if kind in _EXACT_TYPES else _same(old, value))
        return _SKIP if same else _WRITE
    same_list = isinstance(old, list) and isinstance(value, (list, tuple)) and old == list(value)
    if old != value and not same_list:
        return _BACKUP
    return _SKIP if _same(old, value) else _WRITE


def set_attributes(
    attributes: MutableSequence[KeyValue],
    values: Mapping[str, Any],
    *,
    keep_original: bool = False,
    current: Mapping[str, Any] | None = None,
) -> None:
    """Upsert ``values`` into ``attributes`` in place.

    With ``keep_original``, a key whose existing value differs is first copied to
    ``llmpulse.original.<key>`` so that normalisation never loses what the app sent. ``current``,
    when the caller has it, is ``attrs_to_dict(attributes)`` as it is now: keys it lacks are
    appended without indexing (and reading back) every attribute the span already has.
    """
    index: dict[str, int] | None = None
    for key, value in values.items():
        if current is not None:
            if key not in current:  # appending never moves an existing attribute: index stays true
                kv = attributes.add()  # type: ignore[attr-defined]
                kv.key = key
                assign(kv.value, value)
                continue
            if write_over(current[key], value, False) == _SKIP:
                continue
        if index is None:
            index = {kv.key: i for i, kv in enumerate(attributes)}
        pos = index.get(key)
        if pos is None:
            kv = attributes.add()  # type: ignore[attr-defined]
            kv.key = key
            assign(kv.value, value)
            index[key] = len(attributes) - 1
            continue
        existing = attributes[pos]
        if keep_original:
            action = write_over(to_py(existing.value), value, True)
            if action == _SKIP:
                continue  # already holds exactly this value (the common case on semconv spans)
            if action == _BACKUP:
                backup = attributes.add()  # type: ignore[attr-defined]
                backup.key = "llmpulse.original." + key
                backup.value.CopyFrom(existing.value)
        existing.value.Clear()
        assign(existing.value, value)


#: what ``plan_attributes`` fills in: ``edit_attributes``' edits (by key) and appends
AttributeEdits = dict[int | str, Any]
AttributeAppends = list[tuple[str, Any] | tuple[str, None, str]]


def plan_attributes(
    values: Mapping[str, Any],
    current: Mapping[str, Any],
    edits: AttributeEdits,
    appends: AttributeAppends,
    *,
    keep_original: bool = False,
) -> None:
    """``set_attributes(attributes, values, keep_original=..., current=current)`` as edits of the
    span's encoding (``llmpulse.otlp.scan.edit_attributes``) instead of the upb message: the same
    decisions, in the same order, so the edited encoding is what upb would encode."""
    for key, value in values.items():
        if key not in current:
            appends.append((key, value))
            continue
        old = current[key]
        if same_without_call(old, value):
            continue
        action = write_over(old, value, keep_original)
        if action == _SKIP:
            continue
        if action == _BACKUP:
            appends.append(("llmpulse.original." + key, None, key))
        edits[key] = value
