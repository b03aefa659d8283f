"""Message templates: the Graph API port, the stored templates, sync, create, delete, and
the check every template send passes before it is queued.

The templates read model is built from events only (``template.synced``,
``template.removed`` and the template webhooks), so it can be rebuilt from the log.
A sync lists every page Meta has and appends one event per template whose content
differs from what is stored; event ids are deterministic, so a sync repeated with
nothing changed at Meta appends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import msgspec

from application.event_log import AppendRequest, FeedPosition, NewEvent
from application.gateway import AccessToken
from application.ports import EventStore
from domain.account import business_stream
from domain.outbound import TemplateMessage
from domain.template_definitions import NewTemplate
from domain.templates import (
    APPROVED,
    DELETED,
    TemplateMismatchError,
    TemplateRemoved,
    TemplateSynced,
    check_template_request,
    content_fingerprint,
    template_removed_event_id,
    template_synced_event_id,
)

MAX_PAGES: Final = 1000  # a bound on a paging loop whose cursors would never end


# --- the Graph API port ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WabaAccess:
    """A WhatsApp Business Account and the token that may manage its templates."""

    account_id: str
    access_token: AccessToken


@dataclass(frozen=True, slots=True)
class MetaTemplate:
    """One template (one name in one language) as Meta lists it."""

    id: str
    name: str
    language: str
    status: str
    category: str
    components: list[dict[str, Any]] = field(default_factory=list)
    quality: str | None = None  # GREEN, YELLOW, RED, UNKNOWN; None when Meta gave none


@dataclass(frozen=True, slots=True)
class TemplateListPage:
    templates: list[MetaTemplate]
    after: str | None  # the cursor of the next page; None on the last one


@dataclass(frozen=True, slots=True)
class CreatedTemplate:
    id: str
    status: str
    category: str


class TemplateGateway(Protocol):
    """Graph ``/{waba_id}/message_templates``; every method raises ``GatewayError``."""

    async def list_page(
        self, waba: WabaAccess, after: str | None = None, limit: int = 100
    ) -> TemplateListPage:
        """One page of the account's templates, from the cursor ``after`` (None: the first)."""
        ...

    async def create(self, waba: WabaAccess, template: NewTemplate) -> CreatedTemplate: ...

    async def delete(self, waba: WabaAccess, name: str) -> None:
        """Delete the template ``name`` in every language."""
        ...


async def list_all(
    gateway: TemplateGateway, waba: WabaAccess, page_size: int = 100
) -> list[MetaTemplate]:
    """Every template of the account, following Meta's cursors to the last page."""
    templates: list[MetaTemplate] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        page = await gateway.list_page(waba, after, page_size)
        templates.extend(page.templates)
        if page.after is None or not page.templates:
            return templates
        after = page.after
    raise TemplateError("sync_incomplete", f"Meta returned more than {MAX_PAGES} pages")


# --- the stored templates (read model) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    business_id: str
    name: str
    language: str
    status: str
    category: str | None
    quality: str | None
    components: list[dict[str, Any]] | None  # None: known from webhooks only, never synced
    template_id: str | None
    updated_at: datetime
    last_event_id: str


class TemplateBook(Protocol):
    """The templates read model, read within one business."""

    async def template(
        self, business_id: str, name: str, language: str
    ) -> StoredTemplate | None: ...

    async def templates_named(self, business_id: str, name: str) -> list[StoredTemplate]: ...

    async def all_templates(self, business_id: str) -> list[StoredTemplate]:
        """Every stored template, deleted ones included."""
        ...


# --- errors ------------------------------------------------------------------------------------


