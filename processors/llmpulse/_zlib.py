"""zlib and gzip for llmpulse: zlib-ng's drop-in modules when installed (the ``zlib-ng``
dependency), the standard library's otherwise.

Both write the same formats and compute the same CRC-32 (records written with one are read with
the other), but zlib-ng uses the CPU's vector instructions: the CRC-32 that guards every forward
queue record took 88 µs of a 435 KiB batch with zlib and takes 6 µs with it; gzip compresses
2.3× and inflates 2.1× faster (``benchmarks/README.md``, fourteenth session). The type checker
sees the standard library's modules, whose interface zlib-ng's copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gzip
    import zlib

    ZLIB_NG: bool
else:
    try:
        from zlib_ng import gzip_ng as gzip
        from zlib_ng import zlib_ng as zlib

        ZLIB_NG = True
    except ImportError:  # no wheel for this platform: the same results, slower
        import gzip
        import zlib

        ZLIB_NG = False

crc32 = zlib.crc32

__all__ = ["ZLIB_NG", "crc32", "gzip", "zlib"]
