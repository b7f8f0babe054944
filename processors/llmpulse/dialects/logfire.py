"""Pydantic Logfire's LLM integrations and Pydantic AI.

Both write ``gen_ai.provider.name`` and ``gen_ai.system``; Logfire's v1 format keeps the request
and response as JSON (``request_data``/``response_data``) and names the span with its message
template; the OpenAI usage object inside ``response_data`` carries the cached and reasoning
details (reference §13). Pydantic AI counts input inclusive of cache for every provider, puts
extra usage under ``gen_ai.usage.details.*``, and renames agent aggregates to
``gen_ai.aggregated_usage.*`` (agent spans are ``invoke_agent``: not calls). Cost is
``operation.cost`` (USD).
"""

from __future__ import annotations

import re

from llmpulse.dialects import semconv
from llmpulse.dialects._spec import A, Dialect, J, Name, extend

_TEMPLATE = re.compile(
    r"^(?P<op>Chat Completion|Completion|Embedding Creation|Image Generation|Message) with "
)
_OPS = {
    "Chat Completion": "chat",
    "Message": "chat",
    "Completion": "text_completion",
    "Embedding Creation": "embeddings",
    "Image Generation": "image_generation",
}

DIALECT: Dialect = Dialect(
    name="logfire",
    fields=extend(
        semconv.FIELDS,
        operation=(Name(_TEMPLATE, "op", _OPS),),
        request_model=(J("request_data", ("model",)),),
        response_model=(J("response_data", ("model",)), J("response_data", ("message", "model"))),
        input_tokens=(
            J("response_data", ("usage", "prompt_tokens")),
            J("response_data", ("usage", "input_tokens")),
        ),
        output_tokens=(
            J("response_data", ("usage", "completion_tokens")),
            J("response_data", ("usage", "output_tokens")),
        ),
        cache_read_tokens=(
            J("response_data", ("usage", "prompt_tokens_details", "cached_tokens")),
            A("gen_ai.usage.details.cache_read_tokens"),
        ),
        cache_write_tokens=(A("gen_ai.usage.details.cache_write_tokens"),),
        reasoning_tokens=(
            J("response_data", ("usage", "completion_tokens_details", "reasoning_tokens")),
            A("gen_ai.usage.details.reasoning_tokens"),
        ),
        streaming=(J("request_data", ("stream",)),),
        reported_cost_usd=(A("operation.cost"),),
    ),
    scopes=("logfire", "pydantic-ai", "pydantic_ai"),
    markers=(
        "logfire.msg_template",
        "logfire.span_type",
        "gen_ai.usage.details.reasoning_tokens",
        "operation.cost",
    ),
    not_calls=re.compile(r"^streaming response from "),
)
