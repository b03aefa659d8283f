"""The composition root: the only place that knows which adapter serves which port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import asyncpg
import httpx
import structlog
from dependency_injector import containers, providers

from adapters.ai.openai_assistant import OpenAiAssistant, create_openai_assistant
from adapters.ai.rules import RulesAssistant
from adapters.notify.log import LogNotifier
from adapters.notify.smtp import SmtpNotifier
from adapters.notify.webhook import WebhookNotifier
from adapters.postgres.api_tokens import ApiTokenAuthority, PostgresApiTokens
from adapters.postgres.assistant_turns import PostgresTurnBook, TurnRequestSubscriber
from adapters.postgres.businesses import PostgresBusinessDirectory, PostgresBusinessRegistry
from adapters.postgres.catalog import PostgresCatalog
from adapters.postgres.connection import connect, create_pool
from adapters.postgres.dashboard_sessions import PostgresDashboardSessions
from adapters.postgres.embedded import EmbeddedPostgres, EmbeddedPostgresError
from adapters.postgres.event_store import PostgresEventStore
from adapters.postgres.handoff import PostgresHandoffRecords
from adapters.postgres.idempotency import PostgresExpiredKeys
from adapters.postgres.live_feed import PostgresProgressFeed
from adapters.postgres.media import PostgresReceivedMedia
from adapters.postgres.migrations import default_migrations_dir, load_migrations, migrate
from adapters.postgres.notices import PostgresNoticeDeliveries, PostgresNoticeQueue
from adapters.postgres.orders import OrdersSubscriber, PostgresOrderQueries, PostgresOrderUnits
from adapters.postgres.outbox import OutboxSubscriber, PostgresOutbox
from adapters.postgres.read_model_queries import PostgresReadModelQueries
from adapters.postgres.read_models import PROJECTIONS
from adapters.postgres.send_pacing import PostgresSendPacing
from adapters.postgres.sending import PostgresOutboxRetries, PostgresSendingUnits
from adapters.postgres.subscriptions import PostgresSubscriptionSource
from adapters.postgres.templates import PostgresTemplateBook
from adapters.secrets.token_cipher import (
    KEY_SETTING,
    SecretKeyError,
    TokenCipher,
    key_file_beside,
    load_or_create_key_file,
)
from adapters.whatsapp.connection import GraphConnectionProbe
from adapters.whatsapp.graph import GraphWhatsAppGateway, create_graph_client
from adapters.whatsapp.media import GraphMediaGateway
from adapters.whatsapp.templates import GraphTemplateGateway
from application.assistant_settings import AssistantSettingsService
from application.assistant_turns import AssistantTurnWorker, TurnSettings
from application.businesses import DEFAULT_BUSINESS_ID, Business
from application.catalog import CatalogQueries
from application.codec import EventCodec
from application.connection_status import ConnectionStatusService
from application.dashboard_sessions import DashboardAccess
from application.handoff import ConversationHandoff
from application.idempotency import ExpiredKeyPurger
from application.live_updates import LiveHub
from application.media import MediaService
from application.notifications import NoticeDeliveryWorker, TeamNoticeRecorder
from application.order_settings import OrderSettingsService
from application.orders import OrderDesk
from application.outbox import OutboxSender, SenderSettings
from application.ports import Assistant, Notifier, Subscriber
from application.sending import MessageSending
from application.subscriptions import RunnerGroup, RunnerSettings, SubscriptionRunner
from application.webhook_ingest import WebhookIngestor
from domain.event_types import EVENT_TYPES
from entrypoints.settings import Settings, sandbox_wanted

T = TypeVar("T")

log = structlog.get_logger(__name__)
# What GET /api/v1/status and `wazybot status` report; a sandbox setting will choose.


async def provide_database_url(settings: Settings) -> AsyncGenerator[str, None]:
    """DATABASE_URL when set; otherwise the embedded server, started for this process."""
    if settings.database_url:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    url = await asyncio.to_thread(embedded.start)
    log.info("database.embedded", data_dir=str(embedded.data_dir))
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)


class DatabaseUnavailableError(RuntimeError):
    """The database refused or did not answer; the message names the URL (logs redact it)."""


_CONNECTION_ERRORS: Final = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def _reach(database_url: str, attempt: Awaitable[T]) -> T:
    try:
        return await attempt
    except _CONNECTION_ERRORS as error:
        raise DatabaseUnavailableError(
            f"cannot connect to the database at {database_url}: {error}"
        ) from error


async def apply_migrations(database_url: str) -> list[str]:
    connection = await _reach(
        database_url, connect(database_url, application_name="wazybot migrate")
    )
    try:
        return await migrate(connection, load_migrations(default_migrations_dir()))
    finally:
        await connection.close()


def connection_mode(settings: Settings) -> str:
    """What the connection status says it is connected to: the built-in simulator or Meta."""
    return "sandbox" if sandbox_wanted(settings) else "live"


async def provide_pool(database_url: str, settings: Settings) -> AsyncIterator[asyncpg.Pool[Any]]:
    if settings.auto_migrate:
        applied = await apply_migrations(database_url)
        log.info("database.migrated", applied=applied or "none, up to date")
    pool = await _reach(database_url, create_pool(database_url, max_size=settings.db_pool_size))
    try:
        yield pool
    finally:
        await pool.close()


async def provide_event_store(
    pool: asyncpg.Pool[Any], codec: EventCodec
) -> AsyncIterator[PostgresEventStore]:
    store = PostgresEventStore(pool, codec)
    try:
        yield store
    finally:
        await store.close()


async def provide_graph_client() -> AsyncIterator[httpx.AsyncClient]:
    """The process's one pooled client for the Graph API, closed at shutdown."""
    client = create_graph_client()
    try:
        yield client
    finally:
        await client.aclose()


