"""``DimensionReader``: each dimension takes the first of its sources, in order, that holds a
usable value. ``for_resource`` reads the resource's part once per resource; it must give what the
plain rule gives (written out here as the reference) for every span, hashing included."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llmpulse.config import DimensionConfig
from llmpulse.enrich import DimensionReader
from llmpulse.normalise._values import as_str

_KEYS = ["tenant", "team", "api.key"]
_SOURCES = [*_KEYS, *(f"resource.{k}" for k in _KEYS), *(f"span.{k}" for k in _KEYS)]
_VALUES = st.one_of(
    st.none(), st.sampled_from(["acme", " acme ", "-", "", "Bearer sk-1", 7, True, 0.5, ["x"]])
)


def _reference(
    reader: DimensionReader, dims: list[DimensionConfig], resource: Any, span: Any
) -> dict[str, str]:
    out: dict[str, str] = {}
    for dim in dims:
        for source in dim.sources:
            if source.startswith("resource."):
                places = [(resource, source.removeprefix("resource."))]
            elif source.startswith("span."):
                places = [(span, source.removeprefix("span."))]
            else:
                places = [(span, source), (resource, source)]
            value = next(
                (v for attrs, key in places if (v := as_str(attrs.get(key))) is not None),
                None,
            )
            if value is not None:
                out[dim.name] = reader.hash(value) if dim.hash else value
                break
    return out


@settings(max_examples=400, deadline=None)
@given(
    sources=st.lists(st.lists(st.sampled_from(_SOURCES), min_size=1, max_size=4), min_size=1, max_size=3),
    hashed=st.lists(st.booleans(), min_size=3, max_size=3),
    resource=st.dictionaries(st.sampled_from(_KEYS), _VALUES),
    spans=st.lists(st.dictionaries(st.sampled_from(_KEYS), _VALUES), min_size=1, max_size=4),
)
def test_for_resource_gives_the_first_usable_source_in_order(
    sources: list[list[str]], hashed: list[bool], resource: dict[str, Any], spans: list[dict[str, Any]]
) -> None:
    dims = [DimensionConfig(name=f"d{i}", sources=srcs, hash=hashed[i]) for i, srcs in enumerate(sources)]
    reader = DimensionReader(dims, salt="s")
    per_resource = reader.for_resource(resource)
    for span in spans:
        expected = _reference(reader, dims, resource, span)
        assert per_resource(span) == expected
        assert reader.read(resource, span) == expected


def test_a_span_value_wins_over_the_resource_and_secrets_are_hashed() -> None:
    dims = [
        DimensionConfig(name="tenant", sources=["tenant"]),
        DimensionConfig(name="api_key", sources=["span.api.key", "resource.api.key"], hash=True),
    ]
    reader = DimensionReader(dims, salt="pepper")
    dims_of = reader.for_resource({"tenant": "acme", "api.key": "Bearer sk-resource"})
    assert dims_of({}) == {"tenant": "acme", "api_key": reader.hash("sk-resource")}
    assert dims_of({"tenant": "globex", "api.key": "sk-span"}) == {
        "tenant": "globex",
        "api_key": reader.hash("sk-span"),
    }
    # what is kept per resource holds the key hashed, never as sent
    held = repr((dims_of._plan, dims_of._resolved))
    assert "sk-resource" not in held and reader.hash("sk-resource") in held
