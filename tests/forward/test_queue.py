"""The persistent forward queue: order, byte bound, restart, torn tails, and a writer killed -9."""

from __future__ import annotations

import errno
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from llmpulse._zlib import ZLIB_NG
from llmpulse.forward import DiskQueue, QueueInUse

HEADER = 17


def drain(queue: DiskQueue) -> list[bytes]:
    out = []
    while (entry := queue.peek(timeout=0)) is not None:
        out.append(entry.payload)
        queue.ack(entry)
    return out


def test_fifo_across_segments_and_consumed_segments_are_deleted(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20, segment_bytes=64 * 1024)
    payloads = [bytes([i]) * 20_000 for i in range(10)]
    for i, payload in enumerate(payloads):
        queue.put("logs" if i % 2 else "traces", i + 1, payload)
    assert queue.requests == 10 and queue.size_bytes == 10 * (HEADER + 20_000)
    assert len(list(tmp_path.glob("*.seg"))) == 4  # 3 records of 20 kB fit a 64 kB segment
    first = queue.peek(timeout=0)
    assert first is not None and (first.signal, first.items, first.payload) == ("traces", 1, payloads[0])
    assert queue.peek(timeout=0) == first  # the head stays until acknowledged
    assert drain(queue) == payloads
    assert queue.requests == 0 and queue.size_bytes == 0
    assert len(list(tmp_path.glob("*.seg"))) == 1  # only the segment being written remains
    queue.close()


def test_records_carry_the_standard_crc32_whichever_zlib_computed_it(tmp_path: Path) -> None:
    """The on-disk format does not depend on the zlib in use: a queue written with zlib-ng (the
    default) is read by a build without it, and the other way round."""
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    payloads = [os.urandom(300_000), b"", b"x" * 17]
    for payload in payloads:
        queue.put("traces", 3, payload)
    queue.close()
    (segment,) = tmp_path.glob("*.seg")
    data, offset = segment.read_bytes(), 0
    for payload in payloads:
        magic, length, crc, _code, items = struct.unpack_from("<4sIIBI", data, offset)
        offset += HEADER
        assert (magic, items, data[offset : offset + length]) == (b"LPQ1", 3, payload)
        assert crc == zlib.crc32(payload)  # the standard library's, not the one the queue used
        offset += length
    assert offset == len(data)
    reopened = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    assert drain(reopened) == payloads
    reopened.close()
    assert ZLIB_NG  # installed with llmpulse (the ``zlib-ng`` dependency)


def test_byte_bound_but_an_empty_queue_takes_any_request(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=100_000)
    assert queue.has_room(10_000_000)  # empty: a big request can never deadlock
    queue.put("traces", 1, b"x" * 60_000)
    assert queue.has_room(100_000 - 60_000 - HEADER)
    assert not queue.has_room(100_000 - 60_000 - HEADER + 1)
    queue.close()


def test_restart_resumes_after_the_last_acknowledged_request(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20, segment_bytes=64 * 1024)
    for i in range(6):
        queue.put("logs", 1, f"request-{i}".encode() * 2000)
    for _ in range(4):
        entry = queue.peek(timeout=0)
        assert entry is not None
        queue.ack(entry)
    queue.close()
    reopened = DiskQueue(tmp_path, capacity_bytes=1 << 20, segment_bytes=64 * 1024)
    assert reopened.requests == 2 and reopened.corrupt_records == 0
    assert [p[:9] for p in drain(reopened)] == [b"request-4", b"request-5"]
    reopened.put("logs", 1, b"after")
    assert drain(reopened) == [b"after"]
    reopened.close()


