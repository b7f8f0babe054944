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


#: Headers the remote-write protocol fixes; custom ``headers`` may not set them.
REMOTE_WRITE_PROTOCOL_HEADERS = (
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
    "user-agent",
)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class RemoteWriteBasicAuthConfig(_Strict):
    """HTTP basic auth; the password inline or (better) from a mounted secret file."""

    username: str = Field(min_length=1)
    password: str = Field(default="", repr=False)
    password_file: Path | None = None

    @model_validator(mode="after")
    def _one_password(self) -> RemoteWriteBasicAuthConfig:
        if self.password and self.password_file is not None:
            raise ValueError("set `password` or `password_file`, not both")
        return self


class RemoteWriteTLSConfig(_Strict):
    """How to trust the receiver and (optionally) present a client certificate (mTLS)."""

    #: CA bundle to verify the receiver with; empty = the system's trust store
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    #: skip certificate verification (tests only: anyone on the path can read and change data)
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _pair(self) -> RemoteWriteTLSConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("`cert_file` and `key_file` go together (client certificate and its key)")
        return self


class RemoteWriteTargetConfig(_Strict):
    """One Prometheus remote-write 1.0 receiver (Prometheus, Mimir, Thanos, VictoriaMetrics)."""

    url: str
    #: label for self-metrics and the queue directory; defaults to the URL's host:port
    name: str = ""
    #: extra request headers, e.g. ``X-Scope-OrgID`` for a Mimir tenant (never the protocol's own)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    basic_auth: RemoteWriteBasicAuthConfig | None = None
    bearer_token: str = Field(default="", repr=False)
    #: a file holding the bearer token, re-read on every request (rotated secrets)
    bearer_token_file: Path | None = None
    tls: RemoteWriteTLSConfig | None = None
    #: one HTTP request's timeout, in seconds
    timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL, e.g. http://prometheus:9090/api/v1/write")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
            raise ValueError("may hold only letters, digits, `_`, `.`, `:` and `-`")
        return value

    @model_validator(mode="after")
    def _auth(self) -> RemoteWriteTargetConfig:
        problems = []
        protocol = sorted(h for h in self.headers if h.lower() in REMOTE_WRITE_PROTOCOL_HEADERS)
        if protocol:
            problems.append(f"`headers` may not set the remote-write protocol headers {protocol}")
        ways = [
            k
            for k, v in (
                ("basic_auth", self.basic_auth),
                ("bearer_token", self.bearer_token),
                ("bearer_token_file", self.bearer_token_file),
            )
            if v
        ]
        if len(ways) > 1:
            problems.append(f"choose one of `basic_auth`, `bearer_token`, `bearer_token_file`, got {ways}")
        if ways and any(h.lower() == "authorization" for h in self.headers):
            problems.append(f"`headers.Authorization` clashes with `{ways[0]}`")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def display_name(self) -> str:
        """The ``target`` label: ``name``, else the URL's host:port (never its user:password@)."""
        return self.name or re.sub(r"^https?://(?:[^@/]*@)?([^/]+).*$", r"\1", self.url)


class RemoteWriteRetryConfig(_Strict):
    """Backoff on 5xx, 429 and network errors (exponential, jittered, capped). There is no give-up
    time: the data waits on disk for as long as the receiver is away."""

    initial_interval_s: float = Field(default=0.5, gt=0)
    max_interval_s: float = Field(default=30.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1)
    #: each delay is spread uniformly over ±this share of itself
    randomization_factor: float = Field(default=0.5, ge=0, le=1)
    #: a receiver's ``Retry-After`` is honoured up to this many seconds
    max_retry_after_s: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _order(self) -> RemoteWriteRetryConfig:
        if self.initial_interval_s > self.max_interval_s:
            raise ValueError(
                f"`initial_interval_s` ({self.initial_interval_s}) must not exceed "
                f"`max_interval_s` ({self.max_interval_s})"
            )
        return self


