"""Admission control: refuse work before it is decoded when memory is tight.

Under overload the cheapest safe thing is to say "retry later" before decoding a request: the
OTLP clients back off and resend, nothing accepted is dropped, and the process stays under its
memory limit. Refusal happens when the resident set is above the soft limit (a fraction of the
configured memory limit) or when the bytes being processed at once would pass their budget.
Recovery is automatic: the next request is admitted as soon as memory falls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import time
from collections.abc import Callable

from llmpulse.pipeline import Backpressure
from llmpulse.selfmetrics import SelfMetrics

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def tune_allocator(memory_limited: bool = True) -> bool:
    """Set glibc's allocator for the memory bound or for speed; returns whether it was set
    (False off glibc). Few arenas either way, since grpc's threads would otherwise each grow
    their own.

    ``memory_limited`` (``limits.memory_limit_mib`` set): a fixed 256 KiB mmap threshold, so
    large request buffers are mapped and unmapped and memory goes back to the OS as soon as
    they are freed (admission waits for the resident set to fall). Without a limit, the ~0.5 MB
    buffers every batch copies into (the body, the splice, the senders' joins) come from the
    heap and are reused: mapping each afresh costs a page fault per 4 KiB, ~5 % of the CPU of a
    forwarding gateway. A 16 MiB top pad: each trim of the heap keeps that much, so it is not
    shrunk and grown again between batches; the 4 MiB threshold still maps rare huge requests."""
    if _LIBC is None or not hasattr(_LIBC, "mallopt"):
        return False
    m_top_pad, m_mmap_threshold, m_arena_max = -2, -3, -8
    if memory_limited:
        _LIBC.mallopt(m_mmap_threshold, 256 * 1024)
    else:
        _LIBC.mallopt(m_mmap_threshold, 4 << 20)
        _LIBC.mallopt(m_top_pad, 16 << 20)
    _LIBC.mallopt(m_arena_max, 2)
    return True


def tune_collector() -> None:
    """Keep the cyclic garbage collector from stalling requests. What start-up built (modules,
    dialect and price tables, restored series) moves to the permanent generation, so full
    collections stop re-walking it, and young collections run every 10 000 allocations instead
    of 700: the pipeline makes few reference cycles, and admission collects when memory is tight.
    On the benchmark load full collections went from 4 per 400 batches (up to 79 ms each, the
    p99 of a lightly loaded gateway) to 1 of 23 ms, and GC time from 0.8 to 0.14 ms a batch."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


def release_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS."""
    gc.collect()
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def resident_bytes() -> int:
    """Resident set size from /proc (cheap enough to sample every few milliseconds)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class Overloaded(Backpressure):
    """Refused to protect memory; ``reason`` is ``memory_limit`` or ``inflight_limit``."""

    def __init__(self, message: str, reason: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message, retry_after_s)
        self.reason = reason


class Admission:
    """Tracks bytes in flight and the resident set against their limits.

    >>> admission = Admission(memory_limit_bytes=0, max_inflight_bytes=1024)
    >>> admission.enter(512); admission.leave(512)
    """

    def __init__(
        self,
        memory_limit_bytes: int,
        max_inflight_bytes: int,
        *,
        soft_fraction: float = 0.75,
        retry_after_s: float = 1.0,
        rss: Callable[[], int] = resident_bytes,
        clock: Callable[[], float] = time.monotonic,
        selfmetrics: SelfMetrics | None = None,
    ) -> None:
        self._soft = int(memory_limit_bytes * soft_fraction)
        # With a memory limit, the bodies admitted at once must fit the headroom above the soft
        # limit too: a third of it, as a body is copied and decoded while others wait.
        headroom = (memory_limit_bytes - self._soft) // 3
        self._max_inflight = min(max_inflight_bytes, headroom) if headroom > 0 else max_inflight_bytes
        #: the size of recent bodies, reserved for a call admitted before its body is read
        self._expected = 0
        self._retry_after = retry_after_s
        self._rss = rss
        self._clock = clock
        self._self = selfmetrics
        self._inflight = 0
        self._last_sample = -1.0
        self._last_rss = 0
        self._last_gc = -1.0

    @property
    def inflight_bytes(self) -> int:
        return self._inflight

    def _resident(self) -> int:
        now = self._clock()
        if now - self._last_sample >= 0.02:
            self._last_rss = self._rss()
            self._last_sample = now
        return self._last_rss

    def enter(self, size: int) -> None:
        """Admit ``size`` bytes of work or raise ``Overloaded`` (a retryable refusal)."""
        if self._inflight and self._inflight + size > self._max_inflight:
            raise Overloaded(
                f"busy: {self._inflight + size} bytes would be in flight "
                f"(limit {self._max_inflight}); retry later",
                "inflight_limit",
                self._retry_after,
            )
        if self._soft:
            resident = self._resident()
            if resident > self._soft:
                now = self._clock()
                if now - self._last_gc > 0.25:
                    self._last_gc = now
                    release_memory()
                    self._last_rss = self._rss()
                    resident = self._last_rss
                if resident > self._soft:
                    raise Overloaded(
                        f"memory limit: resident {resident >> 20} MiB is above "
                        f"{self._soft >> 20} MiB; retry later",
                        "memory_limit",
                        self._retry_after,
                    )
        self._inflight += size

    def enter_unread(self) -> int:
        """Admit a call whose body is not read yet (gRPC): it reserves the size of recent bodies,
        so that calls admitted together cannot bring in more than the in-flight budget. Returns
        the reservation, to hand to ``enter_read``."""
        reserved = self._expected
        self.enter(reserved)
        return reserved

    def enter_read(self, size: int, reserved: int = 0) -> None:
        """Account for a body read after ``enter_unread`` reserved ``reserved`` bytes for it."""
        self._inflight += size - reserved
        self._expected = max(size, (self._expected * 7 + size) // 8)

    def leave(self, size: int) -> None:
        self._inflight = max(0, self._inflight - size)
