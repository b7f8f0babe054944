"""HTTP for remote write: the injectable transport, the protocol headers, and the retry rules.

Remote write 1.0 (https://prometheus.io/docs/specs/prw/remote_write_spec/): senders MUST retry
on 5xx with backoff, MAY retry on 429, and MUST NOT retry other 4xx. A 4xx batch is dropped,
counted, and the receiver's message is logged as it came. ``Retry-After`` (seconds or an
HTTP date) is honoured on 429 and 5xx, up to a cap.

    Outcome
    ├── Sent        2xx
    ├── Retryable   5xx, 429, network error, timeout   → backoff (or Retry-After), same bytes again
    └── Rejected    other 4xx                          → dropped (or re-stamped if too old)
"""

from __future__ import annotations

import base64
import email.utils
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import cramjam

from llmpulse import __version__
from llmpulse.config import RemoteWriteRetryConfig, RemoteWriteTargetConfig

USER_AGENT = f"llmpulse/{__version__}"
PROTOCOL_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": USER_AGENT,
}
#: How receivers phrase "this sample is older than I accept" (Prometheus, Mimir, Thanos, VM).
TOO_OLD_MARKERS = ("out of bounds", "too old", "out of order", "out-of-bounds", "too far in the past")


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer; ``headers`` keys are lower-case."""

    status: int
    headers: Mapping[str, str]
    text: str


class TransportError(Exception):
    """The request did not get an HTTP answer (refused, reset, timed out): retryable."""


class Transport(Protocol):
    """Sends one POST. Tests inject their own; production uses :class:`AiohttpTransport`."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Response: ...

    async def close(self) -> None: ...


def ssl_context(target: RemoteWriteTargetConfig) -> ssl.SSLContext | None:
    tls = target.tls
    if tls is None:
        return None
    ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None and tls.key_file is not None:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class AiohttpTransport:
    """aiohttp client with one connection pool per target; the session opens on first use
    (inside the running loop)."""

    def __init__(self, ssl_ctx: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_ctx
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Response:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True, limit=4),
                trust_env=False,
                auto_decompress=True,
            )
        try:
            async with self._session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                skip_auto_headers=("User-Agent", "Content-Type"),
            ) as resp:
                text = await resp.text(errors="replace")
                return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, text)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def request_headers(target: RemoteWriteTargetConfig) -> dict[str, str]:
    """Custom headers, auth, then the protocol headers (which nothing can override)."""
    headers = {
        k: v for k, v in target.headers.items() if k.lower() not in {h.lower() for h in PROTOCOL_HEADERS}
    }
    if target.basic_auth is not None:
        auth = target.basic_auth
        password = auth.password_file.read_text().strip() if auth.password_file else auth.password
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{auth.username}:{password}".encode()).decode()
        )
    elif target.bearer_token:
        headers["Authorization"] = f"Bearer {target.bearer_token}"
    elif target.bearer_token_file is not None:
        headers["Authorization"] = f"Bearer {target.bearer_token_file.read_text().strip()}"
    headers.update(PROTOCOL_HEADERS)
    return headers


def compress(body: bytes) -> bytes:
    """Snappy *block* format, as the spec requires (not the framed stream format)."""
    return bytes(cramjam.snappy.compress_raw(body))


class Backoff:
    """Exponential backoff with jitter and a cap (``configretry`` of the Collector).

    >>> b = Backoff(RemoteWriteRetryConfig(initial_interval_s=1, randomization_factor=0))
    >>> [b.delay(n) for n in range(3)]
    [1.0, 2.0, 4.0]
    """

    def __init__(self, config: RemoteWriteRetryConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        c = self.config
        # capped exponent: after days of outage multiplier**attempt would overflow a float
        base = min(c.initial_interval_s * c.multiplier ** min(attempt, 64), c.max_interval_s)
        spread = base * c.randomization_factor
        return max(0.0, min(base + self._rng.uniform(-spread, spread), c.max_interval_s))

    def retry_after(self, header: str | None, now: float | None = None) -> float | None:
        """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
        if not header:
            return None
        header = header.strip()
        seconds: float | None
        try:
            seconds = float(header)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(header)
            except (TypeError, ValueError):
                return None
            seconds = when.timestamp() - (time.time() if now is None else now)
        if seconds != seconds:  # NaN
            return None
        return max(0.0, min(seconds, self.config.max_retry_after_s))


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


def too_old(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in TOO_OLD_MARKERS)
