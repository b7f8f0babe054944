"""Reading span ids and attribute keys straight from an encoded trace request, so that ordinary
spans (no LLM, credential or content key: most of them) never become Python objects.

``scan_spans`` and ``parents`` come from the C extension ``llmpulse.otlp._scan`` when it is
built (a wheel or ``pip install -e .`` with a C compiler) and from its pure-Python twin otherwise,
the way PyYAML and msgpack offer their speedups; ``NATIVE`` says which. With
``LLMPULSE_REQUIRE_NATIVE=1`` a missing extension is an ImportError instead (CI, the image).

    >>> from llmpulse.otlp.scan import scan_spans
    >>> scan_spans(b"", {}, lambda key: 0)
    ([], [])
"""

from __future__ import annotations

import os

try:
    from llmpulse.otlp._scan import parents, scan_spans

    NATIVE = True
except ImportError as exc:
    if os.environ.get("LLMPULSE_REQUIRE_NATIVE") == "1":
        raise ImportError(
            "LLMPULSE_REQUIRE_NATIVE=1 but the native scanner llmpulse.otlp._scan is not built: "
            "install a C compiler (Debian: apt-get install gcc libc6-dev) and reinstall llmpulse "
            "(`pip install -e .` in a checkout, or build the wheel), or unset LLMPULSE_REQUIRE_NATIVE "
            f"to use the pure-Python scanner ({exc})"
        ) from exc
    from llmpulse.otlp._scan_py import parents, scan_spans

    NATIVE = False

__all__ = ["NATIVE", "parents", "scan_spans"]
