"""What the simulator remembers: requests, templates, media, customers and their windows."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

WINDOW_SECONDS: Final = 24 * 3600
Clock = Callable[[], float]


def customer_key(customer: str) -> str:
    """A phone number as its digits (how Meta writes wa_ids); a BSUID unchanged."""
    if "." in customer:
        return customer
    return re.sub(r"\D", "", customer)


def new_wamid(recipient: str) -> str:
    """A fresh id shaped like Meta's: 'wamid.' and an opaque base64 token."""
    raw = recipient.encode() + b"\x15\x02\x00" + secrets.token_bytes(12)
    return "wamid." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class RecordedRequest:
    """One Graph API call as the simulator received it."""

    method: str
    path: str
    body: Any
    received_at: float
    recipient: str | None = None
    status: int | None = None  # None while held; 0 when the connection was dropped
    outcome: str = "pending"
    wamid: str | None = None
    finished_at: float | None = None  # when answered or dropped; None while held
    # Kept for in-process tests only, never listed or logged: they carry the access token.
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    answer: Any = None  # the JSON body answered; None when dropped, held or not JSON

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "received_at": self.received_at,
            "recipient": self.recipient,
            "status": self.status,
            "outcome": self.outcome,
            "wamid": self.wamid,
            "finished_at": self.finished_at,
        }


@dataclass
class Template:
    name: str
    language: str
    category: str = "UTILITY"
    status: str = "APPROVED"
    components: list[dict[str, Any]] = field(default_factory=list)
    id: str = field(default_factory=lambda: str(secrets.randbelow(10**15) + 10**15))

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "components": self.components,
            "id": self.id,
        }


@dataclass(frozen=True)
class Media:
    id: str
    content: bytes
    mime_type: str
    filename: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """How far a message accepted for a recipient gets: its last status, or a failure code."""

    final: str = "read"  # "sent" | "delivered" | "read" | "failed"
    error_code: int | None = None


STATUS_ORDER: Final = ("sent", "delivered", "read")
QUALITY_RATINGS: Final = ("GREEN", "YELLOW", "RED", "NA", "UNKNOWN")
# The fields of a phone number object it answers (Meta has more); ``fields`` may name these.
PHONE_NUMBER_FIELDS: Final = (
    "id", "display_phone_number", "verified_name", "quality_rating", "code_verification_status",
    "platform_type", "throughput", "messaging_limit_tier", "account_mode",
)  # fmt: skip
# What Meta answers when ``fields`` is not given.
DEFAULT_PHONE_NUMBER_FIELDS: Final = (
    "verified_name", "code_verification_status", "display_phone_number", "quality_rating",
    "platform_type", "throughput", "id",
)  # fmt: skip
SIMULATOR_APP: Final = {"id": "100000000000009", "name": "WazyBot Simulator"}


@dataclass
class PhoneNumber:
    """A business phone number as the Graph API describes it."""

    id: str
    display_phone_number: str
    verified_name: str = "Simulated Business"
    quality_rating: str = "GREEN"

    def as_json(self, fields: tuple[str, ...]) -> dict[str, Any]:
        every: dict[str, Any] = {
            "id": self.id,
            "display_phone_number": self.display_phone_number,
            "verified_name": self.verified_name,
            "quality_rating": self.quality_rating,
            "code_verification_status": "VERIFIED",
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"},
            "messaging_limit_tier": "TIER_1K",
            "account_mode": "LIVE",
        }
        return {name: every[name] for name in (*fields, "id")}


@dataclass
class SimulatorState:
    clock: Clock = time.time
    requests: list[RecordedRequest] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    media: dict[str, Media] = field(default_factory=dict)
    # recipient (phone digits or BSUID) -> time of the customer's last message
    last_inbound: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    undelivered: set[str] = field(default_factory=set)  # wamids whose send ends "failed"
    default_outcome: Outcome = field(default_factory=Outcome)
    phone_numbers: dict[str, PhoneNumber] = field(default_factory=dict)  # described ones
    webhooks_subscribed: bool = True  # what GET /{waba_id}/subscribed_apps answers
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> str:
        return str(10**15 + next(self._ids))

    # -- the 24-hour window -------------------------------------------------------------

    def customer_wrote(self, customer: str, at: float | None = None) -> None:
        """The customer wrote at ``at`` (now by default): their window runs from their newest
        message, so a message delivered late never closes a window a newer one opened."""
        key = customer_key(customer)
        written = self.clock() if at is None else at
        self.last_inbound[key] = max(written, self.last_inbound.get(key, written))

    def set_window(self, customer: str, *, open_: bool) -> None:
        """Make the simulator know ``customer``: inside the window now, or outside it."""
        now = self.clock()
        self.last_inbound[customer_key(customer)] = now if open_ else now - WINDOW_SECONDS - 1

    def window_closed(self, customer: str) -> bool:
        """True only for a customer the simulator knows whose last message is over 24 h old."""
        last = self.last_inbound.get(customer)
        return last is not None and self.clock() - last > WINDOW_SECONDS

    # -- templates ----------------------------------------------------------------------

    def find_template(self, name: str, language: str) -> Template | None:
        for template in self.templates:
            if template.name == name and template.language == language:
                return template
        return None

    def add_template(self, template: Template) -> Template:
        existing = self.find_template(template.name, template.language)
        if existing is not None:
            self.templates.remove(existing)
        self.templates.append(template)
        return template

    # -- media --------------------------------------------------------------------------

    def add_media(
        self,
        content: bytes,
        mime_type: str,
        filename: str | None = None,
        *,
        media_id: str | None = None,
    ) -> Media:
        media = Media(media_id or self.next_id(), content, mime_type, filename)
        self.media[media.id] = media
        return media

    # -- outcomes -----------------------------------------------------------------------

    def outcome_for(self, recipient: str) -> Outcome:
        return self.outcomes.get(customer_key(recipient), self.default_outcome)

    # -- the request log ----------------------------------------------------------------

    def record(self, method: str, path: str, body: Any) -> RecordedRequest:
        entry = RecordedRequest(method, path, body, self.clock())
        self.requests.append(entry)
        return entry

    def accepted_sends(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.wamid is not None]

    def max_sends_in_one_second(self) -> int:
        """The most accepted sends whose arrival times fit in any window of one second."""
        times = sorted(r.received_at for r in self.accepted_sends())
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best
