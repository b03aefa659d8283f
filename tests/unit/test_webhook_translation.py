"""Meta's webhook JSON -> routed updates holding domain values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.whatsapp.webhook import parse_webhook
from application.inbound_updates import AccountUpdate, NumberUpdate, WebhookFormatError
from domain.inbound import (
    AccountNotice,
    ChoiceContent,
    ContactsContent,
    CustomerIdentity,
    DeliveryStatus,
    EchoedMessage,
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
    TemplateCategoryChangeComing,
    TemplateQuality,
    TemplateStatus,
    TextContent,
    UnreadableChange,
    UnrecognizedUpdate,
    UnsupportedContent,
    WebhookProblem,
)
from tests.support.webhooks import (
    ACCOUNT_ID,
    conformance_cases,
    encode,
    messages_change,
    text_message,
    webhook,
)

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
    "outgoing_message/text": [EchoedMessage],
    "outgoing_message/edit": [EchoedMessage],
    "outgoing_message/delete": [EchoedMessage],
    "meta:bsuid/message_without_phone": [TextContent],
    "meta:bsuid/message_with_phone_and_bsuid": [TextContent],
    "meta:bsuid/status_without_phone": [DeliveryStatus],
    "meta:bsuid/status_with_long_bsuid": [DeliveryStatus],
    "meta:bsuid/message_with_long_bsuid": [TextContent],
    "meta:bsuid/user_preferences_without_phone": [MarketingPreference],
    "meta:bsuid/user_changed_number": [SystemContent],
    "meta:bsuid/user_changed_user_id": [SystemContent],
    "meta:bsuid/contact_shared_on_request": [ContactsContent],
    "meta:groups/group_message": [TextContent],
    "meta:groups/group_status_by_user_id": [DeliveryStatus],
    "meta:pricing/marketing_lite": [DeliveryStatus],
    "meta:template_category/impending": [TemplateCategoryChangeComing],
    "meta:template_category/completed": [TemplateCategory],
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
        (b'{"object": "whatsapp_business_account", "entry": {}}', "entry"),
        (
            b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": '
            b'[{"field": "x", "value": {"a": "\xff"}}]}]}',
            "not UTF-8",
        ),
    ],
)
def test_bodies_that_are_not_whatsapp_webhooks_are_refused_with_a_reason(
    raw: bytes, says: str
) -> None:
    with pytest.raises(WebhookFormatError, match=says):
        parse_webhook(raw, NOW)


def without_sender() -> dict[str, Any]:
    return {k: v for k, v in text_message().items() if k != "from"}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"field": "messages", "value": {"messages": []}}, "metadata"),
        (messages_change([{**text_message(), "timestamp": "soon"}]), "timestamp"),
        (messages_change([without_sender()]), "names no customer"),
        ({"field": "account_update", "value": [1]}, "object"),
        (messages_change([text_message(customer="1" * 257)]), "longer than"),
        (messages_change(phone_number_id=" "), "phone_number_id is empty"),
        ({"value": {}}, "field"),
        ("not a change", "object"),
    ],
)
def test_an_unreadable_change_is_kept_raw_beside_the_readable_ones(change: Any, says: str) -> None:
    good = messages_change([text_message("fine", wamid="wamid.good")])
    raw = encode(webhook(good, change))

    first, second = parse_webhook(raw, NOW)

    assert first.payload.content == TextContent(body="fine")
    unreadable = second.payload
    assert isinstance(unreadable, UnreadableChange)
    assert says in unreadable.error
    assert unreadable.path == "$.entry[0].changes[1]"
    assert json.loads(unreadable.raw_json) == change
    assert unreadable.account_id == ACCOUNT_ID


def test_an_unreadable_change_is_routed_by_its_number_when_it_names_one() -> None:
    broken = messages_change([{**text_message(), "timestamp": "soon"}], phone_number_id="42")

    (update,) = parse_webhook(encode(webhook(broken)), NOW)

    assert isinstance(update, NumberUpdate)
    assert (update.phone_number_id, update.field) == ("42", "messages")
    assert update.payload.phone_number_id == "42"


def test_an_unreadable_entry_is_kept_whole() -> None:
    raw = b'{"object": "whatsapp_business_account", "entry": [{"changes": []}, 7]}'

    first, second = parse_webhook(raw, NOW)

    assert [u.payload.scope for u in (first, second)] == ["entry", "entry"]
    assert (first.payload.raw_json, second.payload.raw_json) == ('{"changes": []}', "7")
    assert first.payload.account_id is None
    assert second.payload.path == "$.entry[1]"


def test_the_same_unreadable_change_gets_the_same_fingerprint_every_time() -> None:
    raw = encode(webhook(messages_change([{**text_message(wamid="wamid.1"), "timestamp": "x"}])))

    (first,), (again,) = parse_webhook(raw, NOW), parse_webhook(raw, NOW)

    assert first.payload.fingerprint == again.payload.fingerprint


# --- usernames and business-scoped user ids (BSUIDs) ----------------------------------------

BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"


def test_a_message_without_a_phone_number_names_its_sender_by_bsuid_and_username() -> None:
    (message,) = parse(CASES["meta:bsuid/message_without_phone"])

    assert message.customer_id == BSUID
    assert message.customer == CustomerIdentity(
        user_id=BSUID, parent_user_id=PARENT, username="ana.rivera"
    )
    assert message.customer_name == "Ana"


def test_a_message_with_both_keeps_the_number_as_its_customer_id_and_the_bsuid_beside() -> None:
    (message,) = parse(CASES["meta:bsuid/message_with_phone_and_bsuid"])

    assert message.customer_id == "16505551234"
    assert message.customer == CustomerIdentity(
        phone="16505551234", user_id=BSUID, parent_user_id=PARENT
    )


def test_a_status_and_a_preference_without_a_phone_number_name_the_customer_by_bsuid() -> None:
    (status,) = parse(CASES["meta:bsuid/status_without_phone"])
    (preference,) = parse(CASES["meta:bsuid/user_preferences_without_phone"])

    assert status.recipient_id == BSUID
    assert status.recipient == CustomerIdentity(
        user_id=BSUID, parent_user_id=PARENT, username="ana.rivera"
    )
    assert (status.pricing_model, status.pricing_type, status.pricing_category) == (
        "PMP",
        "free_customer_service",
        "service",
    )
    assert (preference.customer_id, preference.customer.parent_user_id) == (BSUID, PARENT)


def test_bsuids_of_the_documented_length_are_accepted() -> None:
    (status,) = parse(CASES["meta:bsuid/status_with_long_bsuid"])
    (message,) = parse(CASES["meta:bsuid/message_with_long_bsuid"])

    assert len(status.recipient_id) == len(message.customer_id) == 131
    assert message.customer_name == "Bia"


def test_changed_number_and_user_id_keep_every_new_and_previous_identifier() -> None:
    (number,) = parse(CASES["meta:bsuid/user_changed_number"])
    (user_id,) = parse(CASES["meta:bsuid/user_changed_user_id"])

    assert number.content.new_identity == CustomerIdentity(
        phone="16505550000", user_id="US.99887766554433221100", parent_user_id=PARENT
    )
    assert user_id.content.previous_identity == CustomerIdentity(
        user_id=BSUID, parent_user_id=PARENT
    )
    assert user_id.content.new_identity == CustomerIdentity(
        user_id="US.11223344556677889900", parent_user_id="US.ENT.22334455667788990011"
    )


def test_a_contact_shared_on_request_keeps_its_origin() -> None:
    (message,) = parse(CASES["meta:bsuid/contact_shared_on_request"])

    (contact,) = message.content.contacts
    assert (contact.origin, contact.phones[0].wa_id) == ("contact_request", "16505551234")


# --- groups, echoes, pricing, template categories ----------------------------------------


def test_group_messages_and_statuses_name_their_group_and_participant() -> None:
    (message,) = parse(CASES["meta:groups/group_message"])
    (status,) = parse(CASES["meta:groups/group_status_by_user_id"])

    assert (message.group_id, message.customer_id) == ("Ez7tGpWcQ3aV1", "16505551234")
    assert (status.in_group, status.recipient_id, status.participant_user_id) == (
        True,
        "Ez7tGpWcQ3aV1",
        BSUID,
    )
    assert status.recipient is None


def test_marketing_lite_pricing_is_kept() -> None:
    (status,) = parse(CASES["meta:pricing/marketing_lite"])

    assert (status.billable, status.pricing_category, status.pricing_type) == (
        True,
        "marketing_lite",
        "regular",
    )


def test_an_impending_category_change_is_a_coming_change_not_a_completed_one() -> None:
    (coming,) = parse(CASES["meta:template_category/impending"])
    (done,) = parse(CASES["meta:template_category/completed"])

    assert isinstance(coming, TemplateCategoryChangeComing)
    assert (coming.current_category, coming.correct_category) == ("UTILITY", "MARKETING")
    assert coming.takes_effect_at == datetime.fromtimestamp(1769904000, UTC)
    assert (done.previous_category, done.new_category) == ("UTILITY", "MARKETING")


def test_echoes_name_the_customer_whichever_side_meta_puts_them_on() -> None:
    (text,) = parse(CASES["outgoing_message/text"])
    (edit,) = parse(CASES["outgoing_message/edit"])
    (deleted,) = parse(CASES["outgoing_message/delete"])

    assert text.customer.user_id == "<BSUID>"
    assert text.customer_id == "<WHATSAPP_USER_PHONE_NUMBER>"
    # These two samples put the customer in ``from`` and the business number in ``to``.
    assert edit.customer_id == deleted.customer_id == "972987654321"
    assert edit.content.content == TextContent(body="Text was edited")
    assert deleted.content.original_wamid == "wamid.zzzzzz"


# --- text PostgreSQL cannot store -----------------------------------------------------------


def test_escaped_nul_characters_become_replacement_characters_everywhere() -> None:
    text = text_message("a\x00b", wamid="wamid.nul")
    text["x\x00"] = {"y": "z\x00"}
    odd = {**text_message(wamid="wamid.odd"), "type": "hologram", "hologram": {"k": "\x00"}}

    payloads = parse(webhook(messages_change([text, odd])))

    assert payloads[0].content.body == "a\ufffdb"
    assert payloads[1].content.raw["hologram"] == {"k": "\ufffd"}


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    for body, expected in [
        ("\\u0000", "\\u0000"),  # a backslash, then the letters u0000
        ("\\\x00", "\\\ufffd"),  # a backslash, then NUL
        ("\\\\\x00", "\\\\\ufffd"),
    ]:
        (message,) = parse(webhook(messages_change([text_message(body, wamid="wamid.b")])))
        assert message.content.body == expected


def test_a_translator_bug_costs_only_its_own_change(monkeypatch: pytest.MonkeyPatch) -> None:
    import adapters.whatsapp.webhook as webhook_format

    def broken(_: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setitem(webhook_format._TRANSLATORS, "user_preferences", broken)
    body = webhook(CASES["user_marketing_preferences/resume"]["entry"][0]["changes"][0],
                   messages_change([text_message("fine")]))  # fmt: skip

    first, second = parse_webhook(encode(body), NOW)

    assert first.payload.error == "KeyError: 'surprise'"
    assert second.payload.content == TextContent(body="fine")


def test_an_entry_with_an_impossible_time_is_kept_whole() -> None:
    body = webhook(messages_change([text_message("fine")]))
    body["entry"][0]["time"] = 10**20

    (update,) = parse_webhook(encode(body), NOW)

    assert (update.payload.scope, update.payload.account_id) == ("entry", ACCOUNT_ID)
