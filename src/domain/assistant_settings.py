"""A business's assistant settings: the value, its defaults, its rules, and its one event.

The settings live in their own stream (``assistant-settings-<business id>``) as
``AssistantSettingsChanged`` events, each carrying only the fields that changed. The
current value is the defaults with every recorded change applied in order, so a field a
business never set follows the product's current default (a better default fallback
message reaches everyone who kept the old one).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from typing import Any, Final, Literal, TypeAlias

import msgspec

from domain.events import DomainEvent, deterministic_event_id
from domain.setting_changes import SettingChanges

SETTINGS_STREAM_PREFIX: Final = "assistant-settings-"

ReplyLanguage: TypeAlias = Literal["auto", "fr", "en"]
LANGUAGES: Final[tuple[ReplyLanguage, ...]] = ("auto", "fr", "en")

MIN_FAILURES: Final = 1
MAX_FAILURES: Final = 10
MAX_KEYWORDS: Final = 50
MAX_KEYWORD_LENGTH: Final = 60
MAX_INSTRUCTIONS_LENGTH: Final = 4000
MAX_BUSINESS_HOURS_LENGTH: Final = 500
MAX_MESSAGE_LENGTH: Final = 1000  # well under WhatsApp's 4096 for a text body
MAX_PAUSE_MINUTES: Final = 7 * 24 * 60
DEFAULT_PAUSE_MINUTES: Final = 12 * 60

# French puts a space before "?" and ":"; a no-break one keeps them off a line of their own.
DEFAULT_FALLBACK_FR: Final = (
    "Désolé, je ne peux pas vous répondre pour le moment. Pouvez-vous réessayer dans "
    "quelques instants\u00a0?"
)
DEFAULT_FALLBACK_EN: Final = (
    "Sorry, I can't answer right now. Could you try again in a few moments?"
)
DEFAULT_HANDOFF_FR: Final = (
    "Merci pour votre patience\u00a0: un membre de notre équipe va prendre le relais et vous "
    "répondre ici dès que possible."
)
DEFAULT_HANDOFF_EN: Final = (
    "Thanks for your patience: a member of our team will take over and reply here as soon "
    "as possible."
)

_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain(text: str) -> str:
    """Lowercase words without accents or punctuation, one space apart."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", bare).split())


class AssistantSettingsError(ValueError):
    """A setting's value is refused; ``field`` names it (as the API and the event name it)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class AssistantSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the assistant behaves for one business."""

    auto_reply: bool = True
    language: ReplyLanguage = "auto"  # auto: the customer's language, detected per message
    escalation_keywords: tuple[str, ...] = ()
    max_consecutive_failures: int = 2
    business_hours: str = ""
    instructions: str = ""
    fallback_message_fr: str = DEFAULT_FALLBACK_FR
    fallback_message_en: str = DEFAULT_FALLBACK_EN
    handoff_message_fr: str = DEFAULT_HANDOFF_FR
    handoff_message_en: str = DEFAULT_HANDOFF_EN
    pause_after_human_minutes: int = DEFAULT_PAUSE_MINUTES
    # Always off for now: nothing can be sent to a group, so a group conversation gets no
    # automatic reply. A change that turned it on is refused; one stored before that still
    # loads, and has no effect.
    group_auto_replies: bool = False

    def apply(self, changes: SettingsChanges) -> AssistantSettings:
        return msgspec.structs.replace(self, **changes.given())

    def fallback_message(self, language: Literal["fr", "en"]) -> str:
        return self.fallback_message_fr if language == "fr" else self.fallback_message_en

    def handoff_message(self, language: Literal["fr", "en"]) -> str:
        return self.handoff_message_fr if language == "fr" else self.handoff_message_en

    def reply_language(self, detected: Literal["fr", "en"]) -> Literal["fr", "en"]:
        """The language to answer in: the business's fixed choice, else the customer's."""
        return detected if self.language == "auto" else self.language

    def escalation_keyword_in(self, text: str) -> str | None:
        """The first escalation keyword ``text`` holds as whole words, ignoring case and
        accents ("Réclamation" matches "reclamation"); None when it holds none."""
        words = f" {_plain(text)} "
        for keyword in self.escalation_keywords:
            if f" {_plain(keyword)} " in words:
                return keyword
        return None


UNSET: Final = msgspec.UNSET
Unset: TypeAlias = msgspec.UnsetType


class SettingsChanges(SettingChanges, frozen=True, kw_only=True):
    """Some settings' new values; a field left UNSET keeps its value (and is not stored)."""

    auto_reply: bool | Unset = UNSET
    language: ReplyLanguage | Unset = UNSET
    escalation_keywords: tuple[str, ...] | Unset = UNSET
    max_consecutive_failures: int | Unset = UNSET
    business_hours: str | Unset = UNSET
    instructions: str | Unset = UNSET
    fallback_message_fr: str | Unset = UNSET
    fallback_message_en: str | Unset = UNSET
    handoff_message_fr: str | Unset = UNSET
    handoff_message_en: str | Unset = UNSET
    pause_after_human_minutes: int | Unset = UNSET
    group_auto_replies: bool | Unset = UNSET


