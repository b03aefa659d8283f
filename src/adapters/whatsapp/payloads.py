"""Outbound messages in the JSON the Cloud API's ``/{phone_number_id}/messages`` expects."""

from __future__ import annotations

from typing import Any

from domain.outbound import (
    ContactRequestMessage,
    ListMessage,
    ListSection,
    MediaMessage,
    OutboundMessage,
    ReactionMessage,
    Recipient,
    ReplyButtonsMessage,
    TemplateButton,
    TemplateHeader,
    TemplateMediaHeader,
    TemplateMessage,
    TemplateTextHeader,
    TextMessage,
)

Json = dict[str, Any]


def message_payload(recipient: Recipient, message: OutboundMessage) -> Json:
    """The request body that sends ``message`` to ``recipient``."""
    payload: Json = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if recipient.phone_number:
        payload["to"] = recipient.phone_number
    else:
        # Known by business-scoped user id only: `recipient` replaces `to`.
        payload["recipient"] = recipient.user_id
    if message.reply_to:
        payload["context"] = {"message_id": message.reply_to}
    payload.update(_content(message))
    return payload


def read_payload(wamid: str, typing_indicator: bool = True) -> Json:
    payload: Json = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    if typing_indicator:
        payload["typing_indicator"] = {"type": "text"}
    return payload


def _content(message: OutboundMessage) -> Json:
    match message:
        case TextMessage():
            return {
                "type": "text",
                "text": {"preview_url": message.preview_url, "body": message.body},
            }
        case MediaMessage():
            return {"type": message.media_type, message.media_type: _media(message)}
        case ReplyButtonsMessage():
            return _interactive(_buttons(message))
        case ListMessage():
            return _interactive(_list(message))
        case TemplateMessage():
            return {"type": "template", "template": _template(message)}
        case ReactionMessage():
            return {
                "type": "reaction",
                "reaction": {"message_id": message.message_id, "emoji": message.emoji},
            }
        case ContactRequestMessage():
            return _interactive(
                {
                    "type": "request_contact_info",
                    "body": {"text": message.body},
                    "action": {"name": "request_contact_info"},
                }
            )


def _source(media_id: str | None, link: str | None) -> Json:
    return {"id": media_id} if media_id else {"link": link}


def _media(message: MediaMessage) -> Json:
    media = _source(message.media_id, message.link)
    if message.caption is not None:
        media["caption"] = message.caption
    if message.filename is not None:
        media["filename"] = message.filename
    return media


def _interactive(interactive: Json) -> Json:
    return {"type": "interactive", "interactive": interactive}


def _frame(kind: str, body: str, header: str | None, footer: str | None, action: Json) -> Json:
    interactive: Json = {"type": kind}
    if header is not None:
        interactive["header"] = {"type": "text", "text": header}
    interactive["body"] = {"text": body}
    if footer is not None:
        interactive["footer"] = {"text": footer}
    interactive["action"] = action
    return interactive


def _buttons(message: ReplyButtonsMessage) -> Json:
    buttons = [
        {"type": "reply", "reply": {"id": button.id, "title": button.title}}
        for button in message.buttons
    ]
    interactive = _frame("button", message.body, message.header, message.footer,
                         {"buttons": buttons})  # fmt: skip
    if message.header_image is not None:
        interactive["header"] = {"type": "image", "image": {"link": message.header_image}}
    return interactive


def _list(message: ListMessage) -> Json:
    action = {"button": message.button, "sections": [_section(s) for s in message.sections]}
    return _frame("list", message.body, message.header, message.footer, action)


def _section(section: ListSection) -> Json:
    rows = []
    for row in section.rows:
        item = {"id": row.id, "title": row.title}
        if row.description is not None:
            item["description"] = row.description
        rows.append(item)
    return {"title": section.title, "rows": rows} if section.title is not None else {"rows": rows}


def _template(message: TemplateMessage) -> Json:
    components: list[Json] = []
    if message.header is not None:
        components.append({"type": "header", "parameters": [_header_parameter(message.header)]})
    if message.body_parameters:
        parameters = [{"type": "text", "text": text} for text in message.body_parameters]
        components.append({"type": "body", "parameters": parameters})
    components.extend(_template_button(button) for button in message.buttons)
    template: Json = {"name": message.name, "language": {"code": message.language}}
    if components:
        template["components"] = components
    return template


def _header_parameter(header: TemplateHeader) -> Json:
    match header:
        case TemplateTextHeader():
            return {"type": "text", "text": header.text}
        case TemplateMediaHeader():
            return {
                "type": header.media_type,
                header.media_type: _source(header.media_id, header.link),
            }


def _template_button(button: TemplateButton) -> Json:
    match button.sub_type:
        case "url":
            parameter = {"type": "text", "text": button.parameter}
        case "quick_reply":
            parameter = {"type": "payload", "payload": button.parameter}
        case "copy_code":
            parameter = {"type": "coupon_code", "coupon_code": button.parameter}
    return {
        "type": "button",
        "sub_type": button.sub_type,
        "index": str(button.index),
        "parameters": [parameter],
    }
