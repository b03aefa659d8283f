"""Ids the API shows: deterministic, opaque, and distinct per business."""

from __future__ import annotations

from domain.conversation import conversation_stream
from domain.public_ids import (
    PUBLIC_ID_LENGTH,
    conversation_public_id,
    is_public_id,
    message_public_id,
)

STREAM = conversation_stream("106540352242922", "15550001111")


def test_the_same_conversation_always_gets_the_same_id() -> None:
    assert conversation_public_id("acme", STREAM) == conversation_public_id("acme", STREAM)
    assert message_public_id("acme", "wamid.x") == message_public_id("acme", "wamid.x")


def test_an_id_tells_nothing_about_the_customer() -> None:
    public = conversation_public_id("acme", STREAM)
    assert len(public) == PUBLIC_ID_LENGTH
    assert all(c in "0123456789abcdef" for c in public)
    assert "15550001111" not in public


def test_ids_differ_by_business_and_by_kind() -> None:
    ids = {
        conversation_public_id("acme", STREAM),
        conversation_public_id("globex", STREAM),
        conversation_public_id("acme", conversation_stream("106540352242922", "15550002222")),
        message_public_id("acme", STREAM),
    }
    assert len(ids) == 4


def test_only_ids_of_the_shape_made_here_can_name_something() -> None:
    assert is_public_id(conversation_public_id("acme", "conversation-1-2"))
    assert is_public_id(message_public_id("acme", "wamid.x"))
    for other in ("", "conversation-1-2", "15551234567", "A" * 32, "0" * 31, "0" * 33, "\x00" * 32):
        assert not is_public_id(other), other