class RemoteWriteConfig(_Strict):
    targets: list[RemoteWriteTargetConfig] = Field(default_factory=list)
    #: how often the aggregate is sent
    send_interval_s: float = Field(default=15.0, gt=0)
    #: most samples in one request (Prometheus' own default is 2000)
    max_samples_per_request: int = Field(default=2000, ge=1, le=1_000_000)
    #: labels added to every series; ``llmpulse_instance`` is always added (and cannot be set here)
    external_labels: dict[str, str] = Field(default_factory=dict)
    #: disk per target for queued samples, in MiB; over it, older snapshots are thinned (README)
    queue_capacity_mib: float = Field(default=256.0, gt=0)
    #: queued snapshots older than this are not sent (receivers refuse too-old samples with 400;
    #: a newer snapshot carries the same totals). Prometheus takes ~1 h back, so 50 min.
    max_sample_age_s: float = Field(default=3000.0, gt=0)
    #: at shutdown, how long the final send may take; what is not sent stays on disk
    flush_timeout_s: float = Field(default=5.0, ge=0)
    retry: RemoteWriteRetryConfig = Field(default_factory=RemoteWriteRetryConfig)

    @field_validator("external_labels")
    @classmethod
    def _external(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if not _LABEL_NAME.match(k) or k.startswith("__"))
        if bad:
            raise ValueError(f"label names must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __: {bad}")
        if "llmpulse_instance" in value:
            raise ValueError("`llmpulse_instance` is set by llmpulse (use the top-level `instance`)")
        empty = sorted(k for k, v in value.items() if not v)
        if empty:
            raise ValueError(f"empty label values are not allowed: {empty}")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> RemoteWriteConfig:
        names = [t.display_name() for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"targets need distinct names (set `name`), repeated: {dupes}")
        return self


class StateConfig(_Strict):
    """The durable span-metrics state under ``data_dir/state`` (write-ahead log + snapshots)."""

    #: when the WAL is flushed to the disk: ``always`` (each batch; survives power loss),
    #: ``interval`` (every ``fsync_interval_s``), ``never`` (the OS decides). Every policy
    #: survives a killed process: a batch is written to the file before its Export returns.
    fsync: Literal["never", "interval", "always"] = "interval"
    fsync_interval_s: float = Field(default=1.0, gt=0)
    #: how often a snapshot is written and the WAL truncated
    checkpoint_interval_s: float = Field(default=60.0, gt=0)
    #: checkpoint early when the WAL grows past this, in MiB
    max_wal_mib: float = Field(default=64.0, gt=0)


class ForwardTargetConfig(_Strict):
    """An OTLP endpoint (an OpenTelemetry Collector) that receives enriched traces and logs."""

    #: host:port of the collector's OTLP receiver for ``protocol`` (``http://``/``https://``
    #: prefixes accepted; TLS is ``insecure``'s choice)
    endpoint: str
    #: ``grpc`` (default, port 4317) or ``http/protobuf`` (port 4318: ``POST /v1/traces`` etc.),
    #: as OTEL_EXPORTER_OTLP_PROTOCOL spells them; sending a batch over HTTP/1.1 costs about a
    #: third of the CPU of a grpcio call
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    #: label for self-metrics (``target``) and the queue directory; defaults to the endpoint
    name: str = ""
    #: plaintext (default, for a collector beside llmpulse); false = TLS
    insecure: bool = True
    #: CA bundle for TLS; empty = the system roots
    ca_file: Path | None = None
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    #: which signals this target gets (received metrics are forwarded unchanged)
    signals: list[Literal["traces", "logs", "metrics"]] = Field(
        default_factory=lambda: ["traces", "logs", "metrics"],  # type: ignore[arg-type]
        min_length=1,
    )
    #: deadline of one Export call, in seconds
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: ``none`` (default) suits a collector in the same pod, node or cluster: gRPC's gzip (zlib
    #: level 6) costs ~12 ms of CPU per 435 KiB batch of 512 spans here, half of what the whole
    #: pipeline spends on it, to save in-cluster bandwidth; ``gzip`` for cross-zone or metered links
    compression: Literal["none", "gzip"] = "none"

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value.removeprefix("http://").removeprefix("https://").rstrip("/"))

    @model_validator(mode="after")
    def _default_name(self) -> ForwardTargetConfig:
        if not self.name:
            self.name = self.endpoint.removeprefix("http://").removeprefix("https://").rstrip("/")
        if not re.fullmatch(r"[A-Za-z0-9_.:\[\]-]{1,100}", self.name):
            raise ValueError(f"`name` must be 1-100 of [A-Za-z0-9_.:-], got {self.name!r}")
        return self


