"""Canonical spellings of providers and operations shared by every dialect."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

#: Deprecated or library-specific provider values → GenAI semconv v1.41 values. ``None`` drops a
#: value that is not a provider (LangSmith's default ``langchain``).
PROVIDER_ALIASES: dict[str, str | None] = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure.openai": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "google_genai": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "xai": "x_ai",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "watsonx": "ibm.watsonx.ai",
    "qwen": "dashscope",
    "tongyi": "dashscope",
    "alibaba": "dashscope",
    "alibaba_cloud": "dashscope",
    "aliyun": "dashscope",
    "moonshot": "moonshot_ai",
    "langchain": None,
    "unknown": None,
}

#: Suffixes some libraries append to the provider (Vercel ``openai.chat``).
_API_SUFFIXES = (
    ".chat",
    ".responses",
    ".completion",
    ".completions",
    ".embedding",
    ".embeddings",
    ".messages",
    ".image",
    ".transcription",
    ".speech",
)

OPERATION_ALIASES: dict[str, str] = {
    "completion": "text_completion",
    "embedding": "embeddings",
    "generate": "generate_content",
    "chat_completions": "chat",
    "chat.completions": "chat",
}


def provider_name(raw: str, extra: dict[str, str | None] | None = None) -> str | None:
    for table in (extra or {}, PROVIDER_ALIASES):
        if raw in table:
            return table[raw]
    value = raw.strip().lower()
    for suffix in _API_SUFFIXES:
        if value.endswith(suffix):
            value = value[: -len(suffix)]
            break
    for table in (extra or {}, PROVIDER_ALIASES):
        if value in table:
            return table[value]
    return value or None


def operation_name(raw: str, extra: dict[str, str] | None = None) -> str:
    if extra and raw in extra:
        return extra[raw]
    value = raw.strip().lower()
    if extra and value in extra:
        return extra[value]
    return OPERATION_ALIASES.get(value, value)


@functools.lru_cache(maxsize=1024)
def host_of(address: str) -> str:
    """``https://api.openai.com/v1/`` → ``api.openai.com`` (OpenLLMetry sends the base URL).
    Cached: a fleet calls a handful of endpoints, and ``urlsplit`` costs ~2 µs a call."""
    if "://" in address:
        try:
            host = urlsplit(address).hostname
        except ValueError:  # "http://[::1" (an unclosed IPv6 bracket) is not a URL: keep it as sent
            return address
        return host or address
    return address
