"""Meta's webhook JSON -> routed updates holding domain values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.whatsapp_webhook import parse_webhook
from application.inbound_updates import AccountUpdate, NumberUpdate, WebhookFormatError
from domain.inbound import (
    AccountNotice,
    ChoiceContent,
    ContactsContent,
    DeliveryStatus,
    EditContent,
    FlowReplyContent,
    InboundMessage,
    LocationContent,
    MarketingPreference,
    MediaContent,
    OrderContent,
    QuickReplyContent,
    ReactionContent,
    RevokeContent,
    SystemContent,
    TemplateCategory,
    TemplateQuality,
    TemplateStatus,
    TextContent,
    UnrecognizedUpdate,
    UnsupportedContent,
    WebhookProblem,
)
from tests.support.webhooks import conformance_cases, encode, messages_change, text_message, webhook

NOW = datetime(2026, 11, 24, tzinfo=UTC)
CASES = dict(conformance_cases())

# What each conformance payload must become: the payload type and, for messages, the content.
EXPECTED: dict[str, list[type[Any]]] = {
    "callback_button/button": [ChoiceContent],
    "callback_button/quick_reply": [QuickReplyContent],
    "callback_button/quick_reply_without_context": [QuickReplyContent],
    "callback_selection/callback": [ChoiceContent],
    "callback_selection/description": [ChoiceContent],
    "deleted_message/revoke": [RevokeContent],
    "edited_message/image": [EditContent],
    "flow_completion/completion": [FlowReplyContent],
    "flow_completion/without_flow_token": [FlowReplyContent],
    "message/text": [TextContent],
    "message/image": [MediaContent],
    "message/media_with_url": [MediaContent],
    "message/video": [MediaContent],
    "message/document": [MediaContent],
    "message/audio": [MediaContent],
    "message/voice": [MediaContent],
    "message/static_sticker": [MediaContent],
    "message/animated_sticker": [MediaContent],
    "message/reaction": [ReactionContent],
    "message/unreaction_empty": [ReactionContent],
    "message/unreaction_no_emoji": [ReactionContent],
    "message/current_location": [LocationContent],
    "message/chosen_location": [LocationContent],
    "message/contacts": [ContactsContent],
    "message/order": [OrderContent],
    "message/unsupported": [UnsupportedContent],
    "message/unsupported_with_type": [UnsupportedContent],
    "message/reply": [TextContent],
    "message/forwarded": [TextContent],
    "message/forwarded_many_times": [TextContent],
    "message/interactive_message_with_err": [UnsupportedContent, WebhookProblem],
    "message/referral": [TextContent],
    "message_status/sent": [DeliveryStatus],
    "message_status/delivered": [DeliveryStatus],
    "message_status/read": [DeliveryStatus],
    "message_status/played": [DeliveryStatus],
    "message_status/failed": [DeliveryStatus],
    "message_status/with_tracker": [DeliveryStatus],
    "message_status/group": [DeliveryStatus],
    "system/phone_number_change": [SystemContent],
    "system/identity_change": [SystemContent],
    "template_category_update/marketing": [TemplateCategory],
    "template_quality_update/yellow": [TemplateQuality],
    "template_status_update/approved": [TemplateStatus],
    "template_status_update/rejected": [TemplateStatus],
    "user_marketing_preferences/resume": [MarketingPreference],
    "user_marketing_preferences/signup": [MarketingPreference],
}
EXPECTED.update({name: [AccountNotice] for name in CASES if name.startswith("account_update/")})


def parse(body: dict[str, Any]) -> list[Any]:
    return [update.payload for update in parse_webhook(encode(body), NOW)]


def kinds(payloads: list[Any]) -> list[type[Any]]:
    return [type(p.content) if isinstance(p, InboundMessage) else type(p) for p in payloads]


def test_every_conformance_payload_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_conformance_payload_translates_to_the_expected_values(case: str) -> None:
    assert kinds(parse(CASES[case])) == EXPECTED[case]


def test_text_message_keeps_sender_name_time_and_reply_context() -> None:
    (message,) = parse(CASES["message/reply"])

    assert message.customer_id == "972987654321"
    assert message.customer_name == "Test Name"
    assert message.phone_number_id == "1122334455667"
    assert message.sent_at == datetime.fromtimestamp(1697044746, UTC)
    assert message.content == TextContent(body="replied text")
    assert message.context.reply_to_wamid == "wamid.xyzxyz=="


def test_media_reaction_removal_order_and_referral_details() -> None:
    (voice,) = parse(CASES["message/voice"])
    (removed,) = parse(CASES["message/unreaction_empty"])
    (order,) = parse(CASES["message/order"])
    (referred,) = parse(CASES["message/referral"])
    (forwarded,) = parse(CASES["message/forwarded_many_times"])

    assert (voice.content.media_type, voice.content.voice) == ("audio", True)
    assert removed.content.removed
    assert removed.content.target_wamid == "wamid.yzxyzx="
    assert [i.product_retailer_id for i in order.content.items] == [
        "HAMBURGER",
        "FRENCH_FRIES",
        "SODA",
    ]
    assert referred.referral.ctwa_clid == "CTWA_CLID"
    assert forwarded.context.frequently_forwarded


def test_interactive_flow_edit_and_system_details() -> None:
    (flow,) = parse(CASES["flow_completion/completion"])
    (edit,) = parse(CASES["edited_message/image"])
    (changed,) = parse(CASES["system/phone_number_change"])
    (choice,) = parse(CASES["callback_selection/description"])

    assert flow.content.flow_token == "AQAAAAACS5FpgQ_cAAAAAD0QI3s."
    assert edit.content.content.caption == "Updated image caption"
    assert (changed.content.system_type, changed.content.new_wa_id) == (
        "user_changed_number",
        "972912345678",
    )
    assert (choice.content.choice, choice.content.description) == ("list", "description")


def test_unsupported_message_keeps_its_error_and_raw_form() -> None:
    (message,) = parse(CASES["message/unsupported_with_type"])

    assert message.content.original_type == "unsupported"
    assert message.content.errors[0].code == 131051
    assert message.content.raw["unsupported"] == {"type": "pool"}


def test_unknown_message_type_is_recorded_as_unsupported_not_dropped() -> None:
    odd = {**text_message(), "type": "hologram", "hologram": {"depth": 3}}
    del odd["text"]

    (message,) = parse(webhook(messages_change([odd])))

    assert message.type == "hologram"
    assert message.content.raw["hologram"] == {"depth": 3}


def test_failed_status_keeps_error_code_and_title() -> None:
    (failed,) = parse(CASES["message_status/failed"])

    assert failed.status == "failed"
    assert (failed.errors[0].code, failed.errors[0].title) == (
        130472,
        "User's number is part of an experiment",
    )


def test_template_rejection_keeps_reason_and_account() -> None:
    (rejected,) = parse(CASES["template_status_update/rejected"])

    assert (rejected.status, rejected.reason, rejected.account_id) == (
        "REJECTED",
        "INVALID_FORMAT",
        "102290129340398",
    )
    assert rejected.rejection_detail
    assert rejected.recommendation


def test_every_entry_change_message_and_status_is_translated_in_order() -> None:
    first, second, third = (text_message(f"m{n}", customer=f"1555000000{n}") for n in range(3))
    body = webhook(
        messages_change([first, second]),
        messages_change(
            [third],
            statuses=[
                {
                    "id": "wamid.out",
                    "status": "read",
                    "timestamp": "1700000000",
                    "recipient_id": "15550000001",
                }
            ],
        ),
        entries=2,
    )

    payloads = parse(body)

    assert [p.content.body for p in payloads if isinstance(p, InboundMessage)] == ["m0", "m1", "m2"]
    assert sum(isinstance(p, DeliveryStatus) for p in payloads) == 1


def test_unknown_fields_become_unrecognized_updates_routed_by_number_when_possible() -> None:
    body = webhook(
        {"field": "message_echoes", "value": {"metadata": {"phone_number_id": "42"}, "x": 1}},
        {"field": "brand_new_thing", "value": {"anything": [1, 2]}},
    )

    updates = parse_webhook(encode(body), NOW)

    assert [type(u) for u in updates] == [NumberUpdate, AccountUpdate]
    assert all(isinstance(u.payload, UnrecognizedUpdate) for u in updates)
    assert updates[1].payload.value == {"anything": [1, 2]}


def test_non_ascii_text_survives_both_escaped_and_raw_json() -> None:
    body = webhook(messages_change([text_message("olá 👋 café", wamid="wamid.x")]))

    for raw in (encode(body, ensure_ascii=True), encode(body, ensure_ascii=False)):
        (message,) = [u.payload for u in parse_webhook(raw, NOW)]
        assert message.content.body == "olá 👋 café"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "JSON"),
        (b"[]", "Expected `object`"),
        (b'{"object": "page", "entry": []}', "whatsapp_business_account"),
        (b'{"object": "whatsapp_business_account"}', "entry"),
        (encode(webhook({"field": "messages", "value": {"messages": []}})), "metadata"),
        (encode(webhook(messages_change([{**text_message(), "timestamp": "soon"}]))), "timestamp"),
        (
            encode(
                webhook(messages_change([{k: v for k, v in text_message().items() if k != "from"}]))
            ),
            "sender",
        ),
        (encode(webhook({"field": "account_update", "value": [1]})), "object"),
        (encode(webhook(messages_change([text_message(customer="1" * 65)]))), "longer than"),
        (encode(webhook(messages_change(phone_number_id=" "))), "phone_number_id is empty"),
    ],
)
def test_malformed_bodies_are_rejected_with_a_reason(raw: bytes, says: str) -> None:
    with pytest.raises(WebhookFormatError, match=says):
        parse_webhook(raw, NOW)


def test_the_error_names_where_the_problem_is() -> None:
    body = webhook(messages_change([text_message()]), messages_change([{"id": "wamid.1"}]))

    with pytest.raises(WebhookFormatError) as error:
        parse_webhook(json.dumps(body).encode(), NOW)

    assert "$.entry[0].changes[1]" in str(error.value)
