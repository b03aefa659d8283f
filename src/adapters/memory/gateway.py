"""An in-memory WhatsApp gateway: records what was sent and fails where a test scripts it."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

from application.gateway import GatewayError, SendAccepted, Sender
from domain.outbound import OutboundMessage, Recipient
from domain.whatsapp_errors import Transport, classify

_READS = ""  # read receipts have no recipient: their attempts are counted under this key


@dataclass(frozen=True, slots=True)
class SentMessage:
    phone_number_id: str
    recipient: Recipient
    message: OutboundMessage
    wamid: str


@dataclass(frozen=True, slots=True)
class ReadReceipt:
    phone_number_id: str
    wamid: str
    typing_indicator: bool


@dataclass(slots=True)
class _Failure:
    """One scripted failure; ``recipient`` None matches everyone, ``on_attempt`` None any try."""

    recipient: str | None
    on_attempt: int | None
    times: int
    code: int | None = None
    http_status: int | None = 400
    meta_message: str | None = None
    details: str | None = None
    transport: Transport = Transport.ANSWERED

    def matches(self, address: str, attempt: int) -> bool:
        return (
            self.times > 0
            and self.recipient in (None, address)
            and self.on_attempt in (None, attempt)
        )


class InMemoryWhatsAppGateway:
    """Accepts every message with a fresh wamid unless a scripted failure matches.

    Attempts are counted per recipient (phone number or BSUID, whichever is sent).
    A scripted lost answer (``Transport.NO_ANSWER``) behaves like Meta after a timeout:
    the message is recorded as sent, and the caller gets an ambiguous error.
    """

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        self.reads: list[ReadReceipt] = []
        self.attempts: Counter[str] = Counter()
        self._failures: list[_Failure] = []
        self._numbers = itertools.count(1)

    def fail(
        self,
        code: int | None,
        *,
        recipient: str | None = None,
        on_attempt: int | None = None,
        times: int = 1,
        http_status: int | None = 400,
        meta_message: str | None = None,
        details: str | None = None,
    ) -> None:
        """Answer the next matching send(s) with a Graph error ``code``."""
        message = meta_message or (f"(#{code}) Scripted failure" if code else "Scripted failure")
        self._failures.append(
            _Failure(recipient, on_attempt, times, code, http_status, message, details)
        )

    def fail_transport(
        self,
        transport: Transport,
        *,
        recipient: str | None = None,
        on_attempt: int | None = None,
        times: int = 1,
    ) -> None:
        """Fail below HTTP: no connection, a request cut short, or an answer lost."""
        self._failures.append(
            _Failure(recipient, on_attempt, times, http_status=None, transport=transport)
        )

    def sent_to(self, recipient: str) -> list[SentMessage]:
        return [s for s in self.sent if s.recipient.address == recipient]

    async def send(
        self, sender: Sender, recipient: Recipient, message: OutboundMessage
    ) -> SendAccepted:
        address = recipient.address
        self.attempts[address] += 1
        failure = self._take_failure(address, self.attempts[address])
        if failure is not None and failure.transport is not Transport.NO_ANSWER:
            raise self._error(failure)
        wamid = self._next_wamid()
        self.sent.append(SentMessage(sender.phone_number_id, recipient, message, wamid))
        if failure is not None:
            raise self._error(failure)  # accepted, but the answer was lost
        return SendAccepted(wamid=wamid, wa_id=recipient.phone_number)

    async def mark_read(self, sender: Sender, wamid: str, typing_indicator: bool = True) -> None:
        """Only failures scripted for every recipient (``recipient=None``) apply here."""
        self.attempts[_READS] += 1
        failure = self._take_failure(_READS, self.attempts[_READS])
        if failure is not None:
            raise self._error(failure)
        self.reads.append(ReadReceipt(sender.phone_number_id, wamid, typing_indicator))

    def _take_failure(self, address: str, attempt: int) -> _Failure | None:
        for failure in self._failures:
            if failure.matches(address, attempt):
                failure.times -= 1
                return failure
        return None

    def _next_wamid(self) -> str:
        return f"wamid.FAKE{next(self._numbers):012d}"

    @staticmethod
    def _error(failure: _Failure) -> GatewayError:
        classification = classify(
            failure.code, failure.http_status, failure.transport, failure.meta_message
        )
        return GatewayError(
            classification,
            code=failure.code,
            title=failure.meta_message,
            meta_message=failure.meta_message,
            details=failure.details,
            fbtrace_id="FAKE" if failure.transport is Transport.ANSWERED else None,
            http_status=failure.http_status,
        )
