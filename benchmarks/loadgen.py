"""Load generator: pre-serialised OTLP trace batches that look like a real mixed fleet.

Each batch is an ``ExportTraceServiceRequest`` of exactly ``spans_per_batch`` spans, as an agent
or collector would send it: several services (resources), each with the spans of its
instrumentation scopes. About 80 % are ordinary spans (HTTP server and client, SQL, Redis,
messaging, internal work) with the attributes real instrumentations set; about 20 % are LLM spans
in five dialects (GenAI semconv, OpenLLMetry, OpenInference, OpenLIT, Vercel AI legacy) with
realistic attribute sets, prompt/completion content included, streaming, embeddings and errors.
LLM calls hang under the HTTP request that made them, as in real traces.

Everything is built once, up front, from a seeded RNG, so the bytes (and every count) are the
same on every run; the driver then only sends bytes. ``Batch`` says what each batch holds so
that a benchmark run (and the smoke test) can check the gateway saw exactly that.

    python -m benchmarks.loadgen --batches 4     # prints the composition of the generated load
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from llmpulse.otlp import assign

#: the dialect names llmpulse reports (``llmpulse_calls_recognised_total{dialect}``)
DIALECTS = ("semconv", "openllmetry", "openinference", "openlit", "vercel_ai")
#: relative frequency of each dialect among LLM calls
_DIALECT_WEIGHTS = (25, 20, 20, 15, 20)
#: LLM spans per call of each dialect (Vercel legacy: ``ai.generateText`` + ``.doGenerate``)
SPANS_PER_CALL = {"semconv": 1, "openllmetry": 1, "openinference": 1, "openlit": 1, "vercel_ai": 2}

BASE_TIME_NS = 1_760_000_000_000_000_000

Attr = tuple[str, object]


@dataclass(frozen=True, slots=True)
class Batch:
    """One pre-serialised request and what it holds."""

    body: bytes
    spans: int
    llm_spans: int
    calls: dict[str, int]
    #: where each span's trace id sits in ``body`` (see ``stamped``)
    trace_id_offsets: tuple[int, ...] = ()

    def stamped(self, number: int) -> bytes:
        """``body`` with ``number`` written into the first 4 bytes of every trace id.

        Replaying one batch must not look like a retried export: dedup remembers traces for a
        minute, and a real fleet never sends a trace twice. Stamping costs the client a copy and
        a few hundred slice writes; parent links and span ids are untouched."""
        data = bytearray(self.body)
        stamp = (number & 0xFFFFFFFF).to_bytes(4, "big")
        for offset in self.trace_id_offsets:
            data[offset : offset + 4] = stamp
        return bytes(data)


@dataclass(slots=True)
class _Planned:
    scope: tuple[str, str]
    span: Span


@dataclass(slots=True)
class _Trace:
    service: int
    trace_id: bytes
    root: Span
    spans: list[_Planned] = field(default_factory=list)


# -- attribute helpers -------------------------------------------------------------------------
def _attrs(attributes: object, pairs: list[Attr]) -> None:
    for key, value in pairs:
        kv: KeyValue = attributes.add()  # type: ignore[attr-defined]
        kv.key = key
        assign(kv.value, value)


_WORDS = [
    "the",
    "customer",
    "order",
    "invoice",
    "shipping",
    "delay",
    "refund",
    "policy",
    "account",
    "password",
    "reset",
    "premium",
    "plan",
    "summary",
    "report",
    "quarter",
    "revenue",
    "growth",
    "region",
    "europe",
    "product",
    "feature",
    "release",
    "notes",
    "bug",
    "crash",
    "latency",
    "database",
    "index",
    "migration",
    "kubernetes",
    "cluster",
    "node",
    "memory",
    "cpu",
    "alert",
    "dashboard",
    "metric",
    "please",
    "explain",
    "briefly",
    "why",
    "what",
    "how",
    "can",
    "you",
    "help",
    "me",
    "with",
    "this",
    "request",
    "thank",
    "you",
    "again",
    "today",
]

_SERVICES = (
    # (service.name, language, server scope, version)
    ("checkout-api", "python", "opentelemetry.instrumentation.fastapi", "0.48b0"),
    ("support-assistant", "python", "opentelemetry.instrumentation.flask", "0.48b0"),
    ("search-frontend", "nodejs", "@opentelemetry/instrumentation-http", "0.53.0"),
    ("recommendations", "java", "io.opentelemetry.tomcat-10.0", "2.8.0-alpha"),
    ("billing-worker", "go", "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.55.0"),
    ("docs-chatbot", "nodejs", "@opentelemetry/instrumentation-http", "0.53.0"),
)
_ROUTES = (
    ("GET", "/api/v1/orders/{order_id}", "/api/v1/orders/8812"),
    ("POST", "/api/v1/checkout", "/api/v1/checkout"),
    ("GET", "/api/v1/search", "/api/v1/search"),
    ("POST", "/v1/assistant/messages", "/v1/assistant/messages"),
    ("GET", "/healthz", "/healthz"),
    ("GET", "/api/v2/products/{sku}", "/api/v2/products/SKU-19922"),
    ("PUT", "/api/v1/cart/{cart_id}/items", "/api/v1/cart/c-7731/items"),
)
_SQL = (
    "SELECT o.id, o.status, o.total_cents, o.currency, c.email FROM orders o JOIN customers c "
    "ON c.id = o.customer_id WHERE o.id = $1",
    "UPDATE carts SET updated_at = now(), item_count = item_count + 1 WHERE id = $1 RETURNING id",
    "INSERT INTO audit_log (actor, action, subject, created_at) VALUES ($1, $2, $3, now())",
    "SELECT id, sku, name, price_cents, stock FROM products WHERE sku = ANY($1) ORDER BY name LIMIT 50",
)
_MODELS_OPENAI = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-5-mini", "o3-mini")
_MODELS_ANTHROPIC = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-5-haiku")
_EMBED_MODELS = ("text-embedding-3-small", "text-embedding-3-large")


class _Gen:
    """All randomness comes from one seeded RNG so every run builds identical bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def id(self, size: int) -> bytes:
        return self.rng.randbytes(size)

    def text(self, words: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(words)).capitalize() + "."

    def span(
        self, trace: _Trace | None, parent: Span | None, name: str, kind: int, start: int, dur_ms: float
    ) -> Span:
        span = Span(
            trace_id=trace.trace_id if trace is not None else self.id(16),
            span_id=self.id(8),
            name=name,
            kind=kind,  # type: ignore[arg-type]
            start_time_unix_nano=start,
            end_time_unix_nano=start + int(dur_ms * 1e6),
        )
        if parent is not None:
            span.parent_span_id = parent.span_id
        return span

    # -- resources ---------------------------------------------------------------------------
    def resource(self, rs: ResourceSpans, index: int, replica: int) -> None:
        name, language, _, _ = _SERVICES[index]
        _attrs(
            rs.resource.attributes,
            [
                ("service.name", name),
                ("service.namespace", "shop"),
                ("service.version", f"1.{index + 3}.{replica}"),
                ("service.instance.id", f"{name}-7d9f8c6b5-{replica:05x}"),
                ("deployment.environment.name", "production"),
                ("telemetry.sdk.name", "opentelemetry"),
                ("telemetry.sdk.language", language),
                ("telemetry.sdk.version", "1.27.0"),
                ("host.name", f"ip-10-0-{index}-{replica % 250}.ec2.internal"),
                ("host.arch", "amd64"),
                ("os.type", "linux"),
                ("process.pid", 1 + replica),
                ("process.runtime.name", {"python": "cpython", "nodejs": "nodejs"}.get(language, language)),
                ("k8s.namespace.name", "shop-prod"),
                ("k8s.deployment.name", name),
                ("k8s.pod.name", f"{name}-7d9f8c6b5-{replica:05x}"),
                ("k8s.node.name", f"ip-10-0-{index}-{replica % 250}"),
                ("cloud.provider", "aws"),
                ("cloud.region", "eu-west-1"),
            ],
        )

    # -- ordinary spans -----------------------------------------------------------------------
    def server_span(self, service: int, start: int) -> tuple[_Trace, Span]:
        rng = self.rng
        method, route, path = rng.choice(_ROUTES)
        status = rng.choices((200, 201, 204, 400, 404, 500), (70, 8, 5, 6, 6, 5))[0]
        trace = _Trace(service, self.id(16), Span())
        span = self.span(trace, None, f"{method} {route}", Span.SPAN_KIND_SERVER, start, rng.uniform(20, 900))
        pairs: list[Attr] = [
            ("http.request.method", method),
            ("url.scheme", "https"),
            ("url.path", path),
            ("http.route", route),
            ("http.response.status_code", status),
            ("server.address", f"{_SERVICES[service][0]}.shop-prod.svc.cluster.local"),
            ("server.port", 8080),
            ("network.protocol.version", "1.1"),
            ("network.peer.address", f"10.0.{rng.randrange(256)}.{rng.randrange(256)}"),
            ("client.address", f"203.0.113.{rng.randrange(256)}"),
            (
                "user_agent.original",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/129.0 Safari/537.36",
            ),
        ]
        if method != "GET":
            pairs.append(("http.request.body.size", rng.randrange(80, 4000)))
        if rng.random() < 0.02:  # captured request headers, as some apps configure
            pairs.append(("http.request.header.authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.demo.sig"))
        _attrs(span.attributes, pairs)
        if status >= 500:
            span.status.code = Status.STATUS_CODE_ERROR
            event = span.events.add()
            event.name = "exception"
            event.time_unix_nano = span.end_time_unix_nano - 1000
            _attrs(
                event.attributes,
                [
                    ("exception.type", "psycopg.errors.QueryCanceled"),
                    ("exception.message", "canceling statement due to statement timeout"),
                    ("exception.stacktrace", "Traceback (most recent call last):\n" + "  File ...\n" * 12),
                ],
            )
        trace.root = span
        return trace, span

    def child_span(self, trace: _Trace) -> _Planned:
        rng = self.rng
        root = trace.root
        start = root.start_time_unix_nano + rng.randrange(1, 5_000_000)
        language = _SERVICES[trace.service][1]
        kind = rng.choices(("sql", "redis", "http", "internal", "kafka"), (40, 20, 20, 12, 8))[0]
        if kind == "sql":
            statement = rng.choice(_SQL)
            op = statement.split()[0]
            table = {"SELECT": "orders", "UPDATE": "carts", "INSERT": "audit_log"}[op]
            span = self.span(
                trace, root, f"{op} shop.{table}", Span.SPAN_KIND_CLIENT, start, rng.uniform(0.3, 40)
            )
            pairs: list[Attr] = [
                ("db.system.name", "postgresql"),
                ("db.namespace", "shop"),
                ("db.operation.name", op),
                ("db.collection.name", table),
                ("db.query.text", statement),
                ("server.address", "orders-db.shop-prod.svc.cluster.local"),
                ("server.port", 5432),
                ("db.response.returned_rows", rng.randrange(0, 50)),
            ]
            scope = ("opentelemetry.instrumentation.psycopg", "0.48b0")
        elif kind == "redis":
            op = rng.choice(("GET", "SET", "HGETALL", "EXPIRE"))
            span = self.span(trace, root, op, Span.SPAN_KIND_CLIENT, start, rng.uniform(0.1, 3))
            pairs = [
                ("db.system.name", "redis"),
                ("db.operation.name", op),
                ("db.query.text", f"{op} session:{rng.randrange(10**6)}"),
                ("db.namespace", "0"),
                ("server.address", "redis-master.shop-prod.svc.cluster.local"),
                ("server.port", 6379),
            ]
            scope = ("opentelemetry.instrumentation.redis", "0.48b0")
        elif kind == "http":
            status = rng.choices((200, 404, 503), (90, 6, 4))[0]
            host = rng.choice(("payments.internal", "inventory.shop-prod.svc", "api.stripe.com"))
            span = self.span(trace, root, "POST", Span.SPAN_KIND_CLIENT, start, rng.uniform(5, 300))
            pairs = [
                ("http.request.method", "POST"),
                ("url.full", f"https://{host}/v1/charges?idempotency={rng.randrange(10**9)}"),
                ("server.address", host),
                ("server.port", 443),
                ("http.response.status_code", status),
                ("network.protocol.version", "2"),
            ]
            if status >= 500:
                pairs.append(("error.type", str(status)))
                span.status.code = Status.STATUS_CODE_ERROR
            scope = ("opentelemetry.instrumentation.httpx", "0.48b0")
        elif kind == "kafka":
            span = self.span(
                trace, root, "orders publish", Span.SPAN_KIND_PRODUCER, start, rng.uniform(0.5, 8)
            )
            pairs = [
                ("messaging.system", "kafka"),
                ("messaging.operation.type", "publish"),
                ("messaging.destination.name", "orders"),
                ("messaging.kafka.message.key", f"order-{rng.randrange(10**6)}"),
                ("messaging.message.body.size", rng.randrange(200, 3000)),
                ("server.address", "kafka-0.kafka.svc"),
            ]
            scope = ("opentelemetry.instrumentation.kafka", "0.48b0")
        else:
            span = self.span(
                trace, root, "render_template", Span.SPAN_KIND_INTERNAL, start, rng.uniform(0.1, 20)
            )
            pairs = [
                ("code.function.name", "render_template"),
                ("code.file.path", "app/views.py"),
                ("code.line.number", rng.randrange(10, 900)),
                ("thread.name", "MainThread"),
            ]
            scope = (f"{language}.app", "1.0.0")
        _attrs(span.attributes, pairs)
        return _Planned(scope, span)

    # -- LLM spans -------------------------------------------------------------------------------
    def _messages(self, turns: int) -> tuple[list[dict[str, object]], str]:
        messages: list[dict[str, object]] = [
            {"role": "system", "parts": [{"type": "text", "content": self.text(self.rng.randrange(20, 80))}]}
        ]
        for _ in range(turns):
            messages.append(
                {
                    "role": "user",
                    "parts": [{"type": "text", "content": self.text(self.rng.randrange(8, 120))}],
                }
            )
        return messages, self.text(self.rng.randrange(10, 160))

    def llm_call(self, dialect: str, trace: _Trace) -> list[_Planned]:
        rng = self.rng
        root = trace.root
        start = root.start_time_unix_nano + rng.randrange(1, 5_000_000)
        dur_ms = rng.uniform(300, 6000)
        embedding = rng.random() < 0.1
        stream = not embedding and rng.random() < 0.35
        error = rng.random() < 0.05
        anthropic = dialect in ("openllmetry", "openlit") and rng.random() < 0.4
        model = rng.choice(_EMBED_MODELS if embedding else _MODELS_ANTHROPIC if anthropic else _MODELS_OPENAI)
        provider = "anthropic" if anthropic else "openai"
        messages, answer = self._messages(rng.randrange(1, 4))
        in_tok, out_tok = rng.randrange(40, 6000), (0 if embedding else rng.randrange(5, 900))
        cached = rng.choice((0, 0, 0, in_tok // 2))
        ttft_s = min(rng.uniform(0.08, 1.5), dur_ms / 1000 * 0.9)
        finish = rng.choices(("stop", "length", "tool_calls", "content_filter"), (85, 7, 6, 2))[0]
        op = "embeddings" if embedding else "chat"
        out_messages = [
            {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": finish}
        ]

        def finish_error(span: Span) -> None:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = "Error code: 429 - Rate limit reached for requests"
            event = span.events.add()
            event.name = "exception"
            event.time_unix_nano = span.end_time_unix_nano
            _attrs(
                event.attributes,
                [
                    ("exception.type", "openai.RateLimitError"),
                    ("exception.message", "Error code: 429 - {'error': {'code': 'rate_limit_exceeded'}}"),
                ],
            )

        if dialect == "semconv":
            span = self.span(trace, root, f"{op} {model}", Span.SPAN_KIND_CLIENT, start, dur_ms)
            pairs: list[Attr] = [
                ("gen_ai.operation.name", op),
                ("gen_ai.provider.name", "openai"),
                ("gen_ai.request.model", model),
                ("server.address", "api.openai.com"),
                ("server.port", 443),
            ]
            if not embedding:
                pairs += [
                    ("gen_ai.request.temperature", 0.2),
                    ("gen_ai.request.max_tokens", 1024),
                    ("gen_ai.request.stream", stream),
                    ("gen_ai.input.messages", json.dumps(messages)),
                ]
            if error:
                pairs += [("error.type", "RateLimitError"), ("http.response.status_code", 429)]
                finish_error(span)
            else:
                pairs += [
                    ("gen_ai.response.model", model + "-2025-04-14"),
                    ("gen_ai.response.id", f"chatcmpl-{rng.randbytes(12).hex()}"),
                    ("gen_ai.usage.input_tokens", in_tok),
                    ("gen_ai.usage.output_tokens", out_tok),
                ]
                if not embedding:
                    pairs += [
                        ("gen_ai.response.finish_reasons", [finish]),
                        ("gen_ai.usage.cache_read.input_tokens", cached),
                        ("gen_ai.output.messages", json.dumps(out_messages)),
                    ]
                    if stream:
                        pairs.append(("gen_ai.response.time_to_first_chunk", ttft_s))
            _attrs(span.attributes, pairs)
            return [_Planned(("opentelemetry.instrumentation.openai_v2", "2.1b0"), span)]

        if dialect == "openllmetry":
            lib = "anthropic" if anthropic else "openai"
            name = f"{lib}.{'embeddings' if embedding else 'chat'}"
            span = self.span(trace, root, name, Span.SPAN_KIND_CLIENT, start, dur_ms)
            pairs = [
                ("llm.request.type", "embedding" if embedding else "chat"),
                ("gen_ai.system", "Anthropic" if anthropic else "openai"),
                ("gen_ai.request.model", model),
                ("llm.is_streaming", stream),
                (
                    "gen_ai.openai.api_base",
                    "https://api.anthropic.com" if anthropic else "https://api.openai.com/v1/",
                ),
                ("llm.headers", "None"),
                ("traceloop.association.properties.session_id", f"sess-{rng.randrange(10**6)}"),
            ]
            if not embedding:
                pairs += [("gen_ai.request.max_tokens", 1024), ("gen_ai.request.temperature", 0.7)]
                for i, message in enumerate(messages):
                    parts = message["parts"]
                    assert isinstance(parts, list)
                    pairs += [
                        (f"gen_ai.prompt.{i}.role", str(message["role"])),
                        (f"gen_ai.prompt.{i}.content", str(parts[0]["content"])),
                    ]
            if error:
                pairs.append(("error.type", "RateLimitError"))
                finish_error(span)
            else:
                pairs += [
                    ("gen_ai.response.model", model),
                    ("gen_ai.response.id", f"msg_{rng.randbytes(10).hex()}"),
                    ("gen_ai.usage.prompt_tokens", in_tok),
                    ("gen_ai.usage.completion_tokens", out_tok),
                    ("llm.usage.total_tokens", in_tok + out_tok),
                    ("gen_ai.usage.cache_read_input_tokens", cached),
                ]
                if not embedding:
                    pairs += [
                        ("gen_ai.completion.0.finish_reason", finish),
                        ("gen_ai.completion.0.role", "assistant"),
                        ("gen_ai.completion.0.content", answer),
                    ]
            _attrs(span.attributes, pairs)
            if stream and not error:
                for k in range(3):
                    event = span.events.add()
                    event.name = "llm.content.completion.chunk"
                    event.time_unix_nano = start + int(ttft_s * 1e9) + k * 20_000_000
            scope = f"opentelemetry.instrumentation.{'anthropic' if anthropic else 'openai.v1'}"
            return [_Planned((scope, "0.47.3"), span)]

        if dialect == "openinference":
            name = "CreateEmbeddings" if embedding else "ChatCompletion"
            span = self.span(trace, root, name, Span.SPAN_KIND_INTERNAL, start, dur_ms)
            invocation = (
                {"model": model, "temperature": 0.3, "stream": stream} if not embedding else {"model": model}
            )
            pairs = [
                ("openinference.span.kind", "EMBEDDING" if embedding else "LLM"),
                ("llm.system", "openai"),
                ("llm.provider", "openai"),
                ("input.value", json.dumps({"model": model, "messages": messages})),
                ("input.mime_type", "application/json"),
                (
                    "embedding.invocation_parameters" if embedding else "llm.invocation_parameters",
                    json.dumps(invocation),
                ),
                ("session.id", f"sess-{rng.randrange(10**6)}"),
            ]
            if not embedding:
                for i, message in enumerate(messages):
                    parts = message["parts"]
                    assert isinstance(parts, list)
                    pairs += [
                        (f"llm.input_messages.{i}.message.role", str(message["role"])),
                        (f"llm.input_messages.{i}.message.content", str(parts[0]["content"])),
                    ]
            if error:
                finish_error(span)
            else:
                pairs += [
                    (
                        "output.value",
                        json.dumps({"id": "chatcmpl-x", "choices": [{"message": {"content": answer}}]}),
                    ),
                    ("output.mime_type", "application/json"),
                    ("embedding.model_name" if embedding else "llm.model_name", model),
                    ("llm.token_count.prompt", in_tok),
                    ("llm.token_count.completion", out_tok),
                    ("llm.token_count.total", in_tok + out_tok),
                    ("llm.token_count.prompt_details.cache_read", cached),
                ]
                if not embedding:
                    pairs += [
                        ("llm.output_messages.0.message.role", "assistant"),
                        ("llm.output_messages.0.message.content", answer),
                        ("llm.finish_reason", finish),
                    ]
            _attrs(span.attributes, pairs)
            return [_Planned(("openinference.instrumentation.openai", "0.1.30"), span)]

        if dialect == "openlit":
            span = self.span(trace, root, f"{op} {model}", Span.SPAN_KIND_CLIENT, start, dur_ms)
            pairs = [
                ("telemetry.sdk.name", "openlit"),
                ("gen_ai.operation.name", op),
                ("gen_ai.provider.name", provider),
                ("server.address", "api.anthropic.com" if anthropic else "api.openai.com"),
                ("server.port", 443),
                ("gen_ai.request.model", model),
                ("deployment.environment", "production"),
                ("service.name", _SERVICES[trace.service][0]),
                ("gen_ai.request.stream", stream),
                ("gen_ai.sdk.version", "1.51.0"),
                ("gen_ai.input.messages", json.dumps(messages)),
            ]
            if error:
                pairs.append(("error.type", "RateLimitError"))
                finish_error(span)
            else:
                pairs += [
                    ("gen_ai.response.model", model),
                    ("gen_ai.response.id", f"resp-{rng.randbytes(8).hex()}"),
                    ("gen_ai.response.finish_reasons", [finish]),
                    ("gen_ai.usage.input_tokens", in_tok),
                    ("gen_ai.usage.output_tokens", out_tok),
                    ("gen_ai.client.token.usage", in_tok + out_tok),
                    ("gen_ai.usage.cache_read.input_tokens", cached),
                    ("gen_ai.server.time_to_first_token", ttft_s if stream else dur_ms / 1000),
                    ("gen_ai.server.time_per_output_token", 0.02 if stream else 0.0),
                    ("gen_ai.usage.cost", round(in_tok * 1.5e-7 + out_tok * 6e-7, 8)),
                    ("gen_ai.output.messages", json.dumps(out_messages)),
                ]
            _attrs(span.attributes, pairs)
            scope = f"openlit.instrumentation.{'anthropic' if anthropic else 'openai'}"
            return [_Planned((scope, "1.51.0"), span)]

        # Vercel AI legacy: the outer ai.generateText/streamText span repeats the usage of its
        # provider call span (doGenerate/doStream) and is not itself a call.
        outer_op = "ai.embed" if embedding else "ai.streamText" if stream else "ai.generateText"
        inner = "doEmbed" if embedding else "doStream" if stream else "doGenerate"
        outer = self.span(trace, root, outer_op, Span.SPAN_KIND_INTERNAL, start, dur_ms + 5)
        call = self.span(
            trace, outer, f"{outer_op}.{inner}", Span.SPAN_KIND_CLIENT, start + 2_000_000, dur_ms
        )
        common: list[Attr] = [
            ("ai.model.id", model),
            ("ai.model.provider", "openai.embedding" if embedding else "openai.chat"),
            ("ai.settings.maxRetries", 2),
            ("ai.telemetry.functionId", "support-answer"),
            ("ai.telemetry.metadata.userId", f"user-{rng.randrange(10**5)}"),
            ("resource.name", "support-answer"),
        ]
        outer_pairs = [
            *common,
            ("ai.operationId", outer_op),
            ("operation.name", f"{outer_op} support-answer"),
            ("ai.prompt", json.dumps({"system": "You are helpful.", "prompt": answer})),
        ]
        call_pairs = [
            *common,
            ("ai.operationId", f"{outer_op}.{inner}"),
            ("operation.name", f"{outer_op}.{inner} support-answer"),
            ("gen_ai.system", "openai.chat"),
            ("gen_ai.request.model", model),
        ]
        if not embedding:
            call_pairs.append(("ai.prompt.messages", json.dumps(messages)))
        if error:
            finish_error(call)
            finish_error(outer)
        else:
            usage: list[Attr] = [("ai.usage.promptTokens", in_tok), ("ai.usage.completionTokens", out_tok)]
            if embedding:
                usage = [("ai.usage.tokens", in_tok)]
            outer_pairs += [*usage, ("ai.response.text", answer)] if not embedding else usage
            call_pairs += [
                *usage,
                ("ai.response.model", model),
                ("ai.response.id", f"chatcmpl-{rng.randbytes(8).hex()}"),
                ("gen_ai.response.model", model),
                ("gen_ai.usage.input_tokens", in_tok),
                ("gen_ai.usage.output_tokens", out_tok),
            ]
            if not embedding:
                call_pairs += [
                    ("ai.response.finishReason", finish),
                    ("gen_ai.response.finish_reasons", [finish]),
                    ("ai.response.text", answer),
                ]
            if stream:
                call_pairs += [
                    ("ai.response.msToFirstChunk", round(ttft_s * 1000, 3)),
                    ("ai.response.msToFinish", round(dur_ms, 3)),
                ]
                event = call.events.add()
                event.name = "ai.stream.firstChunk"
                event.time_unix_nano = call.start_time_unix_nano + int(ttft_s * 1e9)
        _attrs(outer.attributes, outer_pairs)
        _attrs(call.attributes, call_pairs)
        return [_Planned(("ai", "4.3.16"), outer), _Planned(("ai", "4.3.16"), call)]


def _pick_dialects(gen: _Gen, llm_spans: int) -> list[str]:
    """Dialects of the calls in a batch, whose spans add up to exactly ``llm_spans``."""
    picked: list[str] = []
    left = llm_spans
    while left > 0:
        dialect = gen.rng.choices(DIALECTS, _DIALECT_WEIGHTS)[0]
        if SPANS_PER_CALL[dialect] > left:
            dialect = "semconv"
        picked.append(dialect)
        left -= SPANS_PER_CALL[dialect]
    return picked


def build_batch(gen: _Gen, number: int, spans: int, llm_share: float) -> Batch:
    llm_spans = round(spans * llm_share)
    ordinary = spans - llm_spans
    start = BASE_TIME_NS + number * 1_000_000_000
    services = gen.rng.sample(range(len(_SERVICES)), 4)
    traces: list[_Trace] = []
    while ordinary > 0:
        trace, root = gen.server_span(gen.rng.choice(services), start + gen.rng.randrange(10**9))
        server_scope = _SERVICES[trace.service][2:4]
        trace.spans.append(_Planned((server_scope[0], server_scope[1]), root))
        ordinary -= 1
        for _ in range(min(gen.rng.randrange(1, 9), ordinary)):
            trace.spans.append(gen.child_span(trace))
            ordinary -= 1
        traces.append(trace)
    calls: Counter[str] = Counter()
    for dialect in _pick_dialects(gen, llm_spans):
        trace = gen.rng.choice(traces)
        trace.spans.extend(gen.llm_call(dialect, trace))
        calls[dialect] += 1

    request = ExportTraceServiceRequest()
    by_service: dict[int, dict[tuple[str, str], list[Span]]] = {}
    for trace in traces:
        scopes = by_service.setdefault(trace.service, {})
        for planned in trace.spans:
            scopes.setdefault(planned.scope, []).append(planned.span)
    for service, scopes in by_service.items():
        rs = request.resource_spans.add()
        gen.resource(rs, service, number % 7)
        rs.schema_url = "https://opentelemetry.io/schemas/1.27.0"
        for (scope_name, version), scope_spans in scopes.items():
            ss = rs.scope_spans.add()
            ss.scope.name = scope_name
            ss.scope.version = version
            ss.spans.extend(scope_spans)
    body = request.SerializeToString()
    return Batch(body, spans, llm_spans, dict(calls), _trace_id_offsets(body, traces))


def _trace_id_offsets(body: bytes, traces: list[_Trace]) -> tuple[int, ...]:
    """Every occurrence of every trace id (field 1 of Span: tag 0x0a, length 16)."""
    offsets: list[int] = []
    for trace in traces:
        needle = b"\x0a\x10" + trace.trace_id
        at = body.find(needle)
        while at != -1:
            offsets.append(at + 2)
            at = body.find(needle, at + 1)
    if len(offsets) != sum(len(t.spans) for t in traces):
        raise AssertionError("a trace id is not where protobuf puts it (or collides): regenerate")
    return tuple(sorted(offsets))


def build_load(
    batches: int = 16, spans_per_batch: int = 512, llm_share: float = 0.2, seed: int = 20251
) -> list[Batch]:
    """``batches`` distinct pre-serialised requests (same arguments, same bytes)."""
    gen = _Gen(seed)
    return [build_batch(gen, n, spans_per_batch, llm_share) for n in range(batches)]


def describe(load: list[Batch]) -> str:
    calls: Counter[str] = Counter()
    for batch in load:
        calls.update(batch.calls)
    total = sum(b.spans for b in load)
    llm = sum(b.llm_spans for b in load)
    size = sum(len(b.body) for b in load)
    return (
        f"{len(load)} batches, {total} spans ({llm} LLM = {llm / total:.1%}), "
        f"{size / len(load) / 1024:.0f} KiB/batch, calls by dialect: {dict(sorted(calls.items()))}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--spans", type=int, default=512)
    parser.add_argument("--llm-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=20251)
    args = parser.parse_args(argv)
    print(describe(build_load(args.batches, args.spans, args.llm_share, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
