"""May the assistant reply now, and which messages start a turn: the pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.assistant import Escalate
from domain.assistant_settings import AssistantSettings
from domain.assistant_turns import (
    AssistantTurnCompleted,
    AssistantTurnFailed,
    AssistantTurnRequested,
    AssistantTurnSkipped,
)
from domain.conversation import MessageEchoed, MessageReceived, MessageStatusUpdated
from domain.events import DomainEvent
from domain.handoff import ConversationEscalated, ConversationResolved
from domain.inbound import (
    ChoiceContent,
    ContactsContent,
    Content,
    DeliveryStatus,
    EchoedMessage,
    EditContent,
    InboundMessage,
    LocationContent,
    MediaContent,
    OrderContent,
    OrderItem,
    QuickReplyContent,
    ReactionContent,
    RevokeContent,
    SharedContact,
    SharedPhone,
    SystemContent,
    TextContent,
    UnsupportedContent,
)
from domain.outbound import Recipient, TextMessage
from domain.outbox import OutboundMessageQueued
from domain.reply_policy import (
    ReplyState,
    customer_input,
    escalates_after,
    fold,
    lasting,
    silence_reason,
    since_turn_read,
    starts_turn,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SETTINGS = AssistantSettings()


def received(wamid: str = "wamid.1", *, text: str = "Bonjour", at: datetime = NOW,
             throttled: bool = False, content: Content | None = None,
             group_id: str | None = None) -> MessageReceived:  # fmt: skip
    message = InboundMessage(
        phone_number_id="111", customer_id="33600000001", wamid=wamid, sent_at=at,
        type="text", content=content or TextContent(body=text), customer_name="Marie",
        group_id=group_id,
    )  # fmt: skip
    return MessageReceived(business_id="b", message=message, throttled=throttled)


def requested(wamid: str = "wamid.1") -> AssistantTurnRequested:
    return AssistantTurnRequested(business_id="b", wamid=wamid, at=NOW)


def queued(by: Any, at: datetime = NOW, body: str = "Voici") -> OutboundMessageQueued:
    return OutboundMessageQueued(
        message_id="8c0dcbee-89e9-5622-acb3-33fc75b0f819", business_id="b",
        conversation_stream="c", phone_number_id="111",
        recipient=Recipient(phone_number="33600000001"), message=TextMessage(body=body),
        requested_by=by, queued_at=at,
    )  # fmt: skip


def escalated() -> ConversationEscalated:
    return ConversationEscalated(business_id="b", cause="keyword", reason="r", by="system", at=NOW)


def failed(wamid: str, failures: int) -> AssistantTurnFailed:
    return AssistantTurnFailed(business_id="b", turn_id=wamid, wamids=(wamid,), reason="down",
                               provider="x", at=NOW, consecutive_failures=failures)  # fmt: skip


def reason(*events: DomainEvent, settings: AssistantSettings = SETTINGS,
           now: datetime = NOW + timedelta(seconds=5),
           state: ReplyState | None = None) -> str | None:  # fmt: skip
    return silence_reason(fold(events, state), settings, now)


def test_a_fresh_customer_message_may_be_answered() -> None:
    state = fold([received(), requested()])
    assert silence_reason(state, SETTINGS, NOW) is None
    assert state.pending == ("wamid.1",)
    assert state.customer_name == "Marie"


def test_auto_reply_off_keeps_the_assistant_silent() -> None:
    off = AssistantSettings(auto_reply=False)
    assert reason(received(), settings=off) == "auto_reply_off"


def test_an_escalated_conversation_stays_silent_until_resolved() -> None:
    assert reason(received(), escalated()) == "escalated"
    resolved = ConversationResolved(business_id="b", at=NOW)
    assert reason(received(), escalated(), resolved) is None


def test_a_throttled_customer_gets_no_reply_until_a_message_under_the_limit() -> None:
    assert reason(received(throttled=True)) == "throttled"
    assert reason(received("w1", throttled=True), received("w2")) is None


def test_the_window_closes_24_hours_after_the_customers_last_message() -> None:
    message = received(at=NOW - timedelta(hours=24))
    assert reason(message, now=NOW) == "window_closed"
    assert reason(received(at=NOW - timedelta(hours=23, minutes=59)), now=NOW) is None
    assert reason(now=NOW) == "window_closed"  # the customer never wrote


@pytest.mark.parametrize("human", ["echo", "agent"])
def test_a_person_replying_pauses_the_assistant(human: str) -> None:
    at = NOW - timedelta(hours=1)
    if human == "echo":
        echo = EchoedMessage(
            phone_number_id="111", customer_id="33600000001", wamid="wamid.e", sent_at=at,
            type="text", content=TextContent(body="Je regarde"),
        )  # fmt: skip
        by_human: DomainEvent = MessageEchoed(business_id="b", message=echo)
    else:
        by_human = queued("agent", at=at)
    assert reason(received(), by_human, now=NOW) == "human_replied"
    twelve_hours_later = at + timedelta(hours=12)
    assert reason(received(), by_human, now=twelve_hours_later) is None  # the pause is over
    short_pause = AssistantSettings(pause_after_human_minutes=30)
    assert reason(received(), by_human, settings=short_pause, now=NOW) is None
    resolved = ConversationResolved(business_id="b", at=NOW)
    assert reason(received(), by_human, resolved, now=NOW) is None


def test_the_assistants_own_messages_do_not_pause_it() -> None:
    assert reason(received(), queued("ai")) is None
    assert reason(received(), queued("system")) is None


def test_groups_get_no_automatic_replies_even_with_an_old_setting_that_asked_for_them() -> None:
    in_group = received(group_id="group-1")
    assert reason(in_group) == "group"
    assert reason(in_group, settings=AssistantSettings(group_auto_replies=True)) == "group"


def test_older_events_leave_the_escalation_a_persons_reply_and_the_failures() -> None:
    agent_at = NOW - timedelta(hours=1)
    resolved = ConversationResolved(business_id="b", at=NOW)
    assert lasting([escalated()]) == fold([escalated()])
    assert not lasting([escalated(), resolved]).escalated
    kept = lasting([received(), queued("agent", at=agent_at), failed("w1", 1),
                    requested("w2")])  # fmt: skip
    assert (kept.last_human_at, kept.consecutive_failures) == (agent_at, 1)
    assert (kept.pending, kept.history, kept.last_customer_at) == ((), (), None)
    assert reason(received(), state=kept, now=NOW) == "human_replied"
    assert lasting([queued("agent", at=agent_at), resolved]).last_human_at is None


def test_only_new_customer_messages_never_silence_a_turn_at_record_time() -> None:
    state = fold([received("w1"), requested("w1")])
    newer = since_turn_read(state, [received("w2", throttled=True), requested("w2")])
    assert silence_reason(newer, SETTINGS, NOW) is None
    assert newer.pending == ("w1", "w2")
    assert silence_reason(since_turn_read(state, [escalated()]), SETTINGS, NOW) == "escalated"
    by_agent = since_turn_read(state, [queued("agent")])
    assert silence_reason(by_agent, SETTINGS, NOW) == "human_replied"


def test_an_outcome_takes_the_requests_it_answered() -> None:
    completed = AssistantTurnCompleted(
        business_id="b", turn_id="w1", wamids=("w1", "w2"), provider="offline", at=NOW,
        decision=Escalate(cause="customer_asked", reason="asked"),
    )  # fmt: skip
    state = fold([requested("w1"), requested("w2"), completed, requested("w3")])
    assert state.pending == ("w3",)
    skipped = AssistantTurnSkipped(business_id="b", turn_id="w3", wamids=("w3",),
                                   reason="throttled", at=NOW)  # fmt: skip
    assert fold([requested("w3"), skipped]).pending == ()


def test_consecutive_failures_count_until_a_success_or_a_resolve() -> None:
    limit = AssistantSettings(max_consecutive_failures=2)
    one = fold([failed("w1", 1)])
    assert one.consecutive_failures == 1
    assert escalates_after(one, limit)
    assert not escalates_after(fold([]), limit)
    completed = AssistantTurnCompleted(
        business_id="b", turn_id="w2", wamids=("w2",), provider="offline", at=NOW,
        decision=Escalate(cause="customer_asked", reason="asked"),
    )  # fmt: skip
    assert fold([failed("w1", 1), completed]).consecutive_failures == 0
    resolved = ConversationResolved(business_id="b", at=NOW)
    assert fold([failed("w1", 2), resolved]).consecutive_failures == 0


CONTACT = SharedContact(formatted_name="Ana", phones=(SharedPhone(phone="+33 6 00"),))
ITEM = OrderItem(product_retailer_id="sku", quantity=2, item_price=3.5, currency="EUR")
ORDER = OrderContent(catalog_id="c", items=(ITEM,))


@pytest.mark.parametrize(
    ("content", "kind", "text"),
    [
        (TextContent(body="Salut"), "text", "Salut"),
        (ChoiceContent(choice="button", reply_id="hours", title="Horaires"), "button", "Horaires"),
        (ChoiceContent(choice="list", reply_id="r1", title="Pain"), "list", "Pain"),
        (QuickReplyContent(payload="yes", text="Oui"), "button", "Oui"),
        (MediaContent(media_type="image", media_id="m", caption="ma facture"), "image",
         "ma facture"),
        (LocationContent(latitude=1.0, longitude=2.0, name="Chez moi", address="1 rue"),
         "location", "Chez moi, 1 rue"),
        (ContactsContent(contacts=(CONTACT,)), "contacts", "Ana +33 6 00"),
    ],
)  # fmt: skip
def test_customer_messages_start_a_turn(content: Content, kind: str, text: str) -> None:
    event = received(content=content)
    assert starts_turn(event)
    given = customer_input("wamid.1", content, NOW)
    assert given is not None
    assert (given.kind, given.text) == (kind, text)


def test_a_cart_is_answered_by_the_orders_process_not_a_turn_but_kept_as_history() -> None:
    assert not starts_turn(received(content=ORDER))
    tap = ChoiceContent(choice="button", reply_id="confirm_order_o0123456789abcdef0123",
                        title="Confirmer")  # fmt: skip
    assert not starts_turn(received(content=tap))
    given = customer_input("wamid.1", ORDER, NOW)
    assert given is not None
    assert (given.kind, given.text) == ("order", "[order: 2 x sku (3.5 EUR)]")


def test_media_is_named_as_unseen_and_a_choice_keeps_its_id() -> None:
    image = customer_input("w", MediaContent(media_type="audio", media_id="m"), NOW)
    assert image is not None
    assert image.unseen_media == "audio"
    choice = customer_input("w", ChoiceContent(choice="button", reply_id="id7", title="T"), NOW)
    assert choice is not None
    assert choice.choice_id == "id7"


@pytest.mark.parametrize(
    "content",
    [
        ReactionContent(target_wamid="wamid.x", emoji="👍"),
        SystemContent(system_type="user_changed_number"),
        RevokeContent(original_wamid="wamid.x"),
        EditContent(original_wamid="wamid.x", content=TextContent(body="edited")),
        UnsupportedContent(original_type="unknown"),
    ],
)
def test_reactions_system_notices_edits_and_deletions_start_no_turn(content: Content) -> None:
    assert not starts_turn(received(content=content))


def test_statuses_echoes_and_our_own_messages_start_no_turn() -> None:
    status = DeliveryStatus(phone_number_id="111", recipient_id="33600000001", wamid="w",
                            status="read", at=NOW)  # fmt: skip
    echo = EchoedMessage(phone_number_id="111", customer_id="33600000001", wamid="wamid.e",
                         sent_at=NOW, type="text", content=TextContent(body="Bonjour"))  # fmt: skip
    assert not starts_turn(MessageStatusUpdated(business_id="b", status=status))
    assert not starts_turn(MessageEchoed(business_id="b", message=echo))
    assert not starts_turn(queued("ai"))
    assert not starts_turn(requested())


def test_the_history_holds_what_each_side_said_oldest_first() -> None:
    state = fold([received("w1", text="Bonjour"), queued("ai", body="Bonjour Marie"),
                  queued("agent", body="Je prends le relais")])  # fmt: skip
    assert [(s.speaker, s.text) for s in state.history] == [
        ("customer", "Bonjour"), ("assistant", "Bonjour Marie"), ("agent", "Je prends le relais"),
    ]  # fmt: skip
