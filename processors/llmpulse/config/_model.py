"""The llmpulse configuration: typed, documented, validated, with defaults for a local run.

Unknown keys are errors (``extra="forbid"``); every problem is reported with its key path.
Secure by default: receivers bind to loopback, prompt/completion content is dropped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


_ENDPOINT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]*):(\d{1,5})$")


def check_endpoint(value: str) -> str:
    match = _ENDPOINT.match(value)
    if match is None or not 0 <= int(match.group(2)) <= 65535:
        raise ValueError("must be host:port, e.g. 127.0.0.1:4317")
    return value


class TLSConfig(_Strict):
    """Serve TLS with this certificate; with ``client_ca_file``, require client certificates."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


class AuthConfig(_Strict):
    """Bearer-token authentication for the OTLP receivers (``Authorization: Bearer <token>``)."""

    bearer_tokens: list[str] = Field(default_factory=list, repr=False)
    #: a file with one token per line (e.g. a mounted Kubernetes secret)
    bearer_tokens_file: Path | None = None

    def tokens(self) -> list[str]:
        tokens = [t for t in self.bearer_tokens if t]
        if self.bearer_tokens_file is not None:
            tokens += [
                line.strip() for line in self.bearer_tokens_file.read_text().splitlines() if line.strip()
            ]
        return tokens


class GRPCReceiverConfig(_Strict):
    endpoint: str = "127.0.0.1:4317"
    #: largest accepted request, in MiB
    max_recv_msg_size_mib: int = Field(default=16, ge=1, le=1024)
    tls: TLSConfig | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value)


class HTTPReceiverConfig(_Strict):
    endpoint: str = "127.0.0.1:4318"
    #: largest accepted body after decompression, in MiB
    max_request_body_size_mib: int = Field(default=16, ge=1, le=1024)
    tls: TLSConfig | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value)


class ReceiversConfig(_Strict):
    grpc: GRPCReceiverConfig = Field(default_factory=GRPCReceiverConfig)
    http: HTTPReceiverConfig = Field(default_factory=HTTPReceiverConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)


class DimensionConfig(_Strict):
    """An extra label on every derived series, read from resource or span attributes."""

    #: the Prometheus label name
    name: str
    #: attribute keys tried in order; ``resource.`` / ``span.`` prefixes pick where, else both
    sources: list[str] = Field(min_length=1)
    #: replace the value by a short SHA-256 (for API keys: group by key without storing it)
    hash: bool = False

    @field_validator("name")
    @classmethod
    def _label_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", value) or value.startswith("__"):
            raise ValueError(f"must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*), got {value!r}")
        return value


def _default_dimensions() -> list[DimensionConfig]:
    return [
        DimensionConfig(
            name="tenant", sources=["tenant.id", "tenant", "llmpulse.tenant", "gen_ai.tenant.id"]
        ),
        DimensionConfig(name="k8s_namespace_name", sources=["resource.k8s.namespace.name"]),
        DimensionConfig(name="k8s_deployment_name", sources=["resource.k8s.deployment.name"]),
        DimensionConfig(
            name="api_key",
            sources=[
                "span.http.request.header.authorization",
                "span.http.request.header.x-api-key",
                "span.http.request.header.api-key",
                "span.gen_ai.request.api_key_hash",
                "span.api_key",
            ],
            hash=True,
        ),
    ]


class MetricsConfig(_Strict):
    """The /metrics endpoint and the span-metrics aggregate behind it and remote write."""

    endpoint: str = "127.0.0.1:9464"
    dimensions: list[DimensionConfig] = Field(default_factory=_default_dimensions)
    #: most series one metric may hold; more fold into one otel_metric_overflow="true" series
    cardinality_limit: int = Field(default=10_000, ge=10)
    #: series not updated for this long expire (remote write sends stale markers); 0 = never
    series_idle_timeout_s: float = Field(default=3600.0, ge=0)
    #: salt for hashed dimensions (api_key); set it to make hashes unguessable across deployments
    hash_salt: str = Field(default="", repr=False)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value)

    @model_validator(mode="after")
    def _unique_dimensions(self) -> MetricsConfig:
        names = [d.name for d in self.dimensions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dimension names must be unique, repeated: {dupes}")
        reserved = {
            "le",
            "error_type",
            "gen_ai_token_type",
            "otel_metric_overflow",
            "llmpulse_instance",
            "gen_ai_operation_name",
            "gen_ai_provider_name",
            "gen_ai_request_model",
            "gen_ai_response_model",
            "service_name",
        }
        clash = sorted(set(names) & reserved)
        if clash:
            raise ValueError(f"dimension names clash with contract labels: {clash}")
        return self


class RedactionConfig(_Strict):
    #: drop (default), truncate to ``truncate_chars``, or keep prompt/completion content
    content: Literal["drop", "truncate", "keep"] = "drop"
    truncate_chars: int = Field(default=256, ge=0)


class EnrichConfig(_Strict):
    #: your own price table (same format as the shipped one); its models override the shipped ones
    prices_file: Path | None = None
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    #: how long a span is remembered to pair it with a late duplicate of the same call
    dedup_window_s: float = Field(default=60.0, ge=0)


class RemoteWriteTargetConfig(_Strict):
    """One Prometheus remote-write 1.0 receiver (Prometheus, Mimir, Thanos, VictoriaMetrics)."""

    url: str
    #: label for self-metrics and the queue directory; defaults to the URL's host:port
    name: str = ""
    headers: dict[str, str] = Field(default_factory=dict, repr=False)


class RemoteWriteConfig(_Strict):
    targets: list[RemoteWriteTargetConfig] = Field(default_factory=list)
    #: how often the aggregate is sent
    send_interval_s: float = Field(default=15.0, gt=0)


class ForwardTargetConfig(_Strict):
    """An OTLP/gRPC endpoint (an OpenTelemetry Collector) that receives enriched traces and logs."""

    endpoint: str
    name: str = ""
    insecure: bool = True
    headers: dict[str, str] = Field(default_factory=dict, repr=False)


class ForwardConfig(_Strict):
    targets: list[ForwardTargetConfig] = Field(default_factory=list)


class LimitsConfig(_Strict):
    """Overload protection: refuse (retryably) before decoding when memory is tight."""

    #: resident-memory limit of the process in MiB; above 85 % of it requests are refused with
    #: RESOURCE_EXHAUSTED / HTTP 429 + retry hints until memory falls. 0 = no limit.
    memory_limit_mib: int = Field(default=0, ge=0)
    #: request bytes processed at once, across both receivers, in MiB
    max_inflight_mib: int = Field(default=64, ge=1)
    #: the retry delay suggested to refused clients, in seconds
    retry_after_s: float = Field(default=1.0, gt=0, le=300)


def _default_data_dir() -> Path:
    return Path("llmpulse-data")


class Config(_Strict):
    """Top-level llmpulse configuration (YAML file, ``LLMPULSE_*`` variables, CLI flags)."""

    receivers: ReceiversConfig = Field(default_factory=ReceiversConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    enrich: EnrichConfig = Field(default_factory=EnrichConfig)
    remote_write: RemoteWriteConfig = Field(default_factory=RemoteWriteConfig)
    forward: ForwardConfig = Field(default_factory=ForwardConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    #: processes serving the same ports (SO_REUSEPORT), each with its own llmpulse_instance
    workers: int = Field(default=1, ge=1, le=64)
    #: durable state: span-metrics state, remote-write and forwarding queues
    data_dir: Path = Field(default_factory=_default_data_dir)
    #: this replica's llmpulse_instance label; empty = generated once and kept in data_dir
    instance: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
