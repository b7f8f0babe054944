"""What a request's URL says about an LLM call: operation, provider, model, streaming.

Access logs rarely name the operation or the provider, but the request path and the upstream
host do (``/v1/chat/completions`` at ``api.openai.com``). Two ordered tables, data only; the
first matching row wins. Sources: the providers' REST references (OpenAI, Anthropic, Gemini
``models/{model}:generateContent``, DashScope ``/api/v1/services/aigc/...``, Azure OpenAI
deployments, Bedrock runtime).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    operation: str
    provider: str | None = None
    streaming: bool | None = None


def _r(path: str, operation: str, provider: str | None = None, streaming: bool | None = None) -> Route:
    return Route(re.compile(path), operation, provider, streaming)


#: Request path → operation. ``count_tokens`` and the like are not calls (operation outside
#: ``INFERENCE_OPERATIONS``), so a log of them is never counted.
ROUTES: tuple[Route, ...] = (
    _r(r"/v1/messages/count_tokens$", "count_tokens", "anthropic"),
    _r(r"/v1/messages$", "chat", "anthropic"),
    _r(r"/openai/deployments/(?P<model>[^/]+)/chat/completions$", "chat", "azure.ai.openai"),
    _r(r"/openai/deployments/(?P<model>[^/]+)/embeddings$", "embeddings", "azure.ai.openai"),
    _r(r"/openai/deployments/(?P<model>[^/]+)/completions$", "text_completion", "azure.ai.openai"),
    _r(r"/chat/completions$", "chat"),
    _r(r"/embeddings$", "embeddings"),
    _r(r"/responses$", "chat"),
    _r(r"/completions$", "text_completion"),
    _r(r"/images/generations$", "image_generation"),
    _r(r"/audio/speech$", "speech"),
    _r(r"/audio/transcriptions$", "transcription"),
    _r(r"/audio/translations$", "translation"),
    _r(r"/rerank$", "rerank"),
    _r(r"/models/(?P<model>[^/:]+):streamGenerateContent$", "generate_content", None, True),
    _r(r"/models/(?P<model>[^/:]+):generateContent$", "generate_content"),
    _r(r"/models/(?P<model>[^/:]+):(?:batchEmbedContents|embedContent)$", "embeddings"),
    _r(r"/models/(?P<model>[^/:]+):countTokens$", "count_tokens"),
    _r(r"/api/v1/services/aigc/(?:text|multimodal)-generation/generation$", "chat", "dashscope"),
    _r(r"/api/v1/services/embeddings/", "embeddings", "dashscope"),
    _r(r"/model/(?P<model>[^/]+)/converse-stream$", "chat", "aws.bedrock", True),
    _r(r"/model/(?P<model>[^/]+)/converse$", "chat", "aws.bedrock"),
    _r(r"/model/(?P<model>[^/]+)/invoke-with-response-stream$", "chat", "aws.bedrock", True),
    _r(r"/model/(?P<model>[^/]+)/invoke$", "chat", "aws.bedrock"),
)

#: Upstream host → GenAI semconv provider name.
HOSTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), provider)
    for pattern, provider in (
        (r"(^|\.)api\.openai\.com$", "openai"),
        (r"\.openai\.azure\.com$", "azure.ai.openai"),
        (r"\.(services|inference)\.ai\.azure\.com$", "azure.ai.inference"),
        (r"(^|\.)api\.anthropic\.com$", "anthropic"),
        (r"(^|\.)generativelanguage\.googleapis\.com$", "gcp.gemini"),
        (r"aiplatform\.googleapis\.com$", "gcp.vertex_ai"),
        (r"(^|\.)dashscope(-intl|-us)?\.aliyuncs\.com$", "dashscope"),
        (r"(^|\.)api\.deepseek\.com$", "deepseek"),
        (r"(^|\.)api\.mistral\.ai$", "mistral_ai"),
        (r"(^|\.)api\.groq\.com$", "groq"),
        (r"(^|\.)api\.x\.ai$", "x_ai"),
        (r"(^|\.)api\.cohere\.(com|ai)$", "cohere"),
        (r"^bedrock-runtime(-fips)?\.[a-z0-9-]+\.amazonaws\.com$", "aws.bedrock"),
        (r"(^|\.)api\.moonshot\.(cn|ai)$", "moonshot_ai"),
        (r"(^|\.)api\.perplexity\.ai$", "perplexity"),
    )
)

_IP = re.compile(r"^\[?[0-9a-fA-F:.]+\]?$")


@dataclass(frozen=True, slots=True)
class RouteFacts:
    operation: str | None = None
    provider: str | None = None
    model: str | None = None
    streaming: bool | None = None


def route_of(path: str) -> RouteFacts:
    """Operation (and provider/model/streaming when the path says) of a request path or URL."""
    if "://" in path:
        try:
            path = urlsplit(path).path
        except ValueError:  # an unclosed IPv6 bracket in the authority: the path follows it
            rest = path.split("://", 1)[1]
            path = "/" + rest.partition("/")[2] if "/" in rest else ""
    path, _, query = path.partition("?")
    path = path.rstrip("/")
    for route in ROUTES:
        match = route.pattern.search(path)
        if match is None:
            continue
        model = match.groupdict().get("model")
        streaming = route.streaming
        if streaming is None and "alt=sse" in query:
            streaming = True
        return RouteFacts(route.operation, route.provider, model, streaming)
    return RouteFacts()


def host_of(value: str) -> str | None:
    """The host name in an authority, URL, SNI or Istio cluster name (``outbound|443||h``)."""
    text = value.strip()
    if "|" in text:
        text = text.rsplit("|", 1)[-1]
    if "://" in text:
        try:
            text = urlsplit(text).hostname or ""
        except ValueError:  # an unclosed IPv6 bracket: no host to read
            text = ""
    if text.startswith("["):
        text = text.split("]", 1)[0] + "]"
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    text = text.strip().lower().rstrip(".")
    return text or None


def provider_of_host(host: str) -> str | None:
    if _IP.match(host):
        return None
    for pattern, provider in HOSTS:
        if pattern.search(host):
            return provider
    return None
