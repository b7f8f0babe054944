"""TLS to the receiver: a private CA (``ca_file``), a client certificate (mTLS), and
``insecure_skip_verify``; an untrusted certificate is never sent to and is retried."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.remotewrite.receiver import Harness, Receiver


def _cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA), made with the openssl CLI."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    return {"server": _cert(tmp_path, "server"), "client": _cert(tmp_path, "client")}


def _server_context(certs: dict[str, tuple[Path, Path]], require_client: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*map(str, certs["server"]))
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(str(certs["client"][0]))
    return ctx


def _run(tmp_path: Path, server: ssl.SSLContext, tls: dict[str, object]) -> tuple[Harness, Receiver]:
    async def run() -> tuple[Harness, Receiver]:
        receiver = await Receiver().start(server)
        h = Harness(
            tmp_path / "data", receiver.url, {"targets": [{"url": receiver.url, "name": "test", "tls": tls}]}
        )
        h.record(tokens=9)
        await h.exporter.start()
        await h.exporter.enqueue_snapshot()
        await asyncio.sleep(0.6)
        await h.exporter.stop()
        await receiver.stop()
        return h, receiver

    return asyncio.run(run())


def test_private_ca_and_client_certificate(tmp_path: Path, certs: dict[str, tuple[Path, Path]]) -> None:
    cert, key = certs["client"]
    h, receiver = _run(
        tmp_path,
        _server_context(certs, require_client=True),
        {"ca_file": str(certs["server"][0]), "cert_file": str(cert), "key_file": str(key)},
    )
    assert len(receiver.received) == 2  # the snapshot, then stop()'s last one
    assert h.value("llmpulse_remote_write_samples_retried_total") == 0


def test_without_the_client_certificate_nothing_is_accepted(
    tmp_path: Path, certs: dict[str, tuple[Path, Path]]
) -> None:
    h, receiver = _run(
        tmp_path, _server_context(certs, require_client=True), {"ca_file": str(certs["server"][0])}
    )
    assert receiver.received == []
    assert h.value("llmpulse_remote_write_samples_retried_total") > 0
    assert h.value("llmpulse_remote_write_samples_sent_total") == 0
    assert h.value("llmpulse_remote_write_queue_samples") > 0  # kept for a fixed configuration


def test_untrusted_certificate_is_refused_unless_verification_is_skipped(
    tmp_path: Path, certs: dict[str, tuple[Path, Path]]
) -> None:
    h, receiver = _run(tmp_path / "a", _server_context(certs, require_client=False), {})
    assert receiver.received == [] and h.value("llmpulse_remote_write_samples_retried_total") > 0
    h, receiver = _run(
        tmp_path / "b", _server_context(certs, require_client=False), {"insecure_skip_verify": True}
    )
    assert len(receiver.received) == 2
