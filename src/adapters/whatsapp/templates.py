"""Message template management over the Graph API: ``/{waba_id}/message_templates``.

Shares the process's pooled httpx client with the messages gateway. Failures become
``GatewayError`` classified by Meta's error code, exactly as sends are; the access
token travels only in the ``Authorization`` header.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import httpx
import msgspec

from adapters.whatsapp.graph import answered_error, unanswered_error
from application.gateway import GatewayError
from application.templates import CreatedTemplate, MetaTemplate, TemplateListPage, WabaAccess
from domain.template_definitions import NewTemplate
from domain.whatsapp_errors import Classification, ErrorClass

T = TypeVar("T")
UNREADABLE: Final = Classification(
    error_class=ErrorClass.TRANSIENT, reason="Meta's answer could not be read"
)
LIST_FIELDS: Final = "id,name,language,status,category,components,quality_score"


class _Quality(msgspec.Struct):
    score: str | None = None


class _Template(msgspec.Struct):
    id: str
    name: str
    language: str
    status: str
    category: str = ""
    components: list[dict[str, Any]] = msgspec.field(default_factory=list)
    quality_score: _Quality | None = None


class _Cursors(msgspec.Struct):
    after: str | None = None


class _Paging(msgspec.Struct):
    cursors: _Cursors | None = None
    next: str | None = None


class _ListAnswer(msgspec.Struct):
    data: list[_Template]
    paging: _Paging | None = None


class _CreateAnswer(msgspec.Struct):
    id: str
    status: str = "PENDING"
    category: str = ""


class _DeleteAnswer(msgspec.Struct):
    success: bool = False


class GraphTemplateGateway:
    def __init__(self, client: httpx.AsyncClient, graph_url: str, api_version: str) -> None:
        self._client = client
        self._base = f"{graph_url.rstrip('/')}/{api_version.strip('/')}"

    async def list_page(
        self, waba: WabaAccess, after: str | None = None, limit: int = 100
    ) -> TemplateListPage:
        params: dict[str, str | int] = {"fields": LIST_FIELDS, "limit": limit}
        if after is not None:
            params["after"] = after
        response = await self._call(waba, "GET", params=params)
        answer = _decode(response, _ListAnswer)
        paging = answer.paging
        # Meta names a next page only when there is one; the cursor alone is also given
        # on the last page.
        more = paging is not None and paging.next and paging.cursors and paging.cursors.after
        return TemplateListPage(
            [_template(t) for t in answer.data],
            paging.cursors.after if more and paging and paging.cursors else None,
        )

    async def create(self, waba: WabaAccess, template: NewTemplate) -> CreatedTemplate:
        body = msgspec.json.encode(template.as_json())
        response = await self._call(waba, "POST", content=body)
        answer = _decode(response, _CreateAnswer)
        return CreatedTemplate(answer.id, answer.status, answer.category or template.category)

    async def delete(self, waba: WabaAccess, name: str) -> None:
        response = await self._call(waba, "DELETE", params={"name": name})
        if not _decode(response, _DeleteAnswer).success:
            raise GatewayError(UNREADABLE, http_status=response.status_code,
                               details="Meta did not confirm the deletion")  # fmt: skip

    async def _call(self, waba: WabaAccess, method: str, **request: Any) -> httpx.Response:
        url = f"{self._base}/{waba.account_id}/message_templates"
        headers = {"Authorization": f"Bearer {waba.access_token.value}"}
        if method == "POST":
            headers["Content-Type"] = "application/json"
        try:
            response = await self._client.request(method, url, headers=headers, **request)
        except httpx.TransportError as error:
            raise unanswered_error(error, "whatsapp.templates_unanswered",
                                   account_id=waba.account_id, method=method) from None  # fmt: skip
        if not response.is_success:
            raise answered_error(response, waba.access_token.value, "whatsapp.templates_refused",
                                 account_id=waba.account_id, method=method)  # fmt: skip
        return response


def _decode(response: httpx.Response, shape: type[T]) -> T:
    try:
        return msgspec.json.decode(response.content, type=shape)
    except msgspec.DecodeError:
        raise GatewayError(UNREADABLE, http_status=response.status_code) from None


def _template(template: _Template) -> MetaTemplate:
    quality = template.quality_score.score if template.quality_score else None
    return MetaTemplate(
        id=template.id,
        name=template.name,
        language=template.language,
        status=template.status.upper(),
        category=template.category.upper(),
        components=template.components,
        quality=quality.upper() if quality else None,
    )
