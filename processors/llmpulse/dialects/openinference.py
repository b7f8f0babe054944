"""OpenInference (Arize / Phoenix), also Envoy AI Gateway's default tracing mode.

Calls are spans with ``openinference.span.kind`` ``LLM`` or ``EMBEDDING`` (CHAIN/AGENT/TOOL wrap
calls). Input tokens are inclusive of cache for every provider. The request model is often only
inside ``llm.invocation_parameters`` (JSON); streaming likewise. No ``error.type``: errors are the
span status plus an ``exception`` event, which the engine reads for every dialect.
"""

from __future__ import annotations

from llmpulse.dialects._spec import A, Dialect, Event, J, Mapped

KIND = "openinference.span.kind"

DIALECT: Dialect = Dialect(
    name="openinference",
    fields={
        "operation": (Mapped(KIND, {"LLM": "chat", "EMBEDDING": "embeddings", "RERANKER": "rerank"}),),
        "provider": (A("llm.provider"), A("llm.system")),
        "request_model": (
            A("llm.request.model_name"),
            J("llm.invocation_parameters", ("model",)),
            J("embedding.invocation_parameters", ("model",)),
            A("gen_ai.request.model"),
        ),
        "response_model": (A("llm.response.model_name"), A("llm.model_name"), A("embedding.model_name")),
        "input_tokens": (A("llm.token_count.prompt"),),
        "output_tokens": (A("llm.token_count.completion"),),
        "cache_read_tokens": (
            A("llm.token_count.prompt_details.cache_read"),
            A("llm.token_count.prompt_details.cache_input"),
        ),
        "cache_write_tokens": (
            A("llm.token_count.prompt_details.cache_write"),
            A("llm.token_count.prompt_details.cache_creation"),
        ),
        "reasoning_tokens": (A("llm.token_count.completion_details.reasoning"),),
        "streaming": (J("llm.invocation_parameters", ("stream",)),),
        "ttft_s": (
            Event(frozenset({"First Token Stream Event", "first_token"})),
            A("time_to_first_token_ms", scale=0.001, implies_streaming=True),
        ),
        "finish_reasons": (A("llm.finish_reason"),),
        "http_status": (A("http.response.status_code"), A("http.status_code")),
        "reported_cost_usd": (A("llm.cost.total"),),
    },
    scopes=("openinference.instrumentation",),
    markers=(KIND,),
    call_marker=(KIND, frozenset({"LLM", "EMBEDDING", "RERANKER"})),
    provider_aliases={
        "google": "gcp.gemini",
        "vertexai": "gcp.vertex_ai",
        "azure": "azure.ai.openai",
        "aws": "aws.bedrock",
        "mistralai": "mistral_ai",
        "xai": "x_ai",
    },
)