def build_runners(
    subscribers: list[Subscriber[Any]],
    source: PostgresSubscriptionSource,
    settings: Settings,
) -> RunnerGroup:
    runner_settings = RunnerSettings(poll_interval=settings.subscriber_poll_seconds)
    return RunnerGroup([SubscriptionRunner(s, source, runner_settings) for s in subscribers])


def sender_settings(settings: Settings) -> SenderSettings:
    """The lease of WAZYBOT_SEND_LEASE_SECONDS. A send gives up after two thirds of it (at
    most the usual 60 s), so that a live sender's attempt ends well before its lease does:
    another sender takes a message over only when its sender died."""
    lease = settings.send_lease_seconds
    timeout = min(SenderSettings().send_timeout, lease * 2 / 3)
    return SenderSettings(lease_seconds=lease, send_timeout=timeout)


def turn_settings(settings: Settings) -> TurnSettings:
    """A turn waits WAZYBOT_ASSISTANT_TURN_TIMEOUT_SECONDS for the assistant at most; its
    lease is longer, so another worker takes a conversation over only when its worker died."""
    timeout = settings.assistant_turn_timeout_seconds
    lease = timeout + max(10.0, timeout / 2)
    return TurnSettings(
        max_concurrent_turns=settings.assistant_concurrency,
        answer_timeout=timeout,
        lease_seconds=lease,
    )


def provide_live_hub(
    database_url: str, store: PostgresEventStore, environment_token: str | None
) -> LiveHub:
    """The dashboard's live updates: one watcher (one connection) for all open pages."""
    return LiveHub(lambda: PostgresProgressFeed(database_url, store, environment_token))


def build_notifiers(settings: Settings) -> list[Notifier]:
    """The configured channels; the structured log when none is."""
    notifiers: list[Notifier] = []
    if settings.notify_webhook_url is not None:
        notifiers.append(WebhookNotifier(settings.notify_webhook_url.value))
    if settings.notify_smtp_url is not None and settings.notify_email_from:
        recipients = settings.notify_email_to or ()
        notifiers.append(
            SmtpNotifier(settings.notify_smtp_url.value, settings.notify_email_from, recipients)
        )
    return notifiers or [LogNotifier()]


async def provide_notifiers(settings: Settings) -> AsyncIterator[list[Notifier]]:
    notifiers = build_notifiers(settings)
    try:
        yield notifiers
    finally:
        for notifier in notifiers:
            if isinstance(notifier, WebhookNotifier):
                await notifier.close()


