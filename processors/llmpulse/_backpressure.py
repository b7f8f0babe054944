"""``Backpressure``, the exception an exporter or admission raises to make a client retry later.

Its own module, not in the mypyc-compiled ``llmpulse.pipeline`` (``llmpulse._compiled``): the
receivers subclass it (``Overloaded``), and an interpreted class may not subclass a compiled one.
"""

from __future__ import annotations


class Backpressure(Exception):
    """An exporter cannot take more now; the client should retry after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
