"""The one HTTP GET both modes need, with errors a terminal user can act on."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: Loopback never goes through an HTTP proxy from the environment; anything else may need one.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_DEFAULT = urllib.request.build_opener()


class FetchError(RuntimeError):
    """The URL could not be read; the message names it and says why."""


def get(url: str, timeout_s: float, accept: str) -> bytes:
    """GET ``url`` and return the body; raise :class:`FetchError` on any failure."""
    host = urllib.parse.urlsplit(url).hostname or ""
    opener = _DIRECT if host in _LOOPBACK else _DEFAULT
    req = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with opener.open(req, timeout=timeout_s) as resp:
            body: bytes = resp.read()
            return body
    except urllib.error.HTTPError as e:
        detail = e.read()[:300].decode(errors="replace").strip()
        raise FetchError(f"GET {url} answered HTTP {e.code}: {detail}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise FetchError(f"cannot reach {url}: {reason}") from e