class ForwardQueueConfig(_Strict):
    """The persistent queue in front of each target (``<data_dir>/forward/<target>/``)."""

    #: bytes of unsent requests kept per target; when full, receivers answer "retry later"
    #: (gRPC UNAVAILABLE + RetryInfo, HTTP 503 + Retry-After) instead of dropping anything
    capacity_bytes: int = Field(default=256 * 1024 * 1024, ge=64 * 1024)
    #: size at which a queue file is closed and a new one started
    segment_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
    #: fsync each write: also survives power loss, not only a crash of the process (slower)
    fsync: bool = False
    #: the retry delay suggested to clients while the queue is full, in seconds
    retry_after_s: float = Field(default=5.0, gt=0, le=300)
    #: requests in flight per target at once (sender threads), as the Collector's
    #: ``sending_queue.num_consumers``: a slow collector is not a cap on throughput; 1 = strict
    #: order, one request at a time, as before
    consumers: int = Field(default=4, ge=1, le=64)
    #: a sender sends the requests queued one after another as one export of up to this many
    #: bytes (concatenated: protobuf merges them), since a call's fixed cost is most of what
    #: sending costs; below the 4 MiB a Collector's OTLP/gRPC receiver takes by default. A single
    #: larger request is sent alone; 0 = one request per export
    max_send_bytes: int = Field(default=2 * 1024 * 1024, ge=0)
    #: how long a sender with less than ``max_send_bytes`` in hand waits for more requests to
    #: arrive before it sends, in seconds (the Collector's batch ``timeout`` is 0.2)
    send_wait_s: float = Field(default=0.02, ge=0, le=5)


class ForwardRetryConfig(_Strict):
    """Exponential backoff with jitter between attempts (as the Collector's ``retry_on_failure``)."""

    initial_interval_s: float = Field(default=1.0, gt=0)
    max_interval_s: float = Field(default=30.0, gt=0)
    multiplier: float = Field(default=1.5, ge=1)
    randomization_factor: float = Field(default=0.5, ge=0, le=1)
    #: give up on a request after this long (counted as dropped, reason ``retry_exhausted``);
    #: 0 = never: the request stays queued and a full queue pushes back on the clients
    max_elapsed_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _order(self) -> ForwardRetryConfig:
        if self.initial_interval_s > self.max_interval_s:
            raise ValueError(
                f"`initial_interval_s` ({self.initial_interval_s}) must not exceed "
                f"`max_interval_s` ({self.max_interval_s})"
            )
        return self


class ForwardConfig(_Strict):
    """Enriched traces and logs (and received metrics, unchanged) to OpenTelemetry Collectors."""

    targets: list[ForwardTargetConfig] = Field(default_factory=list)
    queue: ForwardQueueConfig = Field(default_factory=ForwardQueueConfig)
    retry: ForwardRetryConfig = Field(default_factory=ForwardRetryConfig)
    #: error classes whose calls get an ``llmpulse.alert`` span event (for the collector's
    #: alertmanager exporter); access-log calls of these classes get a span carrying the event
    alert_classes: list[str] = Field(default_factory=lambda: ["content_filter", "quota_exceeded"])
    #: the event's ``severity`` attribute (the alertmanager exporter's ``severity_attribute``)
    alert_severity: str = Field(default="warning", min_length=1)

    @field_validator("alert_classes")
    @classmethod
    def _classes(cls, value: list[str]) -> list[str]:
        from llmpulse.call import ERROR_CLASSES

        unknown = sorted(set(value) - set(ERROR_CLASSES))
        if unknown:
            raise ValueError(f"unknown error classes {unknown}; known: {list(ERROR_CLASSES)}")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> ForwardConfig:
        names = [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"target names must be unique (set `name`), repeated: {dupes}")
        return self


