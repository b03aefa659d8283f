"""Meta's details of an error as WazyBot keeps them: masked, bounded, never a credential;
failure events recorded before they were kept still decode."""

from __future__ import annotations

from application.codec import EventCodec
from domain.event_types import EVENT_TYPES
from domain.outbox import OutboundSendFailed, accepted_event_id
from domain.privacy import ERROR_DETAILS_MAX, safe_error_details

OLD_FAILURE = (
    b'{"type":"outbound.send_failed","message_id":"3f0c8a52-6a57-4d51-9d2c-6c1f3f0b8e11",'
    b'"attempt":1,"code":131009,"title":"Parameter value is not valid",'
    b'"reason":"a parameter is not valid","error_class":"permanent","retryable":false,'
    b'"next_attempt_at":null}'
)


def test_details_keep_what_meta_said_with_phones_masked_and_credentials_removed() -> None:
    text = safe_error_details("to +15550003001 with token EAAGabcdefghijklmnop0123 and Bearer x1")
    assert text is not None
    assert "15550003001" not in text
    assert "3001" in text
    assert "EAAG" not in text
    assert "x1" not in text
    assert safe_error_details("image.id: unknown media id '999999'") == (
        "image.id: unknown media id '999999'"
    )


def test_details_are_bounded_and_empty_ones_are_none() -> None:
    long = safe_error_details("x" * 5000)
    assert long is not None
    assert len(long) == ERROR_DETAILS_MAX
    assert safe_error_details("  ") is None
    assert safe_error_details(None) is None


def test_a_failure_recorded_before_details_were_kept_still_decodes() -> None:
    event = EventCodec(EVENT_TYPES).decode("outbound.send_failed", OLD_FAILURE)
    assert isinstance(event, OutboundSendFailed)
    assert event.details is None


def test_a_message_sent_again_after_a_reported_failure_is_accepted_as_a_new_fact() -> None:
    message_id = "3f0c8a52-6a57-4d51-9d2c-6c1f3f0b8e11"
    first = accepted_event_id(message_id)
    assert accepted_event_id(message_id, None) == first
    assert accepted_event_id(message_id, "wamid.A") not in (
        first,
        accepted_event_id(message_id, "wamid.B"),
    )