async def provide_assistant(
    settings: Settings, catalog: CatalogQueries | None = None
) -> AsyncIterator[Assistant]:
    """The OpenAI-compatible provider when OPENAI_API_KEY is set, else the offline rules;
    both recommend products from ``catalog`` and (the provider) take orders."""
    if settings.openai_api_key is None:
        log.info("assistant.provider", provider="offline")
        yield RulesAssistant(catalog)
        return
    assistant = _openai_assistant(settings, settings.openai_api_key.value, catalog)
    log.info("assistant.provider", provider=assistant.provider, model=assistant.model)
    try:
        yield assistant
    finally:
        await assistant.close()


@asynccontextmanager
async def named_assistant(
    settings: Settings, provider: str, catalog: CatalogQueries | None = None
) -> AsyncIterator[Assistant]:
    """The assistant ``provider`` names ("offline" or "openai"), whatever OPENAI_API_KEY
    would choose for the server; for commands that try a provider (`assistant evaluate`)."""
    if provider == "offline":
        yield RulesAssistant(catalog)
        return
    if settings.openai_api_key is None:
        raise AssistantProviderError(f"the {provider} assistant needs OPENAI_API_KEY")
    assistant = _openai_assistant(settings, settings.openai_api_key.value, catalog)
    try:
        yield assistant
    finally:
        await assistant.close()


def _openai_assistant(
    settings: Settings, api_key: str, catalog: CatalogQueries | None
) -> OpenAiAssistant:
    return create_openai_assistant(
        api_key=api_key,
        model=settings.openai_model,
        base_url=settings.openai_base_url,
        timeout_seconds=settings.openai_timeout_seconds,
        max_retries=settings.openai_max_retries,
        max_output_tokens=settings.openai_max_output_tokens,
        catalog=catalog,
    )


