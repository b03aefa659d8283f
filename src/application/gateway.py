"""What the WhatsApp gateway port speaks: who sends, what Meta answered, how it failed."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.whatsapp_errors import Classification, ErrorClass


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A business's Graph API token; its repr and str never show it."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "AccessToken('***')"

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True, slots=True)
class Sender:
    """The business phone number a message leaves from, and the token that may use it."""

    phone_number_id: str
    access_token: AccessToken


@dataclass(frozen=True, slots=True)
class SendAccepted:
    """Meta took the message: its wamid, and the WhatsApp id of a phone-number recipient.

    ``wa_id`` is None when Meta returns none (a recipient known by BSUID only).
    """

    wamid: str
    wa_id: str | None = None


class AccessTokenUnreadableError(RuntimeError):
    """A stored access token exists but cannot be opened (the wrong secret key): sending
    for that business cannot succeed until the key or the token is fixed."""


class GatewayError(Exception):
    """A send or mark-read that failed, with what it means (``classification``).

    The message never holds an access token; Meta's own texts are kept as given in
    ``meta_message`` and ``details``.
    """

    def __init__(
        self,
        classification: Classification,
        *,
        code: int | None = None,
        title: str | None = None,
        meta_message: str | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.classification = classification
        self.code = code
        self.title = title
        self.meta_message = meta_message
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.http_status = http_status
        if code is not None:
            described = f" (code {code})"
        else:
            described = f" (HTTP {http_status})" if http_status is not None else ""
        super().__init__(f"{classification.error_class.value}{described}: {classification.reason}")

    @property
    def error_class(self) -> ErrorClass:
        return self.classification.error_class

    @property
    def ambiguous(self) -> bool:
        """Meta may have accepted the message although no wamid came back."""
        return self.classification.ambiguous

    @property
    def retryable(self) -> bool:
        return self.classification.retryable
