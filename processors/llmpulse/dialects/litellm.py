"""LiteLLM's OTel callback (``litellm/integrations/opentelemetry.py``).

``litellm_request`` is the call; its ``raw_gen_ai_request`` child repeats it with raw provider
params (not counted), as do the proxy root and guardrail spans. ``gen_ai.system`` holds LiteLLM
provider ids; ``llm.is_streaming`` is the string ``"True"``/``"False"``; finish reasons a JSON
string; ``error.code`` the HTTP status as a string.
"""

from __future__ import annotations

import re

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, extend

DIALECT: Dialect = Dialect(
    name="litellm",
    fields=extend(
        semconv.FIELDS,
        streaming=(A("llm.is_streaming"),),
        error_code=(A("error.code"),),
        error_message=(A("error.message"),),
        http_status=(A("error.code"),),
        reported_cost_usd=(A("gen_ai.cost.total_cost"), A("gen_ai.cost.response_cost")),
    ),
    scopes=("litellm",),
    markers=("gen_ai.framework", "metadata.user_api_key_hash", "error.llm_provider"),
    detect=lambda span: (
        span.name in ("litellm_request", "raw_gen_ai_request")
        or isinstance(span.attrs.get("llm.is_streaming"), str)
    ),
    not_calls=re.compile(r"^(raw_gen_ai_request|Received Proxy Server Request|guardrail|proxy_pre_call)$"),
    operation_aliases={
        "completion": "chat",
        "acompletion": "chat",
        "embedding": "embeddings",
        "aembedding": "embeddings",
        "atext_completion": "text_completion",
        "aimage_generation": "image_generation",
        "arerank": "rerank",
    },
    provider_aliases={
        "azure": "azure.ai.openai",
        "bedrock": "aws.bedrock",
        "vertex_ai": "gcp.vertex_ai",
        "gemini": "gcp.gemini",
        "mistral": "mistral_ai",
        "xai": "x_ai",
        "azure_ai": "azure.ai.inference",
        "watsonx": "ibm.watsonx.ai",
    },
)