class TemplateError(Exception):
    """A template operation refused; ``code`` is stable, ``field`` names the part at fault."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


# --- the check before a template send ----------------------------------------------------------


async def prepare_template(
    book: TemplateBook, business_id: str, requested: TemplateMessage
) -> TemplateMessage:
    """The template message to queue, or ``TemplateError`` before anything is queued.

    Refuses with ``template_not_approved`` (field ``template.name`` or
    ``template.language``) a template the business does not have APPROVED in the
    requested language, with ``template_not_synced`` one known only from webhooks
    (its components unknown: run ``wazybot templates sync``), and with
    ``template_mismatch`` a request that does not fill the stored components exactly:
    the number of body parameters, the header (none, text, or a media header of the
    stored format), the buttons (index, sub_type of the stored button, a parameter
    for every dynamic URL and copy code button, codes of at most 20 characters).
    The message returned has its buttons in index order; nothing else changes.
    """
    stored = await book.template(business_id, requested.name, requested.language)
    if stored is None or stored.status != APPROVED:
        raise await _not_approved(book, business_id, requested, stored)
    if stored.components is None:
        raise TemplateError(
            "template_not_synced",
            f"Template {requested.name!r} ({requested.language}) is known only from Meta's "
            "notifications; run `wazybot templates sync` to load its components",
            "template.name",
        )
    try:
        check_template_request(stored.components, requested)
    except TemplateMismatchError as error:
        message = f"Template {requested.name!r} does not fit this request: {error.problem}"
        raise TemplateError("template_mismatch", message, error.field) from None
    ordered = tuple(sorted(requested.buttons, key=lambda button: button.index))
    return msgspec.structs.replace(requested, buttons=ordered)


async def _not_approved(
    book: TemplateBook, business_id: str, requested: TemplateMessage, stored: StoredTemplate | None
) -> TemplateError:
    name, language = requested.name, requested.language
    if stored is not None:
        return TemplateError(
            "template_not_approved",
            f"Template {name!r} is {stored.status} in {language}, not APPROVED",
            "template.name",
        )
    approved = sorted(t.language for t in await book.templates_named(business_id, name)
                      if t.status == APPROVED)  # fmt: skip
    if approved:
        return TemplateError(
            "template_not_approved",
            f"Template {name!r} is not approved in {language} (approved in: {', '.join(approved)})",
            "template.language",
        )
    return TemplateError(
        "template_not_approved",
        f"This business has no template {name!r} (run `wazybot templates sync` if it is new)",
        "template.name",
    )


# --- sync, create, delete ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncResult:
    listed: int  # templates Meta listed
    changed: int  # template.synced events appended
    removed: int  # template.removed events appended
    last_position: FeedPosition | None  # where the appended events are in the feed


def sync_events(
    business_id: str,
    listed: Sequence[MetaTemplate],
    stored: Sequence[StoredTemplate],
    at: datetime,
) -> list[NewEvent]:
    """What a complete listing changes in the stored templates, as events."""
    by_key = {(t.name, t.language): t for t in stored}
    events: list[NewEvent] = []
    for template in listed:
        known = by_key.pop((template.name, template.language), None)
        if known is not None and _same(known, template):
            continue
        fingerprint = content_fingerprint(template.status, template.category, template.quality,
                                          template.components)  # fmt: skip
        basis = known.last_event_id if known else "-"
        event = TemplateSynced(
            business_id=business_id, template_id=template.id, name=template.name,
            language=template.language, status=template.status, category=template.category,
            components=template.components, quality=template.quality, at=at,
        )  # fmt: skip
        event_id = template_synced_event_id(business_id, template.name, template.language,
                                            fingerprint, basis)  # fmt: skip
        events.append(NewEvent(event, event_id))
    for gone in by_key.values():
        if gone.status == DELETED:
            continue
        event_id = template_removed_event_id(business_id, gone.name, gone.language,
                                             gone.last_event_id)  # fmt: skip
        removed = TemplateRemoved(business_id=business_id, name=gone.name, language=gone.language,
                                  template_id=gone.template_id, at=at)  # fmt: skip
        events.append(NewEvent(removed, event_id))
    return events


def _same(stored: StoredTemplate, listed: MetaTemplate) -> bool:
    return (
        stored.status == listed.status
        and stored.category == listed.category
        and stored.template_id == listed.id
        and stored.components == listed.components
        and (listed.quality is None or stored.quality == listed.quality)
    )


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a create or delete recorded: ``count`` events, ending at ``last_position``."""

    count: int
    last_position: FeedPosition | None


class TemplateService:
    """Sync, create and delete a business's templates at Meta, recording what changed."""

    def __init__(
        self,
        gateway: TemplateGateway,
        book: TemplateBook,
        store: EventStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._gateway = gateway
        self._book = book
        self._store = store
        self._clock = clock

    async def sync(self, business_id: str, waba: WabaAccess) -> SyncResult:
        listed = await list_all(self._gateway, waba)
        stored = await self._book.all_templates(business_id)
        events = sync_events(business_id, listed, stored, self._clock())
        position = await self._append(business_id, events)
        removed = sum(isinstance(e.event, TemplateRemoved) for e in events)
        return SyncResult(len(listed), len(events) - removed, removed, position)

    async def create(
        self, business_id: str, waba: WabaAccess, template: NewTemplate
    ) -> tuple[CreatedTemplate, Recorded]:
        """Submit a new template for review; it is stored with the status Meta answered."""
        created = await self._gateway.create(waba, template)
        listed = MetaTemplate(
            created.id, template.name, template.language, created.status,
            created.category or template.category, template.components,
        )  # fmt: skip
        # A stored row of the same name and language (one deleted earlier) is its basis.
        known = await self._book.template(business_id, template.name, template.language)
        stored = [known] if known is not None else []
        events = sync_events(business_id, [listed], stored, self._clock())
        return created, Recorded(len(events), await self._append(business_id, events))

    async def delete(self, business_id: str, waba: WabaAccess, name: str) -> Recorded:
        """Delete ``name`` (every language) at Meta; one removal per stored language."""
        await self._gateway.delete(waba, name)
        stored = [t for t in await self._book.templates_named(business_id, name)
                  if t.status != DELETED]  # fmt: skip
        at = self._clock()
        events = [
            NewEvent(
                TemplateRemoved(business_id=business_id, name=t.name, language=t.language,
                                template_id=t.template_id, at=at, reason="deleted"),
                template_removed_event_id(business_id, t.name, t.language, t.last_event_id),
            )
            for t in stored
        ]  # fmt: skip
        return Recorded(len(events), await self._append(business_id, events))

    async def _append(self, business_id: str, events: list[NewEvent]) -> FeedPosition | None:
        if not events:
            return None
        (result,) = await self._store.append_atomic(
            [AppendRequest(business_stream(business_id), events)]
        )
        return result.last_position
