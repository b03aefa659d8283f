"""Notices by email over SMTP (stdlib smtplib, in a thread).

STARTTLS is used whenever the server offers it; credentials are never sent over a
connection that is not encrypted. Errors never hold the URL's password.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final
from urllib.parse import unquote, urlsplit

from application.notices import Notice, NotificationError

# The whole conversation with the server ends within this, below the delivery worker's
# send timeout (30 s): an attempt the worker gave up on is never still delivering when
# its retry starts, which would send the email twice.
DEADLINE_SECONDS: Final = 20.0
_SUBJECT_LENGTH: Final = 150


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    user: str | None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """``smtp://user:password@host:port`` (user and password optional, port 25 by default)."""
        parts = urlsplit(url)
        if parts.scheme != "smtp" or not parts.hostname:
            raise ValueError("an SMTP URL looks like smtp://user:password@host:port")
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return cls(parts.hostname, parts.port or 25, user, password)

    def __repr__(self) -> str:
        return f"SmtpServer({self.host}:{self.port}, user={self.user!r})"


class SmtpNotifier:
    channel: Final = "email"

    def __init__(
        self,
        url: str,
        sender: str,
        recipients: tuple[str, ...],
        *,
        tls_context: ssl.SSLContext | None = None,
        deadline_seconds: float = DEADLINE_SECONDS,
    ) -> None:
        self._deadline_seconds = deadline_seconds
        self._server = SmtpServer.from_url(url)
        self._sender = sender
        self._recipients = recipients
        self._tls_context = tls_context or ssl.create_default_context()

    async def send(self, notice: Notice) -> None:
        await asyncio.to_thread(self._send, self._message(notice))

    def _message(self, notice: Notice) -> EmailMessage:
        message = EmailMessage()
        subject = notice.text if len(notice.text) <= _SUBJECT_LENGTH else (
            notice.text[: _SUBJECT_LENGTH - 1] + "…")  # fmt: skip
        message["Subject"] = f"[WazyBot] {subject}"
        message["From"] = self._sender
        message["To"] = ", ".join(self._recipients)
        facts = {"event": notice.event, "business_id": notice.business_id,
                 "conversation_id": notice.conversation_id, "details": notice.details}  # fmt: skip
        message.set_content(f"{notice.text}\n\n{json.dumps(facts, indent=2, default=str)}\n")
        return message

    def _send(self, message: EmailMessage) -> None:
        server = self._server
        where = f"SMTP server {server.host}:{server.port}"
        smtp = _Smtp(server.host, timeout=self._deadline_seconds)
        # Whatever the server does (a slow drip of bytes included), the socket is shut at
        # the deadline, which ends any call blocked on it.
        fired = threading.Event()  # set before the socket is shut: no race with the error
        watchdog = threading.Timer(self._deadline_seconds, _shut, args=(smtp, fired))
        watchdog.start()
        try:
            with smtp:
                smtp.connect(server.host, server.port)
                smtp.ehlo()
                encrypted = smtp.has_extn("starttls")
                if encrypted:
                    smtp.starttls(context=self._tls_context)
                    smtp.ehlo()
                if server.user is not None:
                    if not encrypted:
                        raise NotificationError(
                            f"{where} offers no STARTTLS; its credentials are not sent in clear"
                        )
                    smtp.login(server.user, server.password or "")
                smtp.send_message(message)
        except NotificationError:
            raise
        except (smtplib.SMTPException, OSError) as error:
            if fired.is_set():  # the deadline cut the conversation
                late = f"{where} did not finish within {self._deadline_seconds:g} s"
                raise NotificationError(late) from None
            if isinstance(error, smtplib.SMTPException):
                raise NotificationError(
                    f"{where} refused the email ({_smtp_reason(error)})"
                ) from None
            raise NotificationError(f"{where} not reached ({type(error).__name__})") from None
        finally:
            watchdog.cancel()


class _Smtp(smtplib.SMTP):
    """smtplib's client, told the server's name without connecting yet.

    STARTTLS checks the certificate against the host given to the constructor, which
    would also connect at once, before the deadline's watchdog could guard it.
    """

    def __init__(self, host: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._host = host


def _shut(smtp: smtplib.SMTP, fired: threading.Event) -> None:
    fired.set()
    sock = smtp.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _smtp_reason(error: smtplib.SMTPException) -> str:
    code = getattr(error, "smtp_code", None)
    return f"{type(error).__name__} {code}" if code else type(error).__name__
