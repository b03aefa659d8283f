from __future__ import annotations

import pytest

from domain.whatsapp_errors import ErrorClass, Transport, classify

TRANSIENT = [1, 2, 131000, 131016, 133004, 131057]
THROUGHPUT = [4, 80007, 130429]
PERMANENT = [131047, 470, 131026, 131021, 131045, 133010, 131051, 131052, 131053, 131049,
             131048, 131062]  # fmt: skip
REQUEST_WAS_WRONG = [100, 131008, 131009]
TEMPLATES = list(range(132000, 132017))
CRITICAL = [190, 131031, 368, 131042, 131005]


@pytest.mark.parametrize("code", TRANSIENT)
def test_transient_codes_retry(code: int) -> None:
    result = classify(code, 400)
    assert result.error_class is ErrorClass.TRANSIENT
    assert result.retryable
    assert not result.ambiguous


@pytest.mark.parametrize("code", THROUGHPUT)
def test_throughput_codes_slow_the_number(code: int) -> None:
    result = classify(code, 400)
    assert result.error_class is ErrorClass.THROUGHPUT
    assert result.retryable


def test_pair_rate_delays_one_customer() -> None:
    result = classify(131056, 400)
    assert result.error_class is ErrorClass.PAIR_RATE
    assert result.retryable


@pytest.mark.parametrize("code", PERMANENT + TEMPLATES)
def test_permanent_codes_fail_at_once_with_a_reason(code: int) -> None:
    result = classify(code, 400)
    assert result.error_class is ErrorClass.PERMANENT
    assert not result.retryable
    assert not result.notify_team
    assert not result.request_was_wrong
    assert result.reason


@pytest.mark.parametrize("code", [131047, 470])
def test_closed_window_says_to_send_a_template(code: int) -> None:
    assert "template" in classify(code, 400).reason


def test_bsuid_refusal_is_explained() -> None:
    assert "business-scoped user id" in classify(131062, 400).reason


@pytest.mark.parametrize("code", REQUEST_WAS_WRONG)
def test_malformed_request_codes_are_flagged(code: int) -> None:
    result = classify(code, 400)
    assert result.error_class is ErrorClass.PERMANENT
    assert result.request_was_wrong


@pytest.mark.parametrize("code", CRITICAL)
def test_critical_codes_notify_the_team(code: int) -> None:
    result = classify(code, 401)
    assert result.error_class is ErrorClass.CRITICAL
    assert result.notify_team
    assert not result.retryable


def test_code_wins_over_the_http_status() -> None:
    # A known permanent code under a 500 stays permanent; a transient one under 400 retries.
    assert classify(131026, 500).error_class is ErrorClass.PERMANENT
    assert classify(131000, 400).error_class is ErrorClass.TRANSIENT
    assert classify(130429, 400).error_class is ErrorClass.THROUGHPUT
    assert classify(131047, 200).error_class is ErrorClass.PERMANENT


def test_5xx_without_a_code_is_transient() -> None:
    result = classify(None, 502)
    assert result.error_class is ErrorClass.TRANSIENT
    assert "502" in result.reason


def test_unknown_code_on_5xx_is_transient() -> None:
    assert classify(999_999, 503).error_class is ErrorClass.TRANSIENT


@pytest.mark.parametrize(("status", "ambiguous"), [(500, False), (502, True), (503, False),
                                                    (504, True)])  # fmt: skip
def test_a_gateway_error_may_come_after_meta_took_the_message(status: int, ambiguous: bool) -> None:
    result = classify(None, status)
    assert (result.error_class, result.ambiguous) == (ErrorClass.TRANSIENT, ambiguous)


def test_unknown_code_on_4xx_is_permanent_with_metas_message() -> None:
    result = classify(999_999, 400, meta_message="(#999999) Something new")
    assert result.error_class is ErrorClass.PERMANENT
    assert result.reason == "(#999999) Something new"
    assert "999999" in classify(999_999, 400).reason


def test_429_without_a_code_slows_down() -> None:
    assert classify(None, 429).error_class is ErrorClass.THROUGHPUT


@pytest.mark.parametrize("transport", [Transport.NOT_CONNECTED, Transport.NOT_SENT])
def test_failures_before_the_request_left_are_plain_transient(transport: Transport) -> None:
    result = classify(None, None, transport)
    assert result.error_class is ErrorClass.TRANSIENT
    assert not result.ambiguous


@pytest.mark.parametrize("transport", [Transport.NO_ANSWER, Transport.UNREADABLE_ANSWER])
def test_a_lost_answer_is_ambiguous_and_retryable(transport: Transport) -> None:
    result = classify(None, None, transport)
    assert result.error_class is ErrorClass.TRANSIENT
    assert result.retryable
    assert result.ambiguous