def test_a_torn_tail_is_cut_and_counted(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    queue.put("traces", 2, b"complete")
    queue.close()
    segment = next(tmp_path.glob("*.seg"))
    intact = segment.stat().st_size
    with segment.open("ab") as handle:  # a crash in the middle of the next record
        handle.write(b"LPQ1\x00\x10\x00\x00garbage")
    reopened = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    assert reopened.corrupt_records == 1
    assert segment.stat().st_size == intact
    assert drain(reopened) == [b"complete"]
    reopened.close()


def test_requests_put_before_kill_9_are_there_after(tmp_path: Path) -> None:
    """A put() has returned = the client was told OK; SIGKILL right after must lose nothing."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from llmpulse.forward import DiskQueue
        queue = DiskQueue(Path({str(tmp_path)!r}), capacity_bytes=1 << 30, segment_bytes=256 * 1024)
        for i in range(500):
            queue.put("logs", 1, b"%05d" % i * 100)
        print("put", flush=True)
        time.sleep(60)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=dict(os.environ))
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"put"
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 30, segment_bytes=256 * 1024)
    assert queue.corrupt_records == 0
    assert [p[:5] for p in drain(queue)] == [b"%05d" % i for i in range(500)]
    queue.close()


def test_a_torn_cursor_redelivers_from_the_oldest_record_never_loses(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    for i in range(3):
        queue.put("logs", 1, b"r%d" % i)
    entry = queue.peek(timeout=0)
    assert entry is not None
    queue.ack(entry)
    queue.close()
    cursor = tmp_path / "cursor"
    cursor.write_bytes(cursor.read_bytes()[:7] + b"\xff" * 13)  # a write cut in the middle
    reopened = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    assert drain(reopened) == [b"r0", b"r1", b"r2"]  # r0 again: at-least-once
    reopened.close()


def test_two_processes_never_share_a_queue(tmp_path: Path) -> None:
    first = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    script = (
        "from pathlib import Path\nfrom llmpulse.forward import DiskQueue\n"
        f"DiskQueue(Path({str(tmp_path)!r}), 1 << 20)"
    )
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert other.returncode != 0 and "used by another llmpulse process" in other.stderr
    with pytest.raises(QueueInUse):
        DiskQueue(tmp_path, capacity_bytes=1 << 20)
    first.close()
    DiskQueue(tmp_path, capacity_bytes=1 << 20).close()  # free again once the holder closed it


def test_newest_records_are_sent_from_memory_the_rest_from_disk_in_order(tmp_path: Path) -> None:
    """Records that fit ``memory_bytes`` are the very objects given to ``put`` (no read-back);
    the others are read from disk; either way the order and the bytes are the same."""
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20, segment_bytes=64 * 1024, memory_bytes=50_000)
    payloads = [bytes([i]) * 20_000 for i in range(5)]
    for payload in payloads:
        queue.put("traces", 1, payload)
    served: list[bool] = []
    while (entry := queue.peek(timeout=0)) is not None:
        served.append(entry.payload is payloads[len(served)])
        assert entry.payload == payloads[len(served) - 1]
        queue.ack(entry)
        if len(served) == 2:  # memory freed: the next record put is kept in memory again
            payloads.append(b"\x05" * 20_000)
            queue.put("traces", 1, payloads[-1])
    # 2 records of 20 017 bytes fit 50 000; the 6th was put after the first two were sent
    assert served == [True, True, False, False, False, True]
    queue.close()


def test_a_damaged_record_drops_what_follows_it_even_if_still_in_memory(tmp_path: Path) -> None:
    """After an unreadable record the disk decides what is left: records given up with it are
    never sent from memory, not even when a new record lands at the same place."""
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20, memory_bytes=30_000)
    queue.put("logs", 1, b"a" * 20_000)  # in memory
    queue.put("logs", 1, b"b" * 20_000)  # memory full: disk only
    entry = queue.peek(timeout=0)
    assert entry is not None and entry.payload[:1] == b"a"
    queue.ack(entry)
    queue.put("logs", 1, b"c" * 20_000)  # in memory, behind the disk-only record
    segment = next(tmp_path.glob("*.seg"))
    with segment.open("r+b") as handle:  # bit rot in "b"
        handle.seek(entry.end + HEADER + 10)
        handle.write(b"X")
    with pytest.raises(OSError, match="unreadable record"):
        queue.peek(timeout=0)
    assert queue.skip_unreadable() == 2  # "b" and "c" are given up (counted as corrupt)
    queue.put("logs", 1, b"d" * 20_000)
    queue.put("logs", 1, b"e" * 20_000)  # where "c" was
    assert [p[:1] for p in drain(queue)] == [b"d", b"e"]
    queue.close()


def test_a_write_cut_short_leaves_no_torn_record(tmp_path: Path) -> None:
    """A put that fails half-way (here: the file size limit, as a full disk would) raises and
    leaves the segment as it was, so the next record is readable and nothing is counted corrupt."""
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from llmpulse.forward import DiskQueue
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        queue = DiskQueue(Path({str(tmp_path)!r}), capacity_bytes=1 << 20)
        queue.put("logs", 1, b"first")
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, resource.RLIM_INFINITY))
        try:
            queue.put("logs", 1, b"x" * 50_000)
        except OSError as exc:
            print("refused", exc.errno, flush=True)
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        queue.put("logs", 1, b"second")
        print(queue.requests, flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.split("\n")[:2] == [f"refused {errno.EFBIG}", "2"], done.stderr
    queue = DiskQueue(tmp_path, capacity_bytes=1 << 20)
    assert queue.corrupt_records == 0
    assert drain(queue) == [b"first", b"second"]
    assert next(tmp_path.glob("*.seg")).stat().st_size == 2 * HEADER + len(b"firstsecond")
    queue.close()