class LimitsConfig(_Strict):
    """Overload protection: refuse (retryably) before decoding when memory is tight."""

    #: resident-memory limit of the process in MiB; above 75 % of it requests are refused with
    #: RESOURCE_EXHAUSTED / HTTP 429 + retry hints until memory falls. 0 = no limit. With a
    #: limit, glibc hands freed request buffers straight back to the OS; without one it keeps
    #: them for reuse (faster: ``receiver.tune_allocator``)
    memory_limit_mib: int = Field(default=0, ge=0)
    #: request bytes processed at once, across both receivers, in MiB; with ``memory_limit_mib``
    #: at most a third of the headroom above its 75 % (gRPC calls reserve the size of recent
    #: bodies before theirs is read, so calls admitted together stay within it)
    max_inflight_mib: int = Field(default=64, ge=1)
    #: gRPC calls open at once; grpc itself refuses more with RESOURCE_EXHAUSTED (without
    #: RetryInfo, so keep it above the number of exporters that send at the same moment)
    max_concurrent_grpc_calls: int = Field(default=256, ge=1)
    #: the retry delay suggested to refused clients, in seconds
    retry_after_s: float = Field(default=1.0, gt=0, le=300)


PodAssociation = Literal["k8s.pod.ip", "k8s.pod.uid", "connection"]


def _default_association() -> list[PodAssociation]:
    return ["k8s.pod.ip", "k8s.pod.uid", "connection"]


class KubernetesConfig(_Strict):
    """Sender pod metadata (``k8s.pod.name``, ``k8s.namespace.name``, ``k8s.deployment.name``,
    ``k8s.node.name``) added to resources from a watch of pods and ReplicaSets (``kubernetes`` extra).
    """

    #: auto = on inside a pod (or with ``kubeconfig`` set), off elsewhere; true = fail at startup
    #: if the cluster cannot be reached; false = off
    enabled: Literal["auto"] | bool = "auto"
    #: kubeconfig file (outside a cluster); unset = the pod's service account, then ~/.kube/config
    kubeconfig: Path | None = None
    #: kubeconfig context; empty = its current context
    context: str = ""
    #: namespaces to watch; empty = all (needs cluster-wide get/list/watch on pods, replicasets)
    namespaces: list[str] = Field(default_factory=list)
    #: how a resource is matched to a pod, first match wins: attributes the sender set, then the
    #: connection's peer address (wrong behind a proxy or a node agent, hence last)
    association: list[PodAssociation] = Field(default_factory=_default_association, min_length=1)
    #: pod labels copied onto the resource as ``k8s.pod.label.<key>``
    pod_labels: list[str] = Field(default_factory=list)
    #: watch ReplicaSets to name the Deployment exactly; off = read it off the ReplicaSet name
    watch_replicasets: bool = True
    #: most pods cached; further pods are not enriched (llmpulse_k8s_pods_dropped_total)
    max_pods: int = Field(default=100_000, ge=1)
    #: seconds startup waits for the first pod list; 0 = do not wait
    wait_for_sync_s: float = Field(default=10.0, ge=0)
    #: seconds before the server ends a watch, which is then resumed from the last version
    watch_timeout_s: int = Field(default=300, ge=10, le=3600)


def _default_data_dir() -> Path:
    return Path("llmpulse-data")


class Config(_Strict):
    """Top-level llmpulse configuration (YAML file, ``LLMPULSE_*`` variables, CLI flags)."""

    receivers: ReceiversConfig = Field(default_factory=ReceiversConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    enrich: EnrichConfig = Field(default_factory=EnrichConfig)
    remote_write: RemoteWriteConfig = Field(default_factory=RemoteWriteConfig)
    forward: ForwardConfig = Field(default_factory=ForwardConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    #: processes serving the same ports (SO_REUSEPORT), each with its own llmpulse_instance
    workers: int = Field(default=1, ge=1, le=64)
    #: durable state: span-metrics state, remote-write and forwarding queues
    data_dir: Path = Field(default_factory=_default_data_dir)
    #: this replica's llmpulse_instance label; empty = generated once and kept in data_dir
    instance: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
