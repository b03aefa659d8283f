"""The connection checks over the Graph API, on the process's one pooled httpx client.

Two reads: the phone number object (``GET /{phone_number_id}``, which also proves the token)
and the account's ``subscribed_apps`` edge. Meta's error codes become a ``ProbeOutcome``;
the access token travels only in the ``Authorization`` header and is cut out of any text
Meta sends back.
"""

from __future__ import annotations

from typing import Final

import httpx
import msgspec
import structlog

from adapters.whatsapp.graph import _ERROR_ANSWER, _GraphError, _title_of
from application.connection_status import PhoneNumberInfo, ProbeOutcome, ProbeResult

log = structlog.get_logger(__name__)

PHONE_FIELDS: Final = "display_phone_number,verified_name,quality_rating"
# Meta's codes: 190 an invalid or expired token; 100 (with subcode 33) and 803 an object
# that does not exist or that this token may not see; 10 and 200-299 a missing permission.
TOKEN_CODES: Final = frozenset({190})
NOT_FOUND_CODES: Final = frozenset({100, 803, 33})
PERMISSION_CODES: Final = frozenset({10, *range(200, 300)})
CHECK_TIMEOUT: Final = 10.0  # seconds: a status page waits less than a send


class _PhoneNumber(msgspec.Struct):
    id: str | None = None
    display_phone_number: str | None = None
    verified_name: str | None = None
    quality_rating: str | None = None


class _SubscribedApps(msgspec.Struct):
    data: list[msgspec.Raw] = msgspec.field(default_factory=list)


_PHONE_NUMBER: Final = msgspec.json.Decoder(_PhoneNumber)
_SUBSCRIBED_APPS: Final = msgspec.json.Decoder(_SubscribedApps)


class GraphConnectionProbe:
    def __init__(
        self,
        client: httpx.AsyncClient,
        graph_url: str,
        api_version: str,
        *,
        timeout: float = CHECK_TIMEOUT,
    ) -> None:
        self._client = client
        self._base = f"{graph_url.rstrip('/')}/{api_version.strip('/')}"
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))

    async def phone_number(self, phone_number_id: str, access_token: str) -> ProbeResult:
        response = await self._get(
            f"/{phone_number_id}", access_token, {"fields": PHONE_FIELDS}, "phone_number"
        )
        if isinstance(response, ProbeResult):
            return response
        try:
            number = _PHONE_NUMBER.decode(response.content)
        except msgspec.DecodeError:
            return _unreadable(response, "phone_number")
        info = PhoneNumberInfo(number.display_phone_number, number.verified_name,
                               number.quality_rating)  # fmt: skip
        return ProbeResult(ProbeOutcome.OK, phone=info)

    async def subscribed_apps(self, account_id: str, access_token: str) -> ProbeResult:
        response = await self._get(
            f"/{account_id}/subscribed_apps", access_token, None, "subscribed_apps"
        )
        if isinstance(response, ProbeResult):
            return response
        try:
            apps = _SUBSCRIBED_APPS.decode(response.content)
        except msgspec.DecodeError:
            return _unreadable(response, "subscribed_apps")
        return ProbeResult(ProbeOutcome.OK, subscribed_apps=len(apps.data))

    async def _get(
        self, path: str, token: str, params: dict[str, str] | None, check: str
    ) -> httpx.Response | ProbeResult:
        """The 2xx answer, or what went wrong as a ProbeResult."""
        try:
            response = await self._client.get(
                self._base + path,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
        except httpx.TransportError as error:
            log.warning("whatsapp.connection_unanswered", check=check,
                        error=type(error).__name__)  # fmt: skip
            return ProbeResult(ProbeOutcome.UNREACHABLE)
        if response.is_success:
            return response
        return _refused(response, token, check)


def _refused(response: httpx.Response, token: str, check: str) -> ProbeResult:
    try:
        graph = _ERROR_ANSWER.decode(response.content).error
    except msgspec.DecodeError:
        graph = _GraphError()
    message = graph.message.replace(token, "***") if graph.message and token else graph.message
    outcome = _outcome_of(graph.code, response.status_code)
    log.warning("whatsapp.connection_refused", check=check, code=graph.code,
                http_status=response.status_code, outcome=outcome.value,
                meta_message=message, fbtrace_id=graph.fbtrace_id)  # fmt: skip
    return ProbeResult(outcome, code=graph.code, message=_title_of(message))


def _outcome_of(code: int | None, http_status: int) -> ProbeOutcome:
    if code in TOKEN_CODES or http_status == 401:
        return ProbeOutcome.TOKEN_INVALID
    if code in NOT_FOUND_CODES or (code is None and http_status == 404):
        return ProbeOutcome.NOT_FOUND
    if code in PERMISSION_CODES or (code is None and http_status == 403):
        return ProbeOutcome.PERMISSION_MISSING
    return ProbeOutcome.OTHER_ERROR


def _unreadable(response: httpx.Response, check: str) -> ProbeResult:
    log.warning("whatsapp.connection_unreadable", check=check, http_status=response.status_code)
    return ProbeResult(ProbeOutcome.OTHER_ERROR,
                       message=f"an answer that is not the expected JSON (HTTP "
                       f"{response.status_code})")  # fmt: skip
