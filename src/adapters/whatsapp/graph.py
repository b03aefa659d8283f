"""The WhatsApp gateway over the Graph API (Cloud API), with one pooled httpx client.

Every failure becomes a ``GatewayError`` classified by Meta's error code
(``domain.whatsapp_errors``). A request that may have reached Meta without an answer
coming back (read timeout, connection dropped after sending) is flagged ambiguous.
Access tokens only ever travel in the ``Authorization`` header: no log line or
exception text carries one.
"""

from __future__ import annotations

import re
from typing import Any, Final

import httpx
import msgspec
import structlog

from adapters.whatsapp.payloads import message_payload, read_payload
from application.gateway import GatewayError, SendAccepted, Sender
from domain.outbound import OutboundMessage, Recipient
from domain.whatsapp_errors import Transport, classify

log = structlog.get_logger(__name__)

DEFAULT_CONNECT_TIMEOUT: Final = 5.0
DEFAULT_READ_TIMEOUT: Final = 30.0
_WRITE_TIMEOUT: Final = 10.0
_POOL_TIMEOUT: Final = 10.0
_CODE_PREFIX: Final = re.compile(r"^\(#\d+\)\s*")


def create_graph_client(
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    """The process's one client for the Graph API (close it on shutdown)."""
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=_WRITE_TIMEOUT, pool=_POOL_TIMEOUT
    )
    # Every connection stays open for the next send: at a high send rate, connections closed
    # after each use would be opened again at once.
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)


class _SentMessageId(msgspec.Struct):
    id: str


class _Contact(msgspec.Struct):
    wa_id: str | None = None


class _SendAnswer(msgspec.Struct):
    messages: list[_SentMessageId]
    contacts: list[_Contact] = msgspec.field(default_factory=list)


class _ErrorData(msgspec.Struct):
    details: str | None = None


class _GraphError(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    code: int | None = None
    error_data: _ErrorData | None = None
    error_user_title: str | None = None
    fbtrace_id: str | None = None


class _ErrorAnswer(msgspec.Struct):
    error: _GraphError


_SEND_ANSWER: Final = msgspec.json.Decoder(_SendAnswer)
_ERROR_ANSWER: Final = msgspec.json.Decoder(_ErrorAnswer)


class GraphWhatsAppGateway:
    def __init__(self, client: httpx.AsyncClient, graph_url: str, api_version: str) -> None:
        self._client = client
        self._base = f"{graph_url.rstrip('/')}/{api_version.strip('/')}"

    async def send(
        self, sender: Sender, recipient: Recipient, message: OutboundMessage
    ) -> SendAccepted:
        response = await self._post(sender, message_payload(recipient, message))
        try:
            answer = _SEND_ANSWER.decode(response.content)
            wamid = answer.messages[0].id
        except (msgspec.DecodeError, IndexError):
            classification = classify(None, response.status_code, Transport.UNREADABLE_ANSWER)
            raise GatewayError(classification, http_status=response.status_code) from None
        wa_id = answer.contacts[0].wa_id if answer.contacts else None
        return SendAccepted(wamid=wamid, wa_id=wa_id)

    async def mark_read(self, sender: Sender, wamid: str, typing_indicator: bool = True) -> None:
        await self._post(sender, read_payload(wamid, typing_indicator))

    async def _post(self, sender: Sender, payload: dict[str, Any]) -> httpx.Response:
        """POST to the number's messages endpoint; a 2xx response, or GatewayError."""
        url = f"{self._base}/{sender.phone_number_id}/messages"
        headers = {
            "Authorization": f"Bearer {sender.access_token.value}",
            "Content-Type": "application/json",
        }
        try:
            response = await self._client.post(
                url, content=msgspec.json.encode(payload), headers=headers
            )
        except httpx.TransportError as error:
            raise self._transport_error(sender, error) from None
        if not response.is_success:
            raise self._answered_error(sender, response)
        return response

    @staticmethod
    def _transport_error(sender: Sender, error: httpx.TransportError) -> GatewayError:
        return unanswered_error(error, "whatsapp.send_unanswered",
                                phone_number_id=sender.phone_number_id)  # fmt: skip

    @staticmethod
    def _answered_error(sender: Sender, response: httpx.Response) -> GatewayError:
        return answered_error(response, sender.access_token.value, "whatsapp.send_refused",
                              phone_number_id=sender.phone_number_id)  # fmt: skip


def unanswered_error(error: httpx.TransportError, event: str, **context: Any) -> GatewayError:
    """A Graph call that got no answer, classified (ambiguous when it may have arrived)."""
    transport = _transport_of(error)
    gateway_error = GatewayError(classify(None, None, transport), details=type(error).__name__)
    log.warning(event, **context, transport=transport.value, error=type(error).__name__,
                ambiguous=gateway_error.ambiguous)  # fmt: skip
    return gateway_error


def answered_error(
    response: httpx.Response, token: str, event: str, **context: Any
) -> GatewayError:
    """A Graph error answer, classified by its code; the token never appears in its texts."""
    try:
        graph = _ERROR_ANSWER.decode(response.content).error
    except msgspec.DecodeError:
        graph = _GraphError()

    def clean(text: str | None) -> str | None:
        return text.replace(token, "***") if text and token else text

    message = clean(graph.message)
    classification = classify(graph.code, response.status_code, meta_message=message)
    error = GatewayError(
        classification,
        code=graph.code,
        title=clean(graph.error_user_title) or _title_of(message),
        meta_message=message,
        details=clean(graph.error_data.details if graph.error_data else None),
        fbtrace_id=graph.fbtrace_id,
        http_status=response.status_code,
    )
    # 100, 131008 and 131009 mean our own request was malformed: a bug, logged loudly.
    emit = log.error if classification.request_was_wrong else log.warning
    emit(event, **context, code=graph.code, http_status=response.status_code,
         error_class=classification.error_class.value, meta_message=message,
         details=error.details, fbtrace_id=graph.fbtrace_id)  # fmt: skip
    return error


def _transport_of(error: httpx.TransportError) -> Transport:
    """Could the request have reached Meta? Only then is the outcome ambiguous."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Transport.NOT_CONNECTED
    if isinstance(error, httpx.WriteError | httpx.WriteTimeout):
        return Transport.NOT_SENT
    if isinstance(error, httpx.UnsupportedProtocol | httpx.ProxyError):
        return Transport.NOT_CONNECTED
    # ReadTimeout, ReadError, RemoteProtocolError and anything unforeseen: the request
    # may have been read by Meta, so assume it was.
    return Transport.NO_ANSWER


def _title_of(message: str | None) -> str | None:
    """Meta's message without its ``(#131047)`` prefix: the error's short title."""
    return _CODE_PREFIX.sub("", message) if message else None
