"""What a failed send means and what to do about it, decided by the Graph error code.

``classify`` is pure: the sender of the outbox decides retries, slow-downs and
notifications from its answer. The HTTP status only decides when Meta gave no code
(a proxy's 502, a dropped answer) or a code this table does not know.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec


class ErrorClass(enum.Enum):
    TRANSIENT = "transient"  # retry with exponential backoff and jitter
    THROUGHPUT = "throughput"  # the number sends too fast: slow the whole number down
    PAIR_RATE = "pair_rate"  # too many messages to this customer: delay only them
    PERMANENT = "permanent"  # fail at once with the reason
    CRITICAL = "critical"  # fail at once and notify the team


class Transport(enum.Enum):
    """How the exchange with Meta went, below HTTP."""

    ANSWERED = "answered"  # Meta (or a proxy) answered with an HTTP status
    NOT_CONNECTED = "not_connected"  # no connection: the request never left
    NOT_SENT = "not_sent"  # the request was not written whole: Meta cannot have taken it
    NO_ANSWER = "no_answer"  # the request left, the answer did not come (timeout, drop)
    UNREADABLE_ANSWER = "unreadable_answer"  # a 2xx whose body names no message id


class Classification(msgspec.Struct, frozen=True, kw_only=True):
    error_class: ErrorClass
    reason: str
    # Meta may have accepted the message: a retry can deliver it twice.
    ambiguous: bool = False
    # Our request was malformed (100, 131008, 131009): a bug to log loudly.
    request_was_wrong: bool = False

    @property
    def retryable(self) -> bool:
        return self.error_class in (ErrorClass.TRANSIENT, ErrorClass.THROUGHPUT,
                                    ErrorClass.PAIR_RATE)  # fmt: skip

    @property
    def notify_team(self) -> bool:
        return self.error_class is ErrorClass.CRITICAL


_WINDOW_CLOSED: Final = (
    "the 24-hour customer service window is closed: only a template can reach this customer now"
)
_TRANSIENT: Final = {
    1: "Meta reported an unknown API error",
    2: "the WhatsApp service is temporarily unavailable",
    131000: "something went wrong at Meta",
    131016: "the WhatsApp service is overloaded",
    133004: "the WhatsApp server is temporarily unavailable",
    131057: "the business account is in maintenance mode",
}
_THROUGHPUT: Final = {
    4: "the app called the API too often",
    80007: "the WhatsApp Business Account reached its rate limit",
    130429: "the phone number reached its throughput limit",
}
_PAIR_RATE: Final = {
    131056: "too many messages to this customer in a short time",
}
_PERMANENT: Final = {
    131047: _WINDOW_CLOSED,
    470: _WINDOW_CLOSED,
    131026: "the message cannot be delivered to this number (not on WhatsApp, or an old app)",
    131021: "the recipient is the sending number itself",
    131045: "the phone number is not registered or its certificate is wrong",
    133010: "the phone number is not registered on the Cloud API",
    131051: "this message type is not supported",
    131052: "the customer's media could not be downloaded",
    131053: "the media could not be uploaded (type or size not accepted)",
    131049: "Meta did not deliver it to keep engagement healthy (marketing limit)",
    131048: "the number is limited for spam: too many messages were blocked or reported",
    131062: "this message cannot be sent to a customer known only by a business-scoped user id",
}
_REQUEST_WAS_WRONG: Final = {
    100: "our request had an invalid or missing parameter",
    131008: "our request lacked a required parameter",
    131009: "our request had a parameter value Meta does not accept",
}
_CRITICAL: Final = {
    190: "the access token expired or was revoked: update the business's token",
    131031: "the business account is locked",
    368: "the account is temporarily blocked for policy violations",
    131042: "the business account has a payment problem",
    131005: "the access token lacks the permission to send (whatsapp_business_messaging)",
}
TEMPLATE_CODES: Final = range(132000, 132017)


def classify(
    code: int | None,
    http_status: int | None,
    transport: Transport = Transport.ANSWERED,
    meta_message: str | None = None,
) -> Classification:
    """What the outcome of one send attempt means.

    ``code`` is the Graph error code (``error.code``) when Meta gave one; ``http_status``
    the HTTP status when an answer came; ``meta_message`` Meta's text, used as the reason
    for codes this table does not know.
    """
    if transport is not Transport.ANSWERED:
        return _by_transport(transport)
    if code is not None and (known := _by_code(code)) is not None:
        return known
    return _by_status(code, http_status, meta_message)


def reported_failure_reason(code: int | None, title: str | None) -> str:
    """The readable reason of a failure Meta reported in a status webhook (after accepting
    the message): the one its code gives, else Meta's title."""
    return classify(code, None, meta_message=title or None).reason


def _by_transport(transport: Transport) -> Classification:
    match transport:
        case Transport.NOT_CONNECTED:
            reason = "Meta could not be reached (connection failed or timed out)"
            return Classification(error_class=ErrorClass.TRANSIENT, reason=reason)
        case Transport.NOT_SENT:
            reason = "the request could not be sent whole to Meta"
            return Classification(error_class=ErrorClass.TRANSIENT, reason=reason)
        case Transport.NO_ANSWER:
            reason = "Meta did not answer in time; it may have accepted the message"
        case _:
            reason = "Meta's answer named no message id; it may have accepted the message"
    return Classification(error_class=ErrorClass.TRANSIENT, reason=reason, ambiguous=True)


def _by_code(code: int) -> Classification | None:
    for table, error_class in (
        (_TRANSIENT, ErrorClass.TRANSIENT),
        (_THROUGHPUT, ErrorClass.THROUGHPUT),
        (_PAIR_RATE, ErrorClass.PAIR_RATE),
        (_PERMANENT, ErrorClass.PERMANENT),
        (_CRITICAL, ErrorClass.CRITICAL),
    ):
        if code in table:
            return Classification(error_class=error_class, reason=table[code])
    if code in _REQUEST_WAS_WRONG:
        return Classification(error_class=ErrorClass.PERMANENT,
                              reason=_REQUEST_WAS_WRONG[code], request_was_wrong=True)  # fmt: skip
    if code in TEMPLATE_CODES:
        reason = "the template cannot be sent (missing, not approved, paused or wrong parameters)"
        return Classification(error_class=ErrorClass.PERMANENT, reason=reason)
    return None


_GATEWAY_ERRORS: Final = frozenset({502, 504})


def _by_status(code: int | None, status: int | None, meta_message: str | None) -> Classification:
    """Meta gave no code or one this table does not know."""
    described = f" (code {code})" if code is not None else ""
    if status is not None and status >= 500:
        reason = f"Meta answered HTTP {status}{described}"
        # A gateway error (a proxy's 502 or 504) may come after Meta took the message.
        return Classification(error_class=ErrorClass.TRANSIENT, reason=reason,
                              ambiguous=status in _GATEWAY_ERRORS)  # fmt: skip
    if status == 429 and code is None:
        # A limit of something in front of the Graph API that names no code.
        reason = "HTTP 429: too many requests"
        return Classification(error_class=ErrorClass.THROUGHPUT, reason=reason)
    reason = meta_message or f"Meta refused the message with HTTP {status}{described}"
    return Classification(error_class=ErrorClass.PERMANENT, reason=reason)
