"""The sender's use of the number's pace, with fakes: slots, late wake-ups, slow-downs,
and the 24-hour window checked before Meta is called."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

from adapters.memory.gateway import InMemoryWhatsAppGateway
from application.event_log import NewEvent
from application.gateway import AccessTokenUnreadableError
from application.outbox import ClaimedMessage, OutboxSender, SenderSettings
from domain.outbound import Recipient, TemplateMessage, TextMessage
from domain.outbox import OutboundMessageAccepted, OutboundSendFailed
from domain.service_window import WINDOW_CLOSED_REASON
from domain.whatsapp_errors import ErrorClass

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NUMBER = "1065550123"


class FakeOutbox:
    def __init__(self, claimed: list[ClaimedMessage]) -> None:
        self.claimed = claimed
        self.recorded: list[NewEvent] = []
        self.renewed: list[str] = []
        self.lease_still_ours = True

    async def claim_due(self, limit: int, lease_seconds: float) -> list[ClaimedMessage]:
        taken, self.claimed = self.claimed[:limit], self.claimed[limit:]
        return taken

    async def record(self, conversation_stream: str, events: Sequence[NewEvent]) -> None:
        self.recorded.extend(events)

    @contextlib.asynccontextmanager
    async def watching(self, wake: Callable[[], None]) -> AsyncIterator[None]:
        yield

    async def renew_lease(self, message_id: str, attempt: int, lease_seconds: float) -> bool:
        self.renewed.append(message_id)
        return self.lease_still_ours

    def outcomes(self) -> list[object]:
        return [new.event for new in self.recorded]


class FakePacing:
    """Hands out the delays it is given, one list per reservation."""

    def __init__(self, *delays: list[float]) -> None:
        self.delays = list(delays)
        self.reservations: list[tuple[str, str, int]] = []
        self.slowed: list[str] = []

    async def reserve(self, phone_number_id: str, business_id: str, count: int) -> list[float]:
        self.reservations.append((phone_number_id, business_id, count))
        return self.delays.pop(0) if self.delays else [0.0] * count

    async def slow_down(self, phone_number_id: str) -> float:
        self.slowed.append(phone_number_id)
        return 0.5


class Tokens:
    async def access_token_of(self, business_id: str) -> str | None:
        return "token"


def claimed(customer: str, *, wrote_hours_ago: float = 1, template: bool = False) -> ClaimedMessage:
    message = (TemplateMessage(name="welcome", language="en") if template
               else TextMessage(body="hello"))  # fmt: skip
    return ClaimedMessage(
        message_id=f"00000000-0000-4000-8000-{int(customer):012d}", business_id="acme",
        phone_number_id=NUMBER, conversation_stream=f"conversation-{customer}",
        recipient=Recipient(phone_number=customer), message=message, attempt=1,
        queued_at=NOW - timedelta(minutes=1), possibly_sent=False,
        last_inbound_at=NOW - timedelta(hours=wrote_hours_ago),
    )  # fmt: skip


def sender(outbox: FakeOutbox, gateway: InMemoryWhatsAppGateway,
           pacing: FakePacing) -> OutboxSender:  # fmt: skip
    return OutboxSender(outbox, gateway, Tokens(), pacing=pacing, clock=lambda: NOW,
                        rand=lambda: 0.0)  # fmt: skip


async def test_one_reservation_per_number_and_batch() -> None:
    outbox = FakeOutbox([claimed("1"), claimed("2"), claimed("3")])
    pacing, gateway = FakePacing(), InMemoryWhatsAppGateway()

    await sender(outbox, gateway, pacing).send_due()

    assert pacing.reservations == [(NUMBER, "acme", 3)]
    assert len(gateway.sent) == 3


async def test_a_send_woken_late_takes_a_new_slot_instead_of_bunching() -> None:
    outbox = FakeOutbox([claimed("1")])
    pacing = FakePacing([-1.0], [0.0])  # its first slot is a second gone when it wakes
    gateway = InMemoryWhatsAppGateway()

    await sender(outbox, gateway, pacing).send_due()

    assert pacing.reservations == [(NUMBER, "acme", 1), (NUMBER, "acme", 1)]
    assert len(gateway.sent) == 1


async def test_a_throughput_error_slows_the_number_and_a_pair_rate_error_does_not() -> None:
    outbox = FakeOutbox([claimed("1"), claimed("2")])
    pacing, gateway = FakePacing(), InMemoryWhatsAppGateway()
    gateway.fail(130429, recipient="1", http_status=429)
    gateway.fail(131056, recipient="2")

    await sender(outbox, gateway, pacing).send_due()

    assert pacing.slowed == [NUMBER]
    failures = {e.code: e for e in outbox.outcomes() if isinstance(e, OutboundSendFailed)}
    assert failures[130429].error_class is ErrorClass.THROUGHPUT
    assert failures[131056].next_attempt_at == NOW + timedelta(seconds=6)


async def test_a_closed_window_fails_without_a_slot_or_a_call_but_a_template_goes() -> None:
    outbox = FakeOutbox([claimed("1", wrote_hours_ago=25),
                         claimed("2", wrote_hours_ago=25, template=True)])  # fmt: skip
    pacing, gateway = FakePacing(), InMemoryWhatsAppGateway()

    await sender(outbox, gateway, pacing).send_due()

    assert [s.recipient.address for s in gateway.sent] == ["2"]
    assert pacing.reservations == [(NUMBER, "acme", 1)]
    failed, accepted = sorted(outbox.outcomes(), key=lambda e: type(e).__name__, reverse=True)
    assert isinstance(failed, OutboundSendFailed)
    assert (failed.reason, failed.retryable, failed.next_attempt_at) == (WINDOW_CLOSED_REASON,
                                                                         False, None)  # fmt: skip
    assert isinstance(accepted, OutboundMessageAccepted)


# A lease of 3.5 s with a 1 s send limit and the 2 s margin: a wait over 0.5 s renews it.
SHORT_LEASE = SenderSettings(lease_seconds=3.5, send_timeout=1.0)


def short_lease_sender(outbox: FakeOutbox, gateway: InMemoryWhatsAppGateway,
                       pacing: FakePacing) -> OutboxSender:  # fmt: skip
    return OutboxSender(outbox, gateway, Tokens(), SHORT_LEASE, pacing=pacing, clock=lambda: NOW,
                        rand=lambda: 0.0)  # fmt: skip


async def test_a_far_slot_renews_the_lease_before_the_send_and_a_near_one_does_not() -> None:
    outbox = FakeOutbox([claimed("1"), claimed("2")])
    pacing, gateway = FakePacing([0.0, 0.7]), InMemoryWhatsAppGateway()

    await short_lease_sender(outbox, gateway, pacing).send_due()

    assert outbox.renewed == [claimed("2").message_id]
    assert len(gateway.sent) == 2


async def test_a_lease_lost_while_waiting_for_the_slot_is_not_sent() -> None:
    outbox = FakeOutbox([claimed("1")])
    outbox.lease_still_ours = False  # another sender took it over meanwhile
    pacing, gateway = FakePacing([0.7]), InMemoryWhatsAppGateway()

    await short_lease_sender(outbox, gateway, pacing).send_due()

    assert gateway.sent == []
    assert outbox.outcomes() == []


class FailingTokens:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def access_token_of(self, business_id: str) -> str | None:
        raise self.error


async def test_a_database_error_reading_the_token_leaves_the_message_to_its_lease() -> None:
    outbox, gateway = FakeOutbox([claimed("1")]), InMemoryWhatsAppGateway()
    sender = OutboxSender(outbox, gateway, FailingTokens(ConnectionResetError()),
                          pacing=FakePacing(), clock=lambda: NOW)  # fmt: skip

    await sender.send_due()

    assert gateway.sent == []
    assert outbox.outcomes() == []  # not failed for good: it is claimed again later


async def test_a_token_the_key_cannot_open_fails_the_message_as_critical() -> None:
    outbox, gateway = FakeOutbox([claimed("1")]), InMemoryWhatsAppGateway()
    sender = OutboxSender(outbox, gateway, FailingTokens(AccessTokenUnreadableError("key")),
                          pacing=FakePacing(), clock=lambda: NOW)  # fmt: skip

    await sender.send_due()

    [failed] = outbox.outcomes()
    assert isinstance(failed, OutboundSendFailed)
    assert failed.error_class is ErrorClass.CRITICAL
    assert gateway.sent == []
