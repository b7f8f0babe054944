"""Fuzz the access-log parsers (issue #4): logged provider bodies (JSON objects, maps, SSE
streams, garbage), request bodies, request paths and upstream hosts. They never raise, and the
facts they return are sane (non-negative tokens, HTTP statuses in range, strings as labels)."""

from __future__ import annotations

from hypothesis import given

from llmpulse.accesslogs import (
    BodyFacts,
    host_of,
    parse_request,
    parse_response,
    provider_of_host,
    route_of,
)
from llmpulse.accesslogs._bodies import facts_tokens
from llmpulse.accesslogs._view import json_object
from tests.fuzz._strategies import BODY_KEYS, FUZZ, SEEDS, Gen


def _check(facts: BodyFacts | None) -> None:
    if facts is None:
        return
    assert all(isinstance(v, int) and v >= 0 for v in facts_tokens(facts).values()), facts
    assert facts.http_status is None or 100 <= facts.http_status <= 599
    for label in (facts.request_model, facts.response_model):
        assert label is None or isinstance(label, str)


def test_the_body_generator_knows_the_provider_shapes() -> None:
    for key in ("usage", "prompt_tokens", "usageMetadata", "candidatesTokenCount", "stop_reason", "choices"):
        assert key in BODY_KEYS


@FUZZ
@given(seed=SEEDS)
def test_body_path_and_host_parsers_never_raise(seed: int) -> None:
    gen = Gen(seed)
    r = gen.r
    body = gen.provider_body()
    _check(parse_response(body))
    _check(parse_request(body))
    if isinstance(body, str):
        json_object(body)
    text = r.choice([gen.text(40), gen.envoy_line(), str(gen.scalar())])
    facts = route_of(text)
    assert facts.operation is None or isinstance(facts.operation, str)
    host = host_of(text)
    assert host is None or (isinstance(host, str) and host and host == host.lower())
    if host is not None:
        provider = provider_of_host(host)
        assert provider is None or isinstance(provider, str)
