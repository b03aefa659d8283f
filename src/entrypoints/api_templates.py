"""GET /api/v1/templates: the caller's business's message templates, as last synced or notified."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Protocol

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter, SkipValidation

from application.read_models import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    QueryError,
    View,
    doc,
    page_size,
)
from application.templates import StoredTemplate
from entrypoints.api_params import BusinessId
from entrypoints.openapi import error_responses

STATUSES: Final = ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL",
                   "PENDING_DELETION", "DELETED", "LIMIT_EXCEEDED", "ARCHIVED",
                   "UNKNOWN")  # fmt: skip
_LANGUAGE: Final = re.compile(r"^[A-Za-z]{2,3}(_[A-Za-z]{2,4})?$")


class TemplateListing(Protocol):
    async def page(
        self,
        business_id: str,
        *,
        status: str | None = None,
        language: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> tuple[list[StoredTemplate], str | None]: ...


class TemplateView(View, frozen=True):
    """One message template of the business in one language."""

    name: Annotated[str, doc("The template's name, as given at creation and used to send it.")]
    language: Annotated[str, doc("Its language code (en, fr, en_US): send with this exact code.")]
    status: Annotated[
        str,
        doc(
            "Meta's state: APPROVED (only these can be sent), PENDING, REJECTED, PAUSED, "
            "DISABLED, IN_APPEAL, ...; DELETED once gone from Meta; UNKNOWN when only a "
            "quality or category notification named it."
        ),
    ]
    category: Annotated[
        str | None, doc("MARKETING, UTILITY or AUTHENTICATION; null when not known yet.")
    ]
    quality: Annotated[
        str | None, doc("Meta's quality rating: GREEN, YELLOW, RED or UNKNOWN; null if none.")
    ]
    components: Annotated[
        list[dict[str, Any]] | None,
        doc(
            "The template's header, body, footer and buttons exactly as Meta returns them; "
            "null for a template known only from notifications (run `wazybot templates sync`)."
        ),
    ]
    meta_id: Annotated[str | None, doc("Meta's id of the template in this language.")]
    updated_at: Annotated[
        datetime, doc("When the stored state was last true: the sync's or notification's time.")
    ]


class TemplatePage(View, frozen=True):
    """A page of templates."""

    items: Annotated[list[TemplateView], doc("The templates of this page, by name then language.")]
    next_cursor: Annotated[
        str | None, doc("Pass it back as cursor for the next page; null on the last page.")
    ]


def _query(name: str, description: str) -> Any:
    return QueryParameter(name=name, description=description)


STATUS: Final = _query("status", "Only templates in this status (APPROVED, PENDING, ...).")
LANGUAGE: Final = _query("language", "Only templates in this language code (e.g. en_US).")
LIMIT: Final = _query(
    "limit", f"Items per page: 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."
)
CURSOR: Final = _query("cursor", "The next_cursor of the previous page; omit it for the first.")

# The listing comes from the router's dependencies and is not a value to validate.
Templates = NamedDependency[SkipValidation[TemplateListing]]


def template_status(raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw.upper() not in STATUSES:
        raise QueryError("status", f"must be one of {', '.join(STATUSES)}")
    return raw.upper()


def template_language(raw: str | None) -> str | None:
    if raw is not None and not _LANGUAGE.match(raw):
        raise QueryError("language", "must be a language code such as en, fr or en_US")
    return raw


@get("/templates", responses=error_responses(400, 401, 503))
async def list_templates(
    business_id: BusinessId,
    template_listing: Templates,
    status: Annotated[str | None, STATUS] = None,
    language: Annotated[str | None, LANGUAGE] = None,
    limit: Annotated[str | None, LIMIT] = None,
    cursor: Annotated[str | None, CURSOR] = None,
) -> TemplatePage:
    """The business's message templates by name then language; filter by status or language."""
    items, next_cursor = await template_listing.page(
        business_id, status=template_status(status), language=template_language(language),
        limit=page_size(limit), cursor=cursor,
    )  # fmt: skip
    return TemplatePage(items=[_view(t) for t in items], next_cursor=next_cursor)


def _view(template: StoredTemplate) -> TemplateView:
    return TemplateView(
        name=template.name,
        language=template.language,
        status=template.status,
        category=template.category,
        quality=template.quality,
        components=template.components,
        meta_id=template.template_id,
        updated_at=template.updated_at,
    )