class AssistantSettingsChanged(DomainEvent, frozen=True, tag="assistant.settings_changed"):
    """Some of a business's assistant settings changed; ``changes`` holds only those."""

    business_id: str
    changes: SettingsChanges


def settings_stream(business_id: str) -> str:
    return f"{SETTINGS_STREAM_PREFIX}{business_id}"


def settings_changed_event_id(
    business_id: str, version: int, changes: SettingsChanges
) -> uuid.UUID:
    """The same change offered twice at the same stream version is stored once."""
    digest = hashlib.sha256(msgspec.json.encode(changes)).hexdigest()
    return deterministic_event_id("assistant_settings", business_id, str(version), digest)


def evolve(settings: AssistantSettings, event: DomainEvent) -> AssistantSettings:
    if isinstance(event, AssistantSettingsChanged):
        return settings.apply(event.changes)
    return settings


def validated(changes: SettingsChanges) -> SettingsChanges:
    """The changes with text trimmed and keywords tidied; AssistantSettingsError names the
    first field that is wrong."""
    tidy: dict[str, Any] = {}
    for name, value in changes.given().items():
        tidy[name] = _VALIDATORS[name](name, value)
    return SettingsChanges(**tidy)


def _flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise AssistantSettingsError(field, "must be true or false")
    return value


def _groups_off(field: str, value: Any) -> bool:
    if _flag(field, value):
        raise AssistantSettingsError(
            field,
            "cannot be turned on: WazyBot cannot send to groups yet, so group conversations"
            " get no automatic replies",
        )
    return False


def _language(field: str, value: Any) -> ReplyLanguage:
    for language in LANGUAGES:
        if value == language:
            return language
    raise AssistantSettingsError(field, "must be auto (the customer's language), fr or en")


def _number(low: int, high: int, unit: str) -> Any:
    def check(field: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise AssistantSettingsError(
                field, f"must be a whole number from {low} to {high}{unit}"
            )
        return value

    return check


def _text(limit: int, *, required: bool) -> Any:
    def check(field: str, value: Any) -> str:
        if not isinstance(value, str):
            raise AssistantSettingsError(field, "must be text")
        text = value.strip()
        if required and not text:
            raise AssistantSettingsError(field, "must not be empty")
        if len(text) > limit:
            raise AssistantSettingsError(
                field, f"must be at most {limit} characters (it has {len(text)})"
            )
        if _CONTROL.search(text):
            raise AssistantSettingsError(field, "must not hold control characters")
        return text

    return check


def _keywords(field: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise AssistantSettingsError(field, "must be a list of words or phrases")
    kept: dict[str, str] = {}
    for raw in value:
        if not isinstance(raw, str):
            raise AssistantSettingsError(field, "must be a list of words or phrases")
        keyword = " ".join(raw.split())
        if not keyword:
            continue  # "a,,b" or a trailing comma: nothing meant
        if len(keyword) > MAX_KEYWORD_LENGTH:
            raise AssistantSettingsError(
                field, f"{keyword[:20]!r}... is longer than {MAX_KEYWORD_LENGTH} characters"
            )
        if _CONTROL.search(keyword):
            raise AssistantSettingsError(field, "must not hold control characters")
        kept.setdefault(keyword.casefold(), keyword)
    if len(kept) > MAX_KEYWORDS:
        raise AssistantSettingsError(field, f"must hold at most {MAX_KEYWORDS} keywords")
    return tuple(kept.values())


_VALIDATORS: Final[dict[str, Any]] = {
    "auto_reply": _flag,
    "language": _language,
    "escalation_keywords": _keywords,
    "max_consecutive_failures": _number(MIN_FAILURES, MAX_FAILURES, ""),
    "business_hours": _text(MAX_BUSINESS_HOURS_LENGTH, required=False),
    "instructions": _text(MAX_INSTRUCTIONS_LENGTH, required=False),
    "fallback_message_fr": _text(MAX_MESSAGE_LENGTH, required=True),
    "fallback_message_en": _text(MAX_MESSAGE_LENGTH, required=True),
    "handoff_message_fr": _text(MAX_MESSAGE_LENGTH, required=True),
    "handoff_message_en": _text(MAX_MESSAGE_LENGTH, required=True),
    "pause_after_human_minutes": _number(0, MAX_PAUSE_MINUTES, " minutes"),
    "group_auto_replies": _groups_off,
}
