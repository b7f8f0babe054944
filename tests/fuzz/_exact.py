"""Inputs for the C module from blocks of exactly their size, for AddressSanitizer runs: a bytes
object's block is padded (and NUL-terminated), so a one-byte over-read of it goes unseen."""

from __future__ import annotations

import ctypes
from typing import Any

_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]
_libc.free.argtypes = [ctypes.c_void_p]


def exactly_sized(data: bytes, use: Any) -> Any:
    """``use`` of the input from a block of exactly its size, not a bytes object's padded block:
    an over-read hits an AddressSanitizer redzone."""
    if not data:
        return use(data)
    block = _libc.malloc(len(data))
    ctypes.memmove(block, data, len(data))
    try:
        return use((ctypes.c_char * len(data)).from_address(block))
    finally:
        _libc.free(block)
