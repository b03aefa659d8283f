"""In-memory template fakes: Meta's template endpoints, and the templates read model."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from application.event_log import FEED_START, FeedPosition
from application.gateway import GatewayError
from application.ports import EventStore
from application.template_projection import TemplateKey, template_changes
from application.templates import (
    CreatedTemplate,
    MetaTemplate,
    StoredTemplate,
    TemplateListPage,
    WabaAccess,
)
from domain.template_definitions import NewTemplate
from domain.whatsapp_errors import classify


@dataclass(slots=True)
class _Failure:
    code: int
    times: int
    http_status: int
    message: str


class InMemoryTemplateGateway:
    """Meta's ``/{waba_id}/message_templates`` for one or more accounts, in memory.

    Pages hold ``page_size`` templates; cursors are positions. New templates take
    ``status_on_create`` (Meta's review answer, PENDING by default). Only the tokens in
    ``tokens`` are accepted for an account when that account is given some.
    """

    def __init__(self, page_size: int = 25, status_on_create: str = "PENDING") -> None:
        self.templates: dict[str, list[MetaTemplate]] = {}
        self.tokens: dict[str, str] = {}
        self.page_size = page_size
        self.status_on_create = status_on_create
        self.calls: list[str] = []
        self._failures: list[_Failure] = []
        self._ids = itertools.count(10**15 + 1)

    def add(self, account_id: str, template: MetaTemplate) -> None:
        held = self.templates.setdefault(account_id, [])
        held[:] = [t for t in held if (t.name, t.language) != (template.name, template.language)]
        held.append(template)

    def fail(self, code: int, *, times: int = 1, http_status: int = 400, message: str = "") -> None:
        """Answer the next call(s) with a Graph error ``code``."""
        text = message or f"(#{code}) Scripted failure"
        self._failures.append(_Failure(code, times, http_status, text))

    async def list_page(
        self, waba: WabaAccess, after: str | None = None, limit: int = 100
    ) -> TemplateListPage:
        self._enter(waba, "list")
        held = self.templates.get(waba.account_id, [])
        start = int(after) if after else 0
        size = min(limit, self.page_size)
        page = held[start : start + size]
        end = start + len(page)
        return TemplateListPage(list(page), str(end) if end < len(held) else None)

    async def create(self, waba: WabaAccess, template: NewTemplate) -> CreatedTemplate:
        self._enter(waba, "create")
        held = self.templates.setdefault(waba.account_id, [])
        if any((t.name, t.language) == (template.name, template.language) for t in held):
            raise _error(100, 400, "(#100) Content in this language already exists")
        created = MetaTemplate(str(next(self._ids)), template.name, template.language,
                               self.status_on_create, template.category,
                               list(template.components))  # fmt: skip
        held.append(created)
        return CreatedTemplate(created.id, created.status, created.category)

    async def delete(self, waba: WabaAccess, name: str) -> None:
        self._enter(waba, "delete")
        held = self.templates.get(waba.account_id, [])
        kept = [t for t in held if t.name != name]
        if len(kept) == len(held):
            raise _error(100, 400, "(#100) Invalid parameter")
        held[:] = kept

    def _enter(self, waba: WabaAccess, call: str) -> None:
        self.calls.append(call)
        expected = self.tokens.get(waba.account_id)
        if expected is not None and waba.access_token.value != expected:
            raise _error(190, 401, "Invalid OAuth access token - Cannot parse access token")
        for failure in self._failures:
            if failure.times > 0:
                failure.times -= 1
                raise _error(failure.code, failure.http_status, failure.message)


def _error(code: int, http_status: int, message: str) -> GatewayError:
    return GatewayError(classify(code, http_status, meta_message=message), code=code,
                        title=message, meta_message=message, fbtrace_id="FAKE",
                        http_status=http_status)  # fmt: skip


class InMemoryTemplateBook:
    """The templates read model, kept by the same pure projection as PostgreSQL's.

    ``catch_up`` applies the events appended to ``store`` since the last call.
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._rows: dict[TemplateKey, StoredTemplate] = {}
        self._position: FeedPosition = FEED_START

    async def catch_up(self) -> None:
        while batch := await self._store.read_feed(self._position, 500):
            self._rows.update(template_changes(batch, self._rows))
            self._position = batch[-1].position

    def put(self, template: StoredTemplate) -> None:
        """Store a row directly (for tests of readers only)."""
        key = TemplateKey(template.business_id, template.name, template.language)
        self._rows[key] = replace(template)

    async def template(self, business_id: str, name: str, language: str) -> StoredTemplate | None:
        return self._rows.get(TemplateKey(business_id, name, language))

    async def templates_named(self, business_id: str, name: str) -> list[StoredTemplate]:
        return sorted((t for k, t in self._rows.items() if k[:2] == (business_id, name)),
                      key=lambda t: t.language)  # fmt: skip

    async def all_templates(self, business_id: str) -> list[StoredTemplate]:
        return sorted((t for k, t in self._rows.items() if k.business_id == business_id),
                      key=lambda t: (t.name, t.language))  # fmt: skip
