"""``Pipeline._resource`` decodes a resource's attributes once per distinct encoding: what it
keeps must never see enrichment, and a resource holding a credential is never kept."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import CollectorRegistry

from llmpulse.config import validate
from llmpulse.otlp import attrs_to_dict
from llmpulse.pipeline import Pipeline
from llmpulse.selfmetrics import SelfMetrics
from llmpulse.spanmetrics import SpanMetrics


class _PodOf:
    """Adds the pod the sender is, as the Kubernetes enricher does once it knows the peer."""

    def __init__(self) -> None:
        self.pods: dict[str, str] = {}

    def enrich(self, resource: Mapping[str, Any], peer: str | None) -> dict[str, str]:
        pod = self.pods.get(peer or "")
        return {"k8s.pod.name": pod} if pod else {}


def _request(**resource: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for key, value in resource.items():
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = key.replace("_", "."), value
    span = rs.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "GET /"
    return request


def _pipeline(enricher: _PodOf) -> Pipeline:
    selfmetrics = SelfMetrics(CollectorRegistry())
    return Pipeline(validate({}), selfmetrics, SpanMetrics(selfmetrics), resource_enrichers=[enricher])


def test_enrichment_is_per_request_and_never_kept() -> None:
    enricher = _PodOf()
    pipeline = _pipeline(enricher)
    first = _request(service_name="checkout")
    pipeline.consume("traces", first, protocol="grpc", size=1, peer="10.0.0.7")
    assert attrs_to_dict(first.resource_spans[0].resource.attributes) == {"service.name": "checkout"}
    enricher.pods["10.0.0.7"] = "checkout-7d9f"  # the pod watch caught up
    second = _request(service_name="checkout")
    pipeline.consume("traces", second, protocol="grpc", size=1, peer="10.0.0.7")
    assert attrs_to_dict(second.resource_spans[0].resource.attributes) == {
        "service.name": "checkout",
        "k8s.pod.name": "checkout-7d9f",
    }
    third = _request(service_name="checkout")
    pipeline.consume("traces", third, protocol="grpc", size=1, peer="10.0.0.8")  # another sender
    assert attrs_to_dict(third.resource_spans[0].resource.attributes) == {"service.name": "checkout"}
    assert list(pipeline._resource_attrs.values()) == [{"service.name": "checkout"}]


def test_a_resource_with_a_credential_is_redacted_every_time_and_never_kept() -> None:
    pipeline = _pipeline(_PodOf())
    for _ in range(2):
        request = _request(service_name="bot", api_key="sk-live-abcdefghijklmnop")
        pipeline.consume("traces", request, protocol="grpc", size=1)
        assert attrs_to_dict(request.resource_spans[0].resource.attributes)["api.key"] == "[REDACTED]"
    assert pipeline._resource_attrs == {}
