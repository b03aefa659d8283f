"""Message summaries, the order of delivery statuses, the service window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.inbound import (
    ChoiceContent,
    ContactsContent,
    EditContent,
    LocationContent,
    MediaContent,
    MessageContent,
    OrderContent,
    OrderItem,
    ReactionContent,
    RevokeContent,
    SharedContact,
    TextContent,
    UnsupportedContent,
)
from domain.timeline import PREVIEW_LENGTH, service_window_closes, status_moves_forward, summarize


@pytest.mark.parametrize(
    ("content", "summary"),
    [
        (TextContent(body="  hello\n there "), "hello there"),
        (MediaContent(media_type="image", media_id="m", caption="receipt"), "[Image] receipt"),
        (MediaContent(media_type="audio", media_id="m", voice=True), "[Voice message]"),
        (MediaContent(media_type="document", media_id="m", filename="a.pdf"), "[Document] a.pdf"),
        (LocationContent(latitude=1.5, longitude=2.25, name="Shop"), "[Location] Shop"),
        (LocationContent(latitude=1.5, longitude=2.25), "[Location] 1.50000, 2.25000"),
        (ContactsContent(contacts=(SharedContact(formatted_name="Bo"),)), "[Contact] Bo"),
        (ChoiceContent(choice="list", reply_id="r", title="Large"), "[Choice] Large"),
        (ReactionContent(target_wamid="w", emoji="👍"), "[Reaction] 👍"),
        (ReactionContent(target_wamid="w"), "[Reaction removed]"),
        (
            OrderContent(
                catalog_id="c",
                items=(
                    OrderItem(product_retailer_id="p", quantity=2, item_price=1, currency="EUR"),
                ),
            ),
            "[Order] 2 items",
        ),
        (RevokeContent(original_wamid="w"), "[Message deleted]"),
        (EditContent(original_wamid="w", content=TextContent(body="fixed")), "[Edited] fixed"),
        (UnsupportedContent(original_type="call"), "[Unsupported: call]"),
    ],
)
def test_every_kind_of_message_reads_as_one_line(content: MessageContent, summary: str) -> None:
    assert summarize(content) == summary


def test_long_messages_are_cut_for_previews() -> None:
    summary = summarize(TextContent(body="x" * 1000))
    assert len(summary) == PREVIEW_LENGTH
    assert summary.endswith("…")


@pytest.mark.parametrize(
    ("current", "new", "moves"),
    [
        (None, "sent", True),
        ("sent", "delivered", True),
        ("delivered", "read", True),
        ("read", "played", True),
        ("read", "delivered", False),
        ("delivered", "sent", False),
        ("read", "read", False),
        ("sent", "failed", True),
        (None, "failed", True),
        ("delivered", "failed", False),  # a delivered message did not fail
        ("failed", "delivered", False),  # a failure keeps its error
        ("sent", "deleted", False),  # states Meta may add later never replace a known one
        (None, "deleted", True),
    ],
)
def test_a_status_only_moves_forward(current: str | None, new: str, moves: bool) -> None:
    assert status_moves_forward(current, new) is moves


def test_the_service_window_closes_a_day_after_the_customers_last_message() -> None:
    last = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert service_window_closes(last) == datetime(2026, 1, 2, 12, 30, tzinfo=UTC)
