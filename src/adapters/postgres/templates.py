"""The templates read model on PostgreSQL: its rows and queries (its projection is
``adapters.postgres.read_models.TemplatesProjection``)."""

from __future__ import annotations

import json
from typing import Any, Final

import asyncpg

from application.read_models import cursor_number, decode_cursor, encode_cursor
from application.templates import StoredTemplate


def template_cells(template: StoredTemplate) -> tuple[Any, ...]:
    components = json.dumps(template.components) if template.components is not None else None
    return (template.business_id, template.name, template.language, template.status,
            template.category, template.quality, components, template.template_id,
            template.updated_at, template.last_event_id)  # fmt: skip


def stored_template(row: asyncpg.Record) -> StoredTemplate:
    components = row["components"]
    return StoredTemplate(
        business_id=row["business_id"],
        name=row["name"],
        language=row["language"],
        status=row["status"],
        category=row["category"],
        quality=row["quality"],
        components=json.loads(components) if components is not None else None,
        template_id=row["template_id"],
        updated_at=row["updated_at"],
        last_event_id=row["last_event_id"],
    )


_PAGE_SQL: Final = """
select * from templates
where business_id = $1
  and ($2::text is null or status = $2)
  and ($3::text is null or language = $3)
  and ($4::text is null or (name, language) > ($4, $5))
order by name, language
limit $6
"""


class PostgresTemplateBook:
    """The stored templates of one business at a time (``TemplateBook``), and their pages."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def template(self, business_id: str, name: str, language: str) -> StoredTemplate | None:
        row = await self._pool.fetchrow(
            "select * from templates where business_id = $1 and name = $2 and language = $3",
            business_id, name, language,
        )  # fmt: skip
        return stored_template(row) if row is not None else None

    async def templates_named(self, business_id: str, name: str) -> list[StoredTemplate]:
        rows = await self._pool.fetch(
            "select * from templates where business_id = $1 and name = $2 order by language",
            business_id, name,
        )  # fmt: skip
        return [stored_template(r) for r in rows]

    async def all_templates(self, business_id: str) -> list[StoredTemplate]:
        rows = await self._pool.fetch(
            "select * from templates where business_id = $1 order by name, language", business_id
        )
        return [stored_template(r) for r in rows]

    async def page(
        self,
        business_id: str,
        *,
        status: str | None = None,
        language: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[StoredTemplate], str | None]:
        """Templates by name then language, after ``cursor``; and the next page's cursor."""
        after_name = after_language = None
        if cursor is not None:
            name, language_, version = decode_cursor(cursor, (str, str, int))
            cursor_number(version, 1, 1)
            after_name, after_language = str(name), str(language_)
        rows = await self._pool.fetch(_PAGE_SQL, business_id, status, language, after_name,
                                      after_language, limit + 1)  # fmt: skip
        items = [stored_template(r) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(items[-1].name, items[-1].language, 1) if more else None
        return items, next_cursor
