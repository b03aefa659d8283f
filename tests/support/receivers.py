"""Local receivers for team notifications: an HTTP endpoint and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class HttpReceiver:
    """Records JSON POSTs; answers ``failures`` 500s before it starts answering 200."""

    failures: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    url: str = ""
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def received(self, body: dict[str, Any]) -> int:
        with self._changed:
            self.attempts += 1
            if self.failures > 0:
                self.failures -= 1
                return 500
            self.bodies.append(body)
            self._changed.notify_all()
            return 200

    def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.bodies) >= count, timeout):
                raise AssertionError(f"{len(self.bodies)} notices received, expected {count}")
            return list(self.bodies)

    async def arrived(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        """``wait_for`` without blocking the event loop (a worker may run on it)."""
        return await asyncio.to_thread(self.wait_for, count, timeout)


@contextmanager
def http_receiver(failures: int = 0) -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(failures=failures)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            status = receiver.received(json.loads(self.rfile.read(length)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/team"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        self.messages.append(message_from_bytes(content))
        self.encrypted.append(session.ssl is not None)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} emails received, expected {count}")
            time.sleep(0.02)
        return list(self.messages)


class _Authenticator:
    def __init__(self, mailbox: Mailbox, user: str, password: str) -> None:
        self._mailbox, self._user, self._password = mailbox, user, password

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:  # fmt: skip
        given = (
            (auth_data.login, auth_data.password) if isinstance(auth_data, LoginPassword) else ()
        )
        ok = given == (self._user.encode(), self._password.encode())
        if ok:
            self._mailbox.logins.append(self._user)
        return AuthResult(success=ok)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


@contextmanager
def smtp_server(
    *, certificate: tuple[Path, Path] | None = None, login: tuple[str, str] | None = None
) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1: STARTTLS offered when given a certificate."""
    mailbox = Mailbox()
    options: dict[str, Any] = {}
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        options["tls_context"] = context
    if login is not None:
        options["authenticator"] = _Authenticator(mailbox, *login)
        options["auth_require_tls"] = certificate is not None
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
