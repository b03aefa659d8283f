"""Graph API errors as Meta shapes them: code, title, HTTP status and the JSON body."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final

# code -> (title, HTTP status Meta answers with when the error comes back synchronously)
CATALOG: Final[dict[int, tuple[str, int]]] = {
    1: ("API Unknown", 500),
    2: ("API Service", 503),
    4: ("Application request limit reached", 429),
    10: ("Permission denied", 403),
    33: ("This object does not exist or does not support this action", 400),
    100: ("Invalid parameter", 400),
    190: ("Access token has expired", 401),
    200: ("Requires permission", 403),
    368: ("Temporarily blocked for policies violations", 403),
    470: ("Message failed to send because more than 24 hours have passed", 400),
    803: ("Some of the aliases you requested do not exist", 400),
    80007: ("Rate limit issues", 429),
    130429: ("Rate limit hit", 429),
    131000: ("Something went wrong", 500),
    131005: ("Access denied", 403),
    131008: ("Required parameter is missing", 400),
    131009: ("Parameter value is not valid", 400),
    131016: ("Service unavailable", 503),
    131021: ("Recipient cannot be sender", 400),
    131026: ("Message undeliverable", 400),
    131031: ("Business Account locked", 403),
    131042: ("Business eligibility payment issue", 400),
    131045: ("Incorrect certificate", 400),
    131047: ("Re-engagement message", 400),
    131048: ("Spam rate limit hit", 400),
    131049: ("This message was not delivered to maintain healthy ecosystem engagement", 400),
    131051: ("Unsupported message type", 400),
    131052: ("Media download error", 400),
    131053: ("Media upload error", 400),
    131056: ("(Business Account, Consumer Account) pair rate limit hit", 400),
    131057: ("Account in maintenance mode", 503),
    131062: ("Business-scoped User ID recipients are not supported for this message", 400),
    132000: ("Number of parameters does not match the expected number of params", 400),
    132001: ("Template name does not exist in the translation", 404),
    132005: ("Translated text too long", 400),
    132007: ("Template Format Character Policy Violated", 400),
    132012: ("Parameter format does not match format in the created template", 400),
    132015: ("Template is Paused", 400),
    132016: ("Template is Disabled", 400),
    133004: ("Server temporarily unavailable", 503),
    133010: ("Phone number Not Registered", 400),
}
THROUGHPUT_CODES: Final = frozenset({4, 80007, 130429})


def title_of(code: int) -> str:
    return CATALOG.get(code, ("Unknown error", 400))[0]


def http_status_of(code: int) -> int:
    return CATALOG.get(code, ("Unknown error", 400))[1]


def fbtrace_id() -> str:
    return secrets.token_urlsafe(15)


@dataclass
class GraphError(Exception):
    """An error answer of the Graph API; ``details`` names the field at fault."""

    code: int
    details: str = ""
    http_status: int | None = None
    message: str | None = None
    error_subcode: int | None = None

    def __post_init__(self) -> None:
        super().__init__(self.code, self.details)

    @property
    def status(self) -> int:
        return self.http_status if self.http_status is not None else http_status_of(self.code)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message or f"(#{self.code}) {title_of(self.code)}",
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": fbtrace_id(),
        }
        if self.error_subcode is not None:
            error["error_subcode"] = self.error_subcode
        return {"error": error}

    def webhook_error(self) -> dict[str, Any]:
        """The same error as it arrives in a status webhook's ``errors``."""
        return webhook_error(self.code, self.details)


def webhook_error(code: int, details: str = "") -> dict[str, Any]:
    title = title_of(code)
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details or title},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def missing(field: str) -> GraphError:
    return GraphError(
        100,
        f"The parameter {field} is required.",
        message=f"(#100) The parameter {field} is required.",
    )


def required(field: str) -> GraphError:
    return GraphError(131008, f"{field} is required")


def invalid(field: str, why: str) -> GraphError:
    return GraphError(131009, f"{field}: {why}")
