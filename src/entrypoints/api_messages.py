"""Sending through the API: queue a message for a conversation, list and retry the outbox."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter, SkipValidation

from application.read_models import (
    OutboxPage,
    ReadModelQueries,
    View,
    doc,
    outbox_statuses,
    page_size,
)
from application.sending import (
    MessageSending,
    OutboxRetries,
    Refusal,
    RetryOutcome,
    SendCommand,
    SendRefusedError,
)
from application.templates import TemplateError
from domain.outbound import (
    ListMessage,
    ListRow,
    ListSection,
    MediaMessage,
    MediaType,
    OutboundMessage,
    ReplyButton,
    ReplyButtonsMessage,
    TemplateButton,
    TemplateButtonType,
    TemplateHeader,
    TemplateMediaHeader,
    TemplateMessage,
    TemplateTextHeader,
    TextMessage,
)
from domain.outbox import parse_message_id
from entrypoints.api_params import BusinessId
from entrypoints.errors import ApiError, request_id_of
from entrypoints.idempotency import checked_key, key_header, request_fingerprint
from entrypoints.openapi import error_responses

# Services come from the router's dependencies and are not values to validate.
Sending = NamedDependency[SkipValidation[MessageSending]]
Retries = NamedDependency[SkipValidation[OutboxRetries]]
Queries = NamedDependency[SkipValidation[ReadModelQueries]]


class _Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class MediaSource(_Body, frozen=True):
    """A file by the id an upload returned or by a public HTTPS link (exactly one)."""

    link: Annotated[str | None, doc("A public http(s) URL of the file.")] = None
    id: Annotated[str | None, doc("A media id from POST /api/v1/media.")] = None


class TemplateHeaderRequest(_Body, frozen=True):
    """Exactly one of text, image, video or document."""

    text: Annotated[str | None, doc("The value of the header's text parameter.")] = None
    image: Annotated[MediaSource | None, doc("An image header.")] = None
    video: Annotated[MediaSource | None, doc("A video header.")] = None
    document: Annotated[MediaSource | None, doc("A document header.")] = None


class TemplateButtonRequest(_Body, frozen=True):
    index: Annotated[int, doc("The button's position in the template, from 0.")]
    sub_type: Annotated[TemplateButtonType, doc("url, quick_reply or copy_code.")]
    parameter: Annotated[
        str,
        doc("url: the suffix of the dynamic URL; quick_reply: its payload; copy_code: the code."),
    ]


class TemplateRequest(_Body, frozen=True):
    name: Annotated[str, doc("The approved template's name.")]
    language: Annotated[str, doc("The template's language code, e.g. fr or en_US.")]
    body_parameters: Annotated[list[str], doc("Values of the body's {{n}} parameters.")] = []
    header: Annotated[TemplateHeaderRequest | None, doc("The header's parameter, if any.")] = None
    buttons: Annotated[list[TemplateButtonRequest], doc("Parameters of dynamic buttons.")] = []


class ButtonRequest(_Body, frozen=True):
    id: Annotated[str, doc("What the customer's tap sends back (at most 256 characters).")]
    title: Annotated[str, doc("The button's label (at most 20 characters).")]


class ButtonsRequest(_Body, frozen=True):
    body: Annotated[str, doc("The message text (at most 1024 characters).")]
    buttons: Annotated[list[ButtonRequest], doc("One to three reply buttons.")]
    header: Annotated[str | None, doc("A text header (at most 60 characters).")] = None
    footer: Annotated[str | None, doc("A footer (at most 60 characters).")] = None


class ListRowRequest(_Body, frozen=True):
    id: Annotated[str, doc("What the customer's choice sends back (at most 200 characters).")]
    title: Annotated[str, doc("The row's title (at most 24 characters).")]
    description: Annotated[str | None, doc("A description (at most 72 characters).")] = None


class ListSectionRequest(_Body, frozen=True):
    rows: Annotated[list[ListRowRequest], doc("The section's rows (at most 10 in all).")]
    title: Annotated[str | None, doc("Required when the list has several sections.")] = None


class ListRequest(_Body, frozen=True):
    body: Annotated[str, doc("The message text (at most 1024 characters).")]
    button: Annotated[str, doc("The label of the button that opens the list (at most 20).")]
    sections: Annotated[list[ListSectionRequest], doc("One to ten sections.")]
    header: Annotated[str | None, doc("A text header (at most 60 characters).")] = None
    footer: Annotated[str | None, doc("A footer (at most 60 characters).")] = None


class MediaRequest(_Body, frozen=True):
    kind: Annotated[MediaType, doc("image, document, audio, video or sticker.")]
    link: Annotated[str | None, doc("A public http(s) URL of the file (or give id).")] = None
    id: Annotated[str | None, doc("A media id from POST /api/v1/media (or give link).")] = None
    caption: Annotated[str | None, doc("A caption (image, document and video only).")] = None
    filename: Annotated[str | None, doc("The file name shown (documents only).")] = None


class SendMessageRequest(_Body, frozen=True):
    """Exactly one of text, template, buttons, list or media."""

    text: Annotated[str | None, doc("A text message (at most 4096 characters).")] = None
    preview_url: Annotated[
        bool | None, doc("With text: show a preview of the first URL (default false).")
    ] = None
    template: Annotated[TemplateRequest | None, doc("An approved template.")] = None
    buttons: Annotated[ButtonsRequest | None, doc("A message with reply buttons.")] = None
    list: Annotated[ListRequest | None, doc("A message with a list of choices.")] = None
    media: Annotated[MediaRequest | None, doc("An image, document, audio, video or sticker.")] = (
        None
    )
    reply_to: Annotated[
        str | None, doc("The id of a message of this conversation (from its timeline) to quote.")
    ] = None


class MessageQueued(View, frozen=True):
    """The message is queued: the outbox sends it, its timeline row shows how it goes."""

    message_id: Annotated[
        str, doc("The message's id: its timeline row's id, and its id in /api/v1/outbox.")
    ]
    status: Annotated[Literal["queued"], doc("Always queued: sending happens afterwards.")]


_KINDS: Final = ("text", "template", "buttons", "list", "media")


def outbound_message(request: SendMessageRequest) -> OutboundMessage:
    """The domain message a request asks for; ApiError when it asks for none or several."""
    given = [kind for kind in _KINDS if getattr(request, kind) is not None]
    if len(given) != 1:
        found = ", ".join(given) if given else "none"
        raise ApiError("bad_payload", f"Give exactly one of {', '.join(_KINDS)} (found {found}).")
    if request.preview_url is not None and request.text is None:
        raise ApiError("bad_payload", "preview_url goes with text only.", parameter="preview_url")
    reply_to = request.reply_to
    if request.text is not None:
        return TextMessage(body=request.text, preview_url=bool(request.preview_url),
                           reply_to=reply_to)  # fmt: skip
    if request.template is not None:
        return template_message(request.template, reply_to)
    if request.buttons is not None:
        return _buttons(request.buttons, reply_to)
    if request.list is not None:
        return _list(request.list, reply_to)
    assert request.media is not None
    media = request.media
    return MediaMessage(media_type=media.kind, media_id=media.id, link=media.link,
                        caption=media.caption, filename=media.filename,
                        reply_to=reply_to)  # fmt: skip


def template_message(request: TemplateRequest, reply_to: str | None) -> TemplateMessage:
    """A template request as the caller gave it."""
    return TemplateMessage(
        name=request.name, language=request.language,
        body_parameters=tuple(request.body_parameters), header=_template_header(request.header),
        buttons=tuple(TemplateButton(index=b.index, sub_type=b.sub_type, parameter=b.parameter)
                      for b in request.buttons),
        reply_to=reply_to,
    )  # fmt: skip


def _template_header(header: TemplateHeaderRequest | None) -> TemplateHeader | None:
    if header is None:
        return None
    given: list[TemplateHeader] = []
    if header.text is not None:
        given.append(TemplateTextHeader(text=header.text))
    for kind in ("image", "video", "document"):
        source: MediaSource | None = getattr(header, kind)
        if source is not None:
            given.append(TemplateMediaHeader(media_type=kind, media_id=source.id,
                                             link=source.link))  # fmt: skip
    if len(given) != 1:
        raise ApiError("bad_payload", "template.header takes exactly one of text, image, video "
                       "or document.", parameter="template.header")  # fmt: skip
    return given[0]


def _buttons(request: ButtonsRequest, reply_to: str | None) -> ReplyButtonsMessage:
    return ReplyButtonsMessage(
        body=request.body, header=request.header, footer=request.footer, reply_to=reply_to,
        buttons=tuple(ReplyButton(id=b.id, title=b.title) for b in request.buttons),
    )  # fmt: skip


def _list(request: ListRequest, reply_to: str | None) -> ListMessage:
    sections = tuple(
        ListSection(title=section.title, rows=tuple(
            ListRow(id=row.id, title=row.title, description=row.description)
            for row in section.rows))
        for section in request.sections
    )  # fmt: skip
    return ListMessage(body=request.body, button=request.button, sections=sections,
                       header=request.header, footer=request.footer,
                       reply_to=reply_to)  # fmt: skip


def request_field(message: OutboundMessage, field: str) -> str:
    """A domain field name (``buttons[1].title``) as the request spells it."""
    if field == "reply_to":
        return field
    match message:
        case TextMessage():
            return "text" if field == "body" else field
        case MediaMessage():
            return "media." + ("id" if field == "media_id" else field)
        case ReplyButtonsMessage():
            return "buttons." + field
        case ListMessage():
            return "list." + field
        case TemplateMessage(header=TemplateMediaHeader(media_type=kind)) if field.startswith(
            "header."
        ):
            return f"template.header.{kind}." + ("id" if field == "header.media_id" else "link")
        case TemplateMessage():
            return "template." + field
    return field


def fingerprint(conversation_id: str, data: SendMessageRequest) -> str:
    return request_fingerprint(conversation_id.encode(), msgspec.json.encode(data))


_REFUSALS: Final = {
    Refusal.NOT_FOUND: "not_found",
    Refusal.WINDOW_CLOSED: "service_window_closed",
    Refusal.INVALID: "invalid_parameter",
    Refusal.KEY_REUSED: "idempotency_key_reused",
    Refusal.NOT_SENDABLE: "unprocessable",
}


def refusal_error(refused: SendRefusedError, message: OutboundMessage | None) -> ApiError:
    parameter = refused.field
    if parameter is not None and message is not None and refused.refusal is Refusal.INVALID:
        parameter = request_field(message, parameter)
    text = refused.message
    field = refused.field or ""
    if refused.refusal is Refusal.INVALID and parameter and text.lower().startswith(field.lower()):
        # The domain names its own field ("Buttons[1].title is ..."): name the request's.
        text = f"The field {parameter}{text[len(field) :]}"
    return ApiError(_REFUSALS[refused.refusal], text, parameter=parameter)


KEY_HEADER: Final[Any] = key_header("queues nothing new")


@post(
    "/conversations/{conversation_id:str}/messages",
    status_code=202,
    responses=error_responses(400, 401, 404, 409, 422, 503),
)
async def send_message(
    conversation_id: FromPath[str],
    business_id: BusinessId,
    sending: Sending,
    data: JSONBody[SendMessageRequest],
    request: Request[Any, Any, Any],
    idempotency: Annotated[str | None, KEY_HEADER] = None,
) -> MessageQueued:
    """Queue a message for the conversation; the timeline shows it from now on."""
    service = sending
    message = outbound_message(data)
    command = SendCommand(
        business_id=business_id, conversation_id=conversation_id, message=message,
        requested_by="agent", cause="api:" + request_id_of(request),
        idempotency_key=checked_key(idempotency),
        request_fingerprint=fingerprint(conversation_id, data),
    )  # fmt: skip
    try:
        answer = await service.send(command)
    except SendRefusedError as refused:
        raise refusal_error(refused, message) from None
    except TemplateError as refused:
        raise ApiError(refused.code, refused.message, parameter=refused.field) from None
    return MessageQueued(message_id=answer.message_id, status="queued")


STATUS: Final[Any] = QueryParameter(
    name="status",
    description="queued (waiting or being sent), retrying or failed; default: all of them.",
)
LIMIT: Final[Any] = QueryParameter(
    name="limit", description="Items per page: 1 to 200 (default 50)."
)
CURSOR: Final[Any] = QueryParameter(
    name="cursor", description="The next_cursor of the previous page."
)


@get("/outbox", responses=error_responses(400, 401, 503))
async def list_outbox(
    business_id: BusinessId,
    read_models: Queries,
    status: Annotated[str | None, STATUS] = None,
    limit: Annotated[str | None, LIMIT] = None,
    cursor: Annotated[str | None, CURSOR] = None,
) -> OutboxPage:
    """Messages waiting to be sent, being retried, or failed; newest queued first."""
    return await read_models.outbox(business_id, outbox_statuses(status), page_size(limit), cursor)


@post(
    "/outbox/{message_id:str}/retry",
    status_code=202,
    responses=error_responses(400, 401, 404, 409, 503),
)
async def retry_message(
    message_id: FromPath[str],
    business_id: BusinessId,
    retries: Retries,
    request: Request[Any, Any, Any],
) -> MessageQueued:
    """Send a failed message (a dead letter or a permanent failure) again."""
    outcome = await retries.request_retry(
        business_id, message_id, "agent", "api:" + request_id_of(request)
    )
    if outcome is RetryOutcome.NOT_FOUND:
        raise ApiError("not_found", "This business has no queued message with that id.")
    if outcome is RetryOutcome.NOT_FAILED:
        raise ApiError("conflict", "Only a failed message can be retried; this one is not.")
    return MessageQueued(message_id=parse_message_id(message_id), status="queued")


MESSAGE_HANDLERS: Final = (send_message, list_outbox, retry_message)
