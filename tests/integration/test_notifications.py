"""Team notifications through the real path: SMTP and HTTP receivers, PostgreSQL queue."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog.testing

from adapters.notify.log import LogNotifier
from adapters.notify.smtp import SmtpNotifier
from adapters.notify.webhook import WebhookNotifier
from adapters.postgres.connection import create_pool
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.notices import PostgresNoticeDeliveries, PostgresNoticeQueue
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from application.codec import EventCodec
from application.event_log import FEED_START, FeedPosition, NewEvent, RecordedEvent
from application.notices import KeyedNotice, Notice, NotificationError
from application.notifications import (
    DeliverySettings,
    NoticeDeliveryWorker,
    TeamNoticeRecorder,
)
from application.subscriptions import RunnerSettings, SubscriptionRunner
from domain.account import AccountNoticeReceived, business_stream
from domain.event_types import EVENT_TYPES
from domain.events import deterministic_event_id
from domain.inbound import AccountNotice
from tests.integration.test_subscriptions_contract import caught_up, running
from tests.support.receivers import http_receiver, self_signed_certificate, smtp_server

NOTICE = Notice(text="Account 900 of business acme is restricted", event="account.restricted",
                business_id="acme", details={"account_id": "900"})  # fmt: skip
FAST = DeliverySettings(poll_seconds=0.02, first_retry_seconds=0.05, max_retry_seconds=0.2,
                        lease_seconds=30)  # fmt: skip
CODEC = EventCodec(EVENT_TYPES)


# --- channels -------------------------------------------------------------------------------


async def test_smtp_without_starttls_delivers_the_notice() -> None:
    with smtp_server() as (mailbox, port):
        notifier = SmtpNotifier(
            f"smtp://127.0.0.1:{port}", "bot@example.com", ("team@example.com",)
        )
        await notifier.send(NOTICE)
        (email,) = mailbox.wait_for(1)

    assert email["Subject"] == f"[WazyBot] {NOTICE.text}"
    assert (email["From"], email["To"]) == ("bot@example.com", "team@example.com")
    assert '"account_id": "900"' in email.get_payload()
    assert mailbox.encrypted == [False]


async def test_smtp_uses_starttls_when_offered_and_logs_in(tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    with smtp_server(certificate=certificate, login=("bot", "p@ss word")) as (mailbox, port):
        notifier = SmtpNotifier(f"smtp://bot:p%40ss%20word@127.0.0.1:{port}", "bot@example.com",
                                ("a@example.com", "b@example.com"), tls_context=trust)  # fmt: skip
        await notifier.send(NOTICE)
        (email,) = mailbox.wait_for(1)

    assert mailbox.encrypted == [True]
    assert mailbox.logins == ["bot"]
    assert email["To"] == "a@example.com, b@example.com"


async def test_smtp_never_sends_credentials_in_clear_and_never_shows_them() -> None:
    with smtp_server(login=("bot", "hunter2-secret")) as (mailbox, port):
        notifier = SmtpNotifier(f"smtp://bot:hunter2-secret@127.0.0.1:{port}", "bot@example.com",
                                ("team@example.com",))  # fmt: skip
        with pytest.raises(NotificationError, match="no STARTTLS") as raised:
            await notifier.send(NOTICE)

    assert mailbox.messages == []
    assert "hunter2" not in str(raised.value) + repr(notifier.__dict__)


async def test_smtp_that_cannot_be_reached_is_a_notification_error() -> None:
    with smtp_server() as (_, port):
        pass  # the port is free again
    notifier = SmtpNotifier(f"smtp://u:topsecret@127.0.0.1:{port}", "a@example.com",
                            ("b@example.com",))  # fmt: skip
    with pytest.raises(NotificationError, match="not reached") as raised:
        await notifier.send(NOTICE)
    assert "topsecret" not in str(raised.value)


async def test_an_smtp_server_that_drips_its_answers_is_cut_at_the_deadline() -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 slow.example ESMTP\r\n")
        await writer.drain()
        await reader.readline()  # EHLO
        with contextlib.suppress(ConnectionError):
            while True:  # each line well within any socket timeout, the answer never ends
                writer.write(b"250-still here\r\n")
                await writer.drain()
                await asyncio.sleep(0.1)

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    notifier = SmtpNotifier(f"smtp://127.0.0.1:{port}", "a@example.com", ("b@example.com",),
                            deadline_seconds=1.0)  # fmt: skip
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(NotificationError, match=r"did not finish within 1 s"):
            await notifier.send(NOTICE)
    finally:
        server.close()
    assert asyncio.get_running_loop().time() - started < 5


async def test_the_webhook_receives_the_slack_compatible_body() -> None:
    with http_receiver(failures=1) as receiver:
        notifier = WebhookNotifier(receiver.url + "?token=url-secret")
        with pytest.raises(NotificationError, match="answered 500") as raised:
            await notifier.send(NOTICE)
        await notifier.send(NOTICE)
        await notifier.close()

    assert "url-secret" not in str(raised.value)
    assert receiver.bodies == [{"text": NOTICE.text, "event": "account.restricted",
                                "business_id": "acme", "conversation_id": None,
                                "details": {"account_id": "900"}}]  # fmt: skip


async def test_the_log_channel_writes_one_structured_line() -> None:
    with structlog.testing.capture_logs() as logs:
        await LogNotifier().send(NOTICE)
    (line,) = logs
    assert (line["event"], line["text"], line["business_id"]) == ("team.notice", NOTICE.text,
                                                                  "acme")  # fmt: skip


# --- queue and worker ----------------------------------------------------------------------


def keyed(key: str, text: str = NOTICE.text) -> KeyedNotice:
    return KeyedNotice(key, Notice(text=text, event="account.restricted", business_id="acme"))


async def enqueue(pool: asyncpg.Pool[Any], channels: Sequence[str], *notices: KeyedNotice) -> int:
    async with pool.acquire() as connection, connection.transaction():
        return await PostgresNoticeQueue(channels).enqueue(connection, notices)


async def rows(pool: asyncpg.Pool[Any]) -> list[asyncpg.Record]:
    return await pool.fetch(
        "select dedup_key, channel, attempts, delivered_at, last_error from team_notices"
        " order by dedup_key, channel"
    )


async def deliver_until_settled(worker: NoticeDeliveryWorker, pool: asyncpg.Pool[Any]) -> None:
    async with asyncio.timeout(20):
        while any(r["delivered_at"] is None for r in await rows(pool)):
            await worker.deliver_due()
            await asyncio.sleep(0.02)


async def test_one_cause_gives_one_notice(pool: asyncpg.Pool[Any]) -> None:
    assert await enqueue(pool, ["webhook"], keyed("account:1"), keyed("account:1")) == 1
    assert await enqueue(pool, ["webhook"], keyed("account:1", "seen again")) == 0

    with http_receiver() as receiver:
        notifier = WebhookNotifier(receiver.url)
        worker = NoticeDeliveryWorker(PostgresNoticeDeliveries(pool), [notifier], FAST)
        await deliver_until_settled(worker, pool)
        await notifier.close()

    assert [b["text"] for b in receiver.bodies] == [NOTICE.text]


async def test_a_failing_channel_is_retried_on_its_own_with_backoff(
    pool: asyncpg.Pool[Any],
) -> None:
    await enqueue(pool, ["webhook", "email"], keyed("account:2"))
    with http_receiver(failures=2) as receiver, smtp_server() as (mailbox, port):
        webhook = WebhookNotifier(receiver.url)
        email = SmtpNotifier(f"smtp://127.0.0.1:{port}", "bot@example.com", ("t@example.com",))
        worker = NoticeDeliveryWorker(PostgresNoticeDeliveries(pool), [webhook, email], FAST)
        await deliver_until_settled(worker, pool)
        await webhook.close()

    assert receiver.attempts == 3
    assert len(receiver.bodies) == 1
    assert len(mailbox.messages) == 1  # the email went out once, whatever the webhook did
    settled = {r["channel"]: (r["attempts"], r["last_error"]) for r in await rows(pool)}
    assert settled == {"webhook": (3, None), "email": (1, None)}


async def test_a_failed_delivery_waits_its_backoff_before_the_next_attempt(
    pool: asyncpg.Pool[Any],
) -> None:
    await enqueue(pool, ["webhook"], keyed("account:3"))
    slow = DeliverySettings(first_retry_seconds=60, max_retry_seconds=600)
    with http_receiver(failures=1) as receiver:
        notifier = WebhookNotifier(receiver.url)
        worker = NoticeDeliveryWorker(PostgresNoticeDeliveries(pool), [notifier], slow,
                                      rand=lambda: 1.0)  # fmt: skip
        await worker.deliver_due()
        await worker.deliver_due()  # not due yet: nothing is sent
        await notifier.close()

    assert receiver.attempts == 1
    (row,) = await pool.fetch(
        "select next_attempt_at - now() as wait, last_error from team_notices"
    )
    assert timedelta(seconds=55) < row["wait"] <= timedelta(seconds=60)
    assert row["last_error"] == "notification webhook at 127.0.0.1 answered 500"


async def test_pending_notices_survive_a_restart(database_url: str) -> None:
    first_pool = await create_pool(database_url, max_size=2)
    await enqueue(first_pool, ["webhook"], keyed("account:4"))
    with http_receiver() as receiver:
        pass  # the receiver is gone: the first process cannot deliver
    unreachable = WebhookNotifier(receiver.url)
    await NoticeDeliveryWorker(PostgresNoticeDeliveries(first_pool), [unreachable], FAST,
                               rand=lambda: 0.0).deliver_due()  # fmt: skip
    await unreachable.close()
    await first_pool.close()

    second_pool = await create_pool(database_url, max_size=2)
    with http_receiver() as receiver:
        notifier = WebhookNotifier(receiver.url)
        worker = NoticeDeliveryWorker(PostgresNoticeDeliveries(second_pool), [notifier], FAST)
        worker.start()
        await receiver.arrived(1)
        await worker.stop()
        await notifier.close()
    await second_pool.close()

    assert [b["text"] for b in receiver.bodies] == [NOTICE.text]


async def test_a_delivery_claimed_by_a_worker_that_died_is_taken_again_after_its_lease(
    pool: asyncpg.Pool[Any],
) -> None:
    await enqueue(pool, ["webhook"], keyed("account:5"))
    deliveries = PostgresNoticeDeliveries(pool)
    (claimed,) = await deliveries.claim_due(["webhook"], 10, lease_seconds=0.3)
    assert await deliveries.claim_due(["webhook"], 10, lease_seconds=0.3) == []  # leased

    with http_receiver() as receiver:
        notifier = WebhookNotifier(receiver.url)
        worker = NoticeDeliveryWorker(deliveries, [notifier], FAST)
        worker.start()
        await receiver.arrived(1)
        await worker.stop()
        await notifier.close()

    assert claimed.attempt == 1
    assert [r["attempts"] for r in await rows(pool)] == [2]


# --- events to notices ---------------------------------------------------------------------


def account_event(event: str, account_id: str = "900") -> NewEvent:
    details = {"ban_info": {"waba_ban_state": "DISABLE"}}
    notice = AccountNotice(account_id=account_id, field="account_update", event=event,
                           at=datetime.now(UTC), details=details)  # fmt: skip
    return NewEvent(AccountNoticeReceived(business_id="acme", notice=notice),
                    deterministic_event_id("test", event, account_id))  # fmt: skip


@pytest.fixture
async def store(pool: asyncpg.Pool[Any]) -> AsyncIterator[PostgresEventStore]:
    postgres_store = PostgresEventStore(pool, CODEC)
    yield postgres_store
    await postgres_store.close()


async def test_account_bans_and_restrictions_become_notices_once(
    store: PostgresEventStore, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    await store.append(business_stream("acme"), [account_event("PARTNER_ADDED")])
    await store.append(business_stream("acme"), [account_event("DISABLED_UPDATE")])
    last = await store.append(business_stream("acme"), [account_event("ACCOUNT_RESTRICTION")])
    recorder = TeamNoticeRecorder(PostgresNoticeQueue(["webhook"]))
    runner = SubscriptionRunner(recorder, PostgresSubscriptionSource(database_url, store),
                                RunnerSettings(poll_interval=5))  # fmt: skip
    async with running(runner):
        await caught_up(runner, last)
        again = await store.append(business_stream("acme"), [account_event("ACCOUNT_RESTRICTION")])
        assert again.duplicates == 1  # a redelivered webhook is the same event

    queued = await pool.fetch("select notice->>'text' as text, event from team_notices order by id")
    assert [r["event"] for r in queued] == [
        "account.disabled_update",
        "account.account_restriction",
    ]
    assert "(ban state DISABLE)" in queued[0]["text"]


async def test_old_events_give_no_notice_on_a_first_start(
    store: PostgresEventStore, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    last = await store.append(business_stream("acme"), [account_event("ACCOUNT_RESTRICTION")])
    tomorrow = lambda: datetime.now(UTC) + timedelta(days=2)  # noqa: E731
    recorder = TeamNoticeRecorder(PostgresNoticeQueue(["webhook"]), clock=tomorrow)
    runner = SubscriptionRunner(recorder, PostgresSubscriptionSource(database_url, store))
    async with running(runner):
        await caught_up(runner, last)

    assert await rows(pool) == []


class FailsOnAccountNotices:
    """A projection with a bug: every account notice fails it."""

    name = "buggy-projection"

    async def handle(self, tx: Any, events: Sequence[RecordedEvent]) -> None:
        if any(isinstance(e.event, AccountNoticeReceived) for e in events):
            raise ValueError("cannot project an account notice")


async def test_parked_events_become_one_notice_per_cause(
    store: PostgresEventStore, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    source = PostgresSubscriptionSource(database_url, store)
    for n in range(3):
        last = await store.append(
            business_stream("acme"), [account_event("PARTNER_ADDED", f"9{n}")]
        )
    park_at_once = RunnerSettings(retry_delay=0.01, attempts_before_parking=1)
    buggy = SubscriptionRunner(FailsOnAccountNotices(), source, park_at_once)
    async with running(buggy):
        await caught_up(buggy, last)
    assert buggy.state.parked_events == 3
    parked_records = await store.read_stream("operations-buggy-projection")
    assert [e.type for e in parked_records] == ["subscriber.event_parked"] * 3

    recorder = SubscriptionRunner(TeamNoticeRecorder(PostgresNoticeQueue(["webhook"])), source)
    async with running(recorder):
        await asyncio.wait_for(recorder.wait_for_checkpoint(_last(parked_records)), 15)

    queued = await pool.fetch("select notice from team_notices")
    assert len(queued) == 1  # three parked events of one cause: one notice
    assert (
        "buggy-projection set aside a account.notice_received event" in queued[0]["notice"].decode()
    )


def _last(events: Sequence[RecordedEvent]) -> FeedPosition:
    return events[-1].position if events else FEED_START
