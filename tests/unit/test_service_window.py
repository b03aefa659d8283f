from datetime import UTC, datetime, timedelta

from domain.outbound import TemplateMessage, TextMessage
from domain.service_window import may_send, needs_open_window, window_closes_at

LAST = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TEXT = TextMessage(body="hello")
TEMPLATE = TemplateMessage(name="order_update", language="fr")


def test_free_form_goes_out_until_24_hours_after_the_customers_last_message() -> None:
    assert may_send(TEXT, LAST, LAST + timedelta(hours=23, minutes=59, seconds=59))
    assert not may_send(TEXT, LAST, LAST + timedelta(hours=24))


def test_free_form_never_goes_to_a_customer_who_never_wrote() -> None:
    assert not may_send(TEXT, None, LAST)
    assert window_closes_at(None) is None


def test_templates_go_out_at_any_time() -> None:
    assert not needs_open_window(TEMPLATE)
    assert may_send(TEMPLATE, None, LAST)
    assert may_send(TEMPLATE, LAST, LAST + timedelta(days=30))
