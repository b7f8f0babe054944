"""One remote-write target's queue on disk: a directory of segments, oldest first.

A segment is one file of encoded TimeSeries records (itself a valid, uncompressed WriteRequest):

    <seq>-snap-<ts_ms>-<samples>.rw    the whole aggregate (+ self-metrics) at ts_ms, 1 sample/record
    <seq>-final-<ts_ms>-<samples>.rw   series that expired: final value at ts_ms and the stale
                                       marker at ts_ms+1, 2 samples/record

Files are written to ``*.tmp`` and renamed, so a crash leaves whole segments or none. Why whole
snapshots rather than a sample log: every series is cumulative, so the newest snapshot alone
carries the right totals; older snapshots only add resolution. That makes the queue cheap to
bound: when it is over capacity, every second older snapshot is dropped (resolution halves over
the whole outage, the totals stay right). ``final`` segments are never thinned: they hold the
last value of series the aggregate has forgotten, which no later snapshot repeats.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["snap", "final"]
SAMPLES_PER_RECORD: dict[str, int] = {"snap": 1, "final": 2}


@dataclass(slots=True)
class Segment:
    path: Path
    seq: int
    kind: Kind
    ts_ms: int
    samples: int
    size: int

    @classmethod
    def parse(cls, path: Path) -> Segment | None:
        try:
            seq, kind, ts, samples = path.stem.split("-")
            if kind not in SAMPLES_PER_RECORD:
                return None
            return cls(path, int(seq), kind, int(ts), int(samples), path.stat().st_size)  # type: ignore[arg-type]
        except (ValueError, OSError):
            return None

    def read(self) -> bytes:
        return self.path.read_bytes()


class DiskQueue:
    """Segments of one target, oldest first, bounded by ``capacity_bytes``.

    >>> q = DiskQueue(data_dir / "remote-write" / "prometheus", capacity_bytes=256 << 20)
    >>> seg = q.append("snap", ts_ms, data, samples)
    >>> q.head() is seg
    >>> q.remove(seg)
    """

    def __init__(self, directory: Path, capacity_bytes: int, *, fsync: bool = False) -> None:
        self.directory = directory
        self.capacity_bytes = capacity_bytes
        self._fsync = fsync
        directory.mkdir(parents=True, exist_ok=True)
        for tmp in directory.glob("*.tmp"):  # a crash mid-write: the segment never existed
            tmp.unlink(missing_ok=True)
        found = [Segment.parse(p) for p in directory.glob("*.rw")]
        self._segments = sorted((s for s in found if s is not None), key=lambda s: s.seq)
        self._next_seq = self._segments[-1].seq + 1 if self._segments else 1
        self.bytes = sum(s.size for s in self._segments)
        self.samples = sum(s.samples for s in self._segments)

    def __len__(self) -> int:
        return len(self._segments)

    def segments(self) -> list[Segment]:
        return list(self._segments)

    def head(self) -> Segment | None:
        return self._segments[0] if self._segments else None

    def newest_ts_ms(self) -> int:
        """The highest timestamp any queued sample carries (0 when empty)."""
        return max((s.ts_ms + (1 if s.kind == "final" else 0) for s in self._segments), default=0)

    def _write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            if self._fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    def append(self, kind: Kind, ts_ms: int, data: bytes, samples: int) -> Segment:
        seq = self._next_seq
        self._next_seq += 1
        path = self._write(f"{seq:012d}-{kind}-{ts_ms}-{samples}.rw", data)
        seg = Segment(path, seq, kind, ts_ms, samples, len(data))
        self._segments.append(seg)
        self.bytes += seg.size
        self.samples += seg.samples
        return seg

    def replace(self, seg: Segment, ts_ms: int, data: bytes, samples: int) -> Segment:
        """Rewrite a segment in place (same position in the queue), e.g. re-stamped."""
        path = self._write(f"{seg.seq:012d}-{seg.kind}-{ts_ms}-{samples}.rw", data)
        if path != seg.path:
            seg.path.unlink(missing_ok=True)
        new = Segment(path, seg.seq, seg.kind, ts_ms, samples, len(data))
        index = next(i for i, s in enumerate(self._segments) if s.seq == seg.seq)
        self._segments[index] = new
        self.bytes += new.size - seg.size
        self.samples += new.samples - seg.samples
        return new

    def remove(self, seg: Segment) -> None:
        for i, s in enumerate(self._segments):
            if s.seq == seg.seq:
                del self._segments[i]
                self.bytes -= s.size
                self.samples -= s.samples
                with contextlib.suppress(FileNotFoundError):
                    s.path.unlink()
                return

    def drop_older_than(self, min_ts_ms: int, keep: Segment | None) -> list[Segment]:
        """Drop snapshots older than ``min_ts_ms`` (the receiver would refuse them as too old;
        a newer snapshot carries their totals). ``keep`` (the segment being sent) stays."""
        gone = [
            s
            for s in self._segments
            if s.kind == "snap" and s.ts_ms < min_ts_ms and (keep is None or s.seq != keep.seq)
        ]
        for s in gone:
            self.remove(s)
        return gone

    def thin(self, keep: Segment | None, on_drop: Callable[[Segment, str], None]) -> None:
        """Bring the queue under capacity: halve the older snapshots (every second one, never
        the newest snapshot nor ``keep``) until it fits; if only ``final`` segments remain over
        capacity, drop the oldest of them (counted as ``queue_full``: totals may then be off)."""
        while self.bytes > self.capacity_bytes:
            snaps = [s for s in self._segments if s.kind == "snap" and (keep is None or s.seq != keep.seq)]
            candidates = snaps[:-1]  # the newest snapshot has the freshest totals: never thinned
            if candidates:
                victims = candidates[1::2] if len(candidates) > 1 else candidates
                for s in victims:
                    if self.bytes <= self.capacity_bytes:
                        break
                    self.remove(s)
                    on_drop(s, "thinned")
                continue
            finals = [s for s in self._segments if s.kind == "final" and (keep is None or s.seq != keep.seq)]
            if not finals:
                return
            self.remove(finals[0])
            on_drop(finals[0], "queue_full")
