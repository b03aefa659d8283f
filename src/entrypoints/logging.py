"""structlog set-up: JSON in production, readable console in development, secrets never logged."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final, TextIO

import structlog

from domain.privacy import mask_customer_id, mask_phones_in

REDACTED: Final = "[redacted]"
_SECRET_KEY = re.compile(
    r"token|secret|password|passwd|api_?key|authorization|signature|cookie", re.I
)
_CUSTOMER_KEY = re.compile(r"phone(?!_number_id)|wa_?id|msisdn|recipient|user_id|^from$|^to$", re.I)
# Meta's own identifiers and ours are not personal data and stay readable for debugging.
# Only these exact keys are exempt: any other value is searched for phone numbers and BSUIDs,
# whatever its key is called (a stream or conversation id may embed a customer's number).
KEPT_IDENTIFIER_KEYS: Final = frozenset({
    "phone_number_id", "phone_number_ids", "account_id", "business_account_id", "waba_id",
    "wamid", "event_id", "event_ids", "business_id", "correlation_id", "causation_id",
    "request_id", "delivery_id", "token_id", "fbtrace_id", "template_id", "media_id",
})  # fmt: skip
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]+:)[^@/\s]+@", re.I)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I)


def redact_value(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, item) for item in value]
    if key.lower() in KEPT_IDENTIFIER_KEYS:
        return _redact_credentials(value) if isinstance(value, str) else value
    if _SECRET_KEY.search(key):
        return REDACTED
    if _CUSTOMER_KEY.search(key) and isinstance(value, str | int):
        return mask_customer_id(str(value))
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    return mask_phones_in(_redact_credentials(text))


def _redact_credentials(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***@", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def redact_event(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        event_dict[key] = redact_value(key, value)
    return event_dict


def configure_logging(
    *, production: bool, level: str = "info", stream: TextIO | None = None
) -> None:
    """Log to ``stream`` (standard output by default; admin commands keep it for their output)."""
    out = stream or sys.stdout
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if production
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_event,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(out),
        # Configured once per process, before any logging: caching makes a call below the
        # level nearly free instead of rebuilding the bound logger on every call.
        cache_logger_on_first_use=True,
    )
    # Libraries that use the standard logging module go through the same redaction.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_event,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(numeric_level, logging.INFO))
    # httpx logs every request's full URL at INFO; a notification webhook's URL is a secret.
    logging.getLogger("httpx").setLevel(max(numeric_level, logging.WARNING))