class AssistantProviderError(Exception):
    """The provider asked for cannot be used with these settings."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def channels_of(notifiers: list[Notifier]) -> list[str]:
    return [notifier.channel for notifier in notifiers]


def environment_token(settings: Settings) -> str | None:
    return settings.api_token.value if settings.api_token else None


def environment_access_token(settings: Settings) -> str | None:
    token = settings.whatsapp_access_token
    return token.value if token else None


def default_business(settings: Settings) -> Business | None:
    """The business WHATSAPP_PHONE_NUMBER_ID configures, when it is set."""
    if not settings.whatsapp_phone_number_id:
        return None
    token = settings.whatsapp_access_token
    return Business(
        id=DEFAULT_BUSINESS_ID,
        name="Default business",
        phone_number_ids=(settings.whatsapp_phone_number_id,),
        account_id=settings.whatsapp_business_account_id,
        has_access_token=token is not None,
        source="environment",
        access_token=token.value if token else None,
    )


async def prepare_database(container: Container) -> None:
    """What every serving process does once the database is up, whatever its role."""
    await store_environment_business(container)
    await secure_access_tokens(container)


async def start_workers(container: Container) -> list[str]:
    """The event subscribers, the team-notice delivery and the outbox sender; the names of
    the subscribers."""
    runners = await resolve(container.runners())
    runners.start()
    (await resolve(container.notice_worker())).start()
    (await resolve(container.outbox_sender())).start()
    (await resolve(container.turn_worker())).start()
    (await resolve(container.key_purger())).start()
    return [runner.subscriber.name for runner in runners.runners]


async def stop_workers(container: Container) -> None:
    await (await resolve(container.runners())).stop()
    await (await resolve(container.notice_worker())).stop()
    await (await resolve(container.outbox_sender())).stop()
    await (await resolve(container.turn_worker())).stop()
    await (await resolve(container.key_purger())).stop()


async def store_environment_business(container: Container) -> None:
    """Store the business WHATSAPP_PHONE_NUMBER_ID defines, so every command sees it."""
    business = container.default_business()
    if business is None:
        return
    registry: PostgresBusinessRegistry = await resolve(container.business_registry())
    problems = await registry.store_environment_business(business)
    log.info("business.environment_stored", business_id=business.id,
             phone_number_ids=list(business.phone_number_ids))  # fmt: skip
    for problem in problems:
        log.warning("business.environment_not_applied", problem=problem)


def provide_token_cipher(settings: Settings) -> TokenCipher:
    """WAZYBOT_SECRET_KEY; with the embedded database, a key file made once beside its data.

    A missing or unreadable key never stops the process: storing or reading a token
    then fails with a message naming the setting.
    """
    if settings.secret_key is not None:
        return TokenCipher(settings.secret_key.value.encode("ascii"))
    if settings.database_url:
        return TokenCipher.without_key(
            f"set {KEY_SETTING} to store access tokens (a key is required with DATABASE_URL)"
        )
    path = key_file_beside(settings.data_dir)
    try:
        return TokenCipher(load_or_create_key_file(path))
    except (SecretKeyError, OSError) as error:
        log.error("secrets.key_file_unusable", path=str(path), error=str(error))
        return TokenCipher.without_key(f"the key file {path} cannot be used ({error}); "
                                       f"set {KEY_SETTING} or fix the file")  # fmt: skip


async def secure_access_tokens(container: Container) -> None:
    """Encrypt access tokens stored before encryption; report ones the key cannot open."""
    registry: PostgresBusinessRegistry = await resolve(container.business_registry())
    try:
        problems = await registry.secure_stored_tokens()
    except asyncpg.UndefinedTableError:  # not migrated yet (WAZYBOT_AUTO_MIGRATE=false)
        log.warning("business.access_tokens_not_checked", reason="database not migrated")
        return
    for problem in problems:
        log.error("business.access_tokens_not_secured", problem=problem)


async def resolve(value: Any) -> Any:
    """Providers that depend on async resources hand back awaitables; others plain values."""
    if hasattr(value, "__await__"):
        return await value
    return value


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    database_url = providers.Resource(provide_database_url, settings)
    pool = providers.Resource(provide_pool, database_url, settings)
    codec = providers.Singleton(EventCodec, EVENT_TYPES)
    event_store = providers.Resource(provide_event_store, pool, codec)
    subscription_source = providers.Singleton(PostgresSubscriptionSource, database_url, event_store)
    default_business = providers.Singleton(default_business, settings)
    environment_token = providers.Callable(environment_token, settings)
    environment_access_token = providers.Callable(environment_access_token, settings)
    token_cipher = providers.Singleton(provide_token_cipher, settings)
    business_registry = providers.Singleton(
        PostgresBusinessRegistry, pool, token_cipher, environment_access_token
    )
    # The environment's business is stored at server start (store_environment_business), so
    # the directory reads it from the database like any other and `business remove` applies.
    business_directory = providers.Singleton(
        PostgresBusinessDirectory,
        business_registry,
        default_flood_limit=settings.provided.flood_limit,
    )
    webhook_ingestor = providers.Singleton(WebhookIngestor, event_store, business_directory)
    api_tokens = providers.Singleton(PostgresApiTokens, pool)
    api_authority = providers.Singleton(ApiTokenAuthority, api_tokens, environment_token)
    dashboard_sessions = providers.Singleton(PostgresDashboardSessions, pool, environment_token)
    # The sandbox start-up calls dashboard_access().create_sign_in_link(business_id, token_id).
    dashboard_access = providers.Singleton(DashboardAccess, dashboard_sessions, api_authority)
    read_model_queries = providers.Singleton(PostgresReadModelQueries, pool)
    live_hub = providers.Singleton(provide_live_hub, database_url, event_store, environment_token)
    graph_client = providers.Resource(provide_graph_client)
    whatsapp_gateway = providers.Singleton(
        GraphWhatsAppGateway,
        graph_client,
        graph_url=settings.provided.whatsapp_graph_url,
        api_version=settings.provided.whatsapp_api_version,
    )
    template_gateway = providers.Singleton(
        GraphTemplateGateway,
        graph_client,
        graph_url=settings.provided.whatsapp_graph_url,
        api_version=settings.provided.whatsapp_api_version,
    )
    media_gateway = providers.Singleton(
        GraphMediaGateway,
        graph_client,
        graph_url=settings.provided.whatsapp_graph_url,
        api_version=settings.provided.whatsapp_api_version,
    )
    connection_probe = providers.Singleton(
        GraphConnectionProbe,
        graph_client,
        graph_url=settings.provided.whatsapp_graph_url,
        api_version=settings.provided.whatsapp_api_version,
    )
    connection_status = providers.Singleton(
        ConnectionStatusService,
        connection_probe,
        business_registry,
        mode=providers.Callable(connection_mode, settings),
        clock=providers.Object(utc_now),
    )
    template_book = providers.Singleton(PostgresTemplateBook, pool)
    catalog_queries = providers.Singleton(PostgresCatalog, pool)
    media_service = providers.Singleton(
        MediaService,
        media_gateway,
        business_registry,
        providers.Singleton(PostgresReceivedMedia, pool),
        max_bytes=settings.provided.media_max_bytes,
    )
    notifiers = providers.Resource(provide_notifiers, settings)
    assistant = providers.Resource(provide_assistant, settings, catalog_queries)
    notice_queue = providers.Singleton(
        PostgresNoticeQueue, providers.Callable(channels_of, notifiers)
    )
    notice_deliveries = providers.Singleton(PostgresNoticeDeliveries, pool)
    notice_worker = providers.Singleton(NoticeDeliveryWorker, notice_deliveries, notifiers)
    key_purger = providers.Singleton(
        ExpiredKeyPurger, providers.Singleton(PostgresExpiredKeys, pool)
    )
    order_units = providers.Singleton(PostgresOrderUnits, pool, event_store)
    order_desk = providers.Singleton(OrderDesk, order_units)
    order_queries = providers.Singleton(PostgresOrderQueries, pool)
    order_settings = providers.Singleton(OrderSettingsService, event_store)
    # The projections and process managers that follow the event feed register here.
    subscribers: providers.Provider[list[Subscriber[Any]]] = providers.List(
        *(providers.Singleton(projection) for projection in PROJECTIONS),
        providers.Singleton(TeamNoticeRecorder, notice_queue),
        providers.Singleton(OutboxSubscriber),
        providers.Singleton(
            TurnRequestSubscriber, event_store, enabled=settings.provided.auto_replies
        ),
        providers.Singleton(OrdersSubscriber, order_desk, event_store),
    )
    outbox = providers.Singleton(PostgresOutbox, pool, event_store)
    send_pacing = providers.Singleton(
        PostgresSendPacing, pool, default_rate=settings.provided.send_rate
    )
    outbox_sender = providers.Singleton(
        OutboxSender,
        outbox,
        whatsapp_gateway,
        business_registry,
        providers.Callable(sender_settings, settings),
        pacing=send_pacing,
    )
    runners = providers.Singleton(build_runners, subscribers, subscription_source, settings)
    sending_units = providers.Singleton(PostgresSendingUnits, pool, event_store)
    message_sending = providers.Singleton(MessageSending, sending_units, template_book)
    outbox_retries = providers.Singleton(PostgresOutboxRetries, pool, event_store)
    assistant_settings = providers.Singleton(AssistantSettingsService, event_store)
    handoff_records = providers.Singleton(PostgresHandoffRecords, pool, event_store)
    conversation_handoff = providers.Singleton(ConversationHandoff, handoff_records)
    turn_book = providers.Singleton(PostgresTurnBook, pool, event_store)
    turn_worker = providers.Singleton(
        AssistantTurnWorker,
        turn_book,
        event_store,
        assistant,
        assistant_settings,
        whatsapp_gateway,
        business_registry,
        providers.Callable(turn_settings, settings),
    )


async def with_container(settings: Settings, work: Callable[[Container], Awaitable[T]]) -> T:
    """Run ``work`` with the resources started: a migrated (or embedded) database and its pool.

    An administration command never creates an embedded database: one run from another
    directory would otherwise quietly work on a new, empty one.
    """
    require_existing_database(settings)
    container = Container(settings=settings)
    await resolve(container.init_resources())
    try:
        return await work(container)
    finally:
        await resolve(container.shutdown_resources())


def require_existing_database(settings: Settings) -> None:
    if settings.database_url:
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    if not embedded.exists:
        raise EmbeddedPostgresError(
            f"no WazyBot database in {embedded.configured_dir}: run this command from the "
            "directory the server runs in, or set WAZYBOT_DATA_DIR or DATABASE_URL "
            "(`wazybot serve` and `wazybot db migrate` create a new one)"
        )


async def with_pool(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work`` with a migrated pool on the configured (or embedded) database."""

    async def on_pool(container: Container) -> T:
        return await work(await resolve(container.pool()))

    return await with_container(settings, on_pool)
