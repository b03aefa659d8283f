"""Is the business's WhatsApp connection working? Three checks against Meta, in plain words.

The Graph API is asked (through the ``ConnectionProbe`` port) whether the stored access
token is accepted, whether each phone number exists for that token, and whether an app
receives the WhatsApp Business Account's webhooks. Each answer becomes a check with a
sentence a business owner can act on; an access token never appears in one. Each check
also carries the ``reason`` (a stable code) and ``facts`` its sentence is written from
(``sentence`` over ``SENTENCES``), so the dashboard can say the same in another language.

A result is kept per business for a short while (``OK_TTL``, shorter when something is
wrong: ``FAILED_TTL``), so that a dashboard refreshing every few seconds does not call
Meta each time; changing the business's numbers, account or token checks again at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Final, Literal, Protocol, cast

import msgspec
import structlog

from application.businesses import Business
from application.gateway import AccessTokenUnreadableError
from application.read_models import View, doc

log = structlog.get_logger(__name__)

CheckName = Literal["access_token", "phone_number", "webhook_subscription"]
CheckState = Literal["ok", "failed", "unknown"]
Mode = Literal["sandbox", "live"]
MODES: Final = ("sandbox", "live")
OK_TTL: Final = timedelta(seconds=30)
FAILED_TTL: Final = timedelta(seconds=5)

ACCESS_HOW: Final = (
    "store one with `wazybot business update {business} --access-token-stdin` "
    "(or set WHATSAPP_ACCESS_TOKEN for the default business)"
)
ACCOUNT_HOW: Final = (
    "set WHATSAPP_BUSINESS_ACCOUNT_ID (default business) or run "
    "`wazybot business update {business} --account-id ID`"
)
_META_ERROR: Final = "Meta answered with an error"
_AGAIN: Final = ". Try again in a few minutes."

# What each reason says, in English, with the facts it names as {placeholders}. The API's
# ``detail`` is written from these; the dashboard's English catalog takes them as they are
# and its French catalog holds the same keys. A key with a suffix is a variant of its reason:
# ``.sandbox`` when the built-in simulator answered instead of Meta (written from the live
# text below), ``.one`` for a single app, ``.code``/``.message``/``.bare`` for what Meta's
# error named, ``.item*``/``.separator`` the pieces of the numbers' list.
_LIVE: Final[dict[str, str]] = {
    "no_token": f"No WhatsApp access token is stored for this business: {ACCESS_HOW}.",
    "token_unreadable": (
        "The stored access token cannot be read ({problem}). Fix WAZYBOT_SECRET_KEY, "
        f"or {ACCESS_HOW}."
    ),
    "needs_token": "Not checked: an access token is needed first.",
    "needs_working_token": "Not checked: the access token must work first.",
    "token_refused": (
        "Meta refused the access token: it is invalid or has expired. Create a new one "
        f"(a system user token does not expire) and {ACCESS_HOW}."
    ),
    "token_permission_missing": (
        "The access token lacks a permission: it needs whatsapp_business_messaging and "
        "whatsapp_business_management. Give them to the token's system user or app, "
        f"then {ACCESS_HOW}."
    ),
    "token_accepted": "Meta accepts the access token.",
    "graph_unreachable": (
        "Meta's Graph API did not answer (network error or timeout): check this server's "
        "internet access and WHATSAPP_GRAPH_URL, then try again."
    ),
    "graph_error": _META_ERROR + " (code {code}): {message}" + _AGAIN,
    "graph_error.code": _META_ERROR + " (code {code})" + _AGAIN,
    "graph_error.message": _META_ERROR + ": {message}" + _AGAIN,
    "graph_error.bare": _META_ERROR + _AGAIN,
    "numbers_unknown": (
        "Meta does not know phone number id {numbers}, or this access token may not use "
        "it. Copy the id from WhatsApp Manager (API Setup shows it) and check that the "
        "token belongs to the same WhatsApp Business Account."
    ),
    "numbers_known": "Meta knows {numbers}.",
    "numbers_known.item": "{number}",
    "numbers_known.item_named": "{number} ({name})",
    "numbers_known.item_rated": "{number}, quality {quality}",
    "numbers_known.item_named_rated": "{number} ({name}), quality {quality}",
    "numbers_known.separator": "; ",
    "no_account_id": (
        "Not checked: this business has no WhatsApp Business Account id. To check that "
        f"customers' messages reach WazyBot, {ACCOUNT_HOW}."
    ),
    "subscribed": "{apps} apps receive the webhooks of WhatsApp Business Account {account}.",
    "subscribed.one": "1 app receives the webhooks of WhatsApp Business Account {account}.",
    "not_subscribed": (
        "No app receives the webhooks of WhatsApp Business Account {account}, so "
        "customers' messages never reach WazyBot. Subscribe your app: in Meta's App "
        "Dashboard, WhatsApp > Configuration, or POST /{account}/subscribed_apps with the "
        "access token."
    ),
    "account_unknown": (
        "Meta does not know WhatsApp Business Account {account}, or this access token "
        f"may not use it. Check the id in WhatsApp Manager, then {ACCOUNT_HOW}."
    ),
    "subscription_permission_missing": (
        "The access token may not read this account's webhook subscriptions: it needs "
        "the whatsapp_business_management permission."
    ),
    "account_token_refused": (
        "Meta refused the access token for this account: it is invalid or has expired."
    ),
}

REASONS: Final = tuple(key for key in _LIVE if "." not in key)
"""Every ``ConnectionCheck.reason`` the service gives, one per distinct sentence."""

_META: Final = re.compile(r"\bMeta's Graph API\b|\bMeta's\b|\bMeta\b")


def _simulated(text: str) -> str:
    """The same sentence when the built-in simulator answers: it never says "Meta"."""

    def named(match: re.Match[str]) -> str:
        name = "the built-in simulator" + ("'s" if match.group(0) == "Meta's" else "")
        at_start = match.start() == 0 or text[: match.start()].rstrip().endswith(".")
        return name[0].upper() + name[1:] if at_start else name

    return _META.sub(named, text)


SENTENCES: Final[dict[str, str]] = {
    **_LIVE,
    **{f"{key}.sandbox": _simulated(text) for key, text in _LIVE.items() if _META.search(text)},
}
"""Every reason's English words and their variants (see ``sentence``)."""


def sentence(
    reason: str, facts: Mapping[str, str], words: Mapping[str, str], *, sandbox: bool = False
) -> str | None:
    """What a check with this reason and these facts says in the language of ``words``
    (``SENTENCES`` or a catalog with the same keys); None when ``words`` has no sentence
    for the reason (a reason newer than the catalog) or the facts lack one it names.

    The chosen text is the first of these that ``words`` holds and whose placeholders the
    facts fill: the reason's sandbox variant (in sandbox mode), then the reason itself, each
    with its variants first (``.one``; ``.code``, ``.message``, ``.bare``)."""
    values = dict(facts)
    if reason == "numbers_known" and "count" in facts:
        listed = _listed_numbers(facts, words)
        if listed is None:
            return None
        values["numbers"] = listed
    variants = [""]
    if reason == "subscribed" and facts.get("apps") == "1":
        variants = [".one", ""]
    elif reason == "graph_error":
        variants = ["", ".code", ".message", ".bare"]
    for mode in (".sandbox", "") if sandbox else ("",):
        for variant in variants:
            text = _filled(words.get(reason + variant + mode), values)
            if text is not None:
                return text
    return None


def _filled(template: str | None, values: Mapping[str, str]) -> str | None:
    if template is None:
        return None
    named = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if not named <= values.keys():
        return None
    return template.format(**values)


def _listed_numbers(facts: Mapping[str, str], words: Mapping[str, str]) -> str | None:
    """The numbers of a ``numbers_known`` check, as ``words`` lists them."""
    try:
        count = int(facts["count"])
    except ValueError:
        return None
    parts = []
    for index in range(1, count + 1):
        number = facts.get(f"number_{index}")
        if number is None:
            return None
        item = {"number": number}
        kind = "item"
        if f"name_{index}" in facts:
            item["name"] = facts[f"name_{index}"]
            kind += "_named"
        if f"quality_{index}" in facts:
            item["quality"] = facts[f"quality_{index}"]
            kind += "_rated"
        part = _filled(words.get(f"numbers_known.{kind}"), item)
        if part is None:
            return None
        parts.append(part)
    return words.get("numbers_known.separator", "; ").join(parts)


class ConnectionCheck(View, frozen=True):
    """One thing checked with Meta."""

    name: Annotated[
        CheckName,
        doc(
            "access_token: Meta accepts the business's stored access token; phone_number: "
            "every phone number id of the business exists and this token may use it; "
            "webhook_subscription: an app receives the WhatsApp Business Account's webhooks "
            "(without one, customers' messages never arrive)."
        ),
    ]
    state: Annotated[
        CheckState,
        doc(
            "ok; failed (detail says what to fix); unknown (it could not be checked: Meta "
            "did not answer, an earlier check failed, or a setting is missing)."
        ),
    ]
    detail: Annotated[
        str,
        doc(
            "One or two sentences (in English) saying what was found and what to do; "
            "written from reason and facts."
        ),
    ]
    reason: Annotated[
        str,
        doc(
            "What was found, as a stable code (one per distinct sentence), for a client that "
            "writes its own words: " + ", ".join(REASONS) + ". Empty in a result from before "
            "reasons existed."
        ),
    ] = ""
    facts: Annotated[
        dict[str, str],
        doc(
            "The values the sentence names, by name: business (its id, in what to run), "
            "problem (why a stored token cannot be read), code and message (Meta's error), "
            "numbers (the phone number ids Meta does not know; for numbers_known the numbers "
            "as the English sentence lists them, and count with number_N, name_N and "
            "quality_N for each, N from 1), apps (how many apps receive the webhooks), "
            "account (the WhatsApp Business Account id). A fact Meta did not give is absent."
        ),
    ] = msgspec.field(default_factory=dict)


class ConnectionStatus(View, frozen=True):
    """The business's WhatsApp connection, as Meta's Graph API answered a moment ago."""

    mode: Annotated[
        Mode,
        doc("live: the business's real number through Meta; sandbox: a simulated number."),
    ]
    business_id: Annotated[str, doc("The business's id.")]
    business_name: Annotated[str, doc("The business's name.")]
    phone_number_ids: Annotated[list[str], doc("Meta's ids of the numbers it owns.")]
    connected: Annotated[
        bool,
        doc(
            "True when the access token and every phone number are ok and the webhook "
            "subscription did not fail (it may be unknown when no account id is set)."
        ),
    ]
    checks: Annotated[
        list[ConnectionCheck],
        doc("access_token, phone_number and webhook_subscription, in that order."),
    ]
    checked_at: Annotated[
        datetime,
        doc(
            "When Meta was asked. Results are reused for up to 30 s (5 s when something is "
            "wrong), so this may be a few seconds old."
        ),
    ]


# -- the port ---------------------------------------------------------------------------------


class ProbeOutcome(StrEnum):
    """What one Graph API call found, in terms of Meta's error codes."""

    OK = "ok"
    TOKEN_INVALID = "token_invalid"  # noqa: S105 - 190 or HTTP 401: invalid or expired
    NOT_FOUND = "not_found"  # 100, 803, 33: no such object, or not for this token
    PERMISSION_MISSING = "permission_missing"  # 10, 200-299: the token lacks a permission
    UNREACHABLE = "unreachable"  # no answer: network error, timeout
    OTHER_ERROR = "other_error"  # anything else Meta answered (throttling, outage, ...)


@dataclass(frozen=True, slots=True)
class PhoneNumberInfo:
    display_phone_number: str | None = None
    verified_name: str | None = None
    quality_rating: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    outcome: ProbeOutcome
    code: int | None = None  # Meta's error code, when it answered one
    message: str | None = None  # Meta's message (never holding the token), for other errors
    phone: PhoneNumberInfo | None = None  # phone_number() only, when ok
    subscribed_apps: int = 0  # subscribed_apps() only, when ok

    @property
    def ok(self) -> bool:
        return self.outcome is ProbeOutcome.OK


class ConnectionProbe(Protocol):
    """The Graph API calls behind the checks. Never raises for what Meta answers."""

    async def phone_number(self, phone_number_id: str, access_token: str) -> ProbeResult:
        """GET /{phone_number_id}: the token is valid and may use this number."""
        ...

    async def subscribed_apps(self, account_id: str, access_token: str) -> ProbeResult:
        """GET /{account_id}/subscribed_apps: how many apps receive its webhooks."""
        ...


class StatusBusinesses(Protocol):
    async def get(self, business_id: str) -> Business | None: ...

    async def access_token_of(self, business_id: str) -> str | None: ...


class UnknownBusinessError(LookupError):
    """No active business has that id."""


# -- the service ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Cached:
    fingerprint: str
    status: ConnectionStatus
    until: datetime


@dataclass(slots=True)
class _Token:
    value: str | None
    problem: str | None = None  # why a stored token could not be read


class ConnectionStatusService:
    def __init__(
        self,
        checker: ConnectionProbe,
        businesses: StatusBusinesses,
        mode: str,
        clock: Callable[[], datetime],
        *,
        ok_ttl: timedelta = OK_TTL,
        failed_ttl: timedelta = FAILED_TTL,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self._checker = checker
        self._businesses = businesses
        self._mode = cast(Mode, mode)
        self._clock = clock
        self._ok_ttl = ok_ttl
        self._failed_ttl = failed_ttl
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def mode(self) -> Mode:
        return self._mode

    async def status(self, business_id: str) -> ConnectionStatus:
        """The business's connection; UnknownBusinessError when no active business has the id.

        Concurrent callers for one business share one round of Graph calls.
        """
        async with self._locks.setdefault(business_id, asyncio.Lock()):
            business = await self._businesses.get(business_id)
            if business is None or business.removed_at is not None:
                self._cache.pop(business_id, None)
                raise UnknownBusinessError(f"no active business {business_id!r}")
            token = await self._token(business_id)
            fingerprint = _fingerprint(business, token)
            cached = self._cache.get(business_id)
            if cached and cached.fingerprint == fingerprint and self._clock() < cached.until:
                return cached.status
            status = await self._check(business, token)
            ttl = self._ok_ttl if status.connected else self._failed_ttl
            self._cache[business_id] = _Cached(fingerprint, status, status.checked_at + ttl)
            # One "name:state" string per check (a mapping's keys would be taken for secrets
            # by the log's redaction, since one is named access_token).
            log.info("connection.checked", business_id=business_id, connected=status.connected,
                     checks=[f"{c.name}:{c.state}" for c in status.checks])  # fmt: skip
            return status

    async def _token(self, business_id: str) -> _Token:
        try:
            return _Token(await self._businesses.access_token_of(business_id))
        except AccessTokenUnreadableError as error:  # a key that does not open the token
            log.error("connection.token_unavailable", business_id=business_id,
                      error=type(error).__name__)  # fmt: skip
            return _Token(None, str(error))

    async def _check(self, business: Business, token: _Token) -> ConnectionStatus:
        checked_at = self._clock()
        if token.value is None:
            checks = _without_token(business, token.problem)
        else:
            checks = await self._with_token(business, token.value)
        if self._mode == "sandbox":
            checks = [_in_sandbox(check) for check in checks]
        token_check, number_check, webhook_check = checks
        connected = (
            token_check.state == number_check.state == "ok" and webhook_check.state != "failed"
        )
        return ConnectionStatus(
            mode=self._mode,
            business_id=business.id,
            business_name=business.name,
            phone_number_ids=list(business.phone_number_ids),
            connected=connected,
            checks=checks,
            checked_at=checked_at,
        )

    async def _with_token(self, business: Business, token: str) -> list[ConnectionCheck]:
        numbers = business.phone_number_ids
        results = await asyncio.gather(
            *(self._checker.phone_number(number, token) for number in numbers)
        )
        token_check = _token_check(business, results)
        number_check = _number_check(numbers, results, token_check)
        webhook_check = await self._webhook_check(business, token, token_check)
        return [token_check, number_check, webhook_check]

    async def _webhook_check(
        self, business: Business, token: str, token_check: ConnectionCheck
    ) -> ConnectionCheck:
        if business.account_id is None:
            return _check("webhook_subscription", "unknown", "no_account_id",
                          business=business.id)  # fmt: skip
        if token_check.state != "ok":
            return _check("webhook_subscription", "unknown", "needs_working_token")
        result = await self._checker.subscribed_apps(business.account_id, token)
        return _subscription_check(business, result)


# -- what each answer means, in words ---------------------------------------------------------


def _check(name: CheckName, state: CheckState, reason: str, **facts: str) -> ConnectionCheck:
    detail = sentence(reason, facts, SENTENCES)
    if detail is None:  # a reason or fact missing from SENTENCES: a mistake in this module
        raise LookupError(f"no sentence for {reason!r} with facts {sorted(facts)}")
    return ConnectionCheck(name=name, state=state, detail=detail, reason=reason, facts=facts)


def _without_token(business: Business, problem: str | None) -> list[ConnectionCheck]:
    if problem is not None:
        token = _check("access_token", "failed", "token_unreadable", problem=problem,
                       business=business.id)  # fmt: skip
    else:
        token = _check("access_token", "failed", "no_token", business=business.id)
    return [
        token,
        _check("phone_number", "unknown", "needs_token"),
        _check("webhook_subscription", "unknown", "needs_token"),
    ]


def _first(results: list[ProbeResult], outcome: ProbeOutcome) -> ProbeResult | None:
    return next((result for result in results if result.outcome is outcome), None)


def _unanswered(name: CheckName, result: ProbeResult) -> ConnectionCheck:
    """Meta did not answer, or answered an error that says nothing about the check."""
    if result.outcome is ProbeOutcome.UNREACHABLE:
        return _check(name, "unknown", "graph_unreachable")
    facts: dict[str, str] = {}
    if result.code is not None:
        facts["code"] = str(result.code)
    if result.message:
        facts["message"] = result.message
    return _check(name, "unknown", "graph_error", **facts)


def _token_check(business: Business, results: list[ProbeResult]) -> ConnectionCheck:
    if _first(results, ProbeOutcome.TOKEN_INVALID):
        return _check("access_token", "failed", "token_refused", business=business.id)
    if _first(results, ProbeOutcome.PERMISSION_MISSING):
        return _check("access_token", "failed", "token_permission_missing",
                      business=business.id)  # fmt: skip
    if any(r.ok or r.outcome is ProbeOutcome.NOT_FOUND for r in results):
        return _check("access_token", "ok", "token_accepted")
    unreachable = _first(results, ProbeOutcome.UNREACHABLE)
    other = _first(results, ProbeOutcome.OTHER_ERROR) or ProbeResult(ProbeOutcome.OTHER_ERROR)
    return _unanswered("access_token", unreachable or other)


def _number_check(
    numbers: tuple[str, ...], results: list[ProbeResult], token: ConnectionCheck
) -> ConnectionCheck:
    if token.state != "ok":
        return _check("phone_number", "unknown", "needs_working_token")
    missing = [n for n, r in zip(numbers, results, strict=True)
               if r.outcome is ProbeOutcome.NOT_FOUND]  # fmt: skip
    if missing:
        return _check("phone_number", "failed", "numbers_unknown", numbers=", ".join(missing))
    unanswered = [r for r in results if not r.ok]
    if unanswered:
        return _unanswered("phone_number", unanswered[0])
    return _check("phone_number", "ok", "numbers_known", **_number_facts(numbers, results))


def _number_facts(numbers: tuple[str, ...], results: list[ProbeResult]) -> dict[str, str]:
    facts = {"count": str(len(numbers))}
    for index, (number, result) in enumerate(zip(numbers, results, strict=True), start=1):
        phone = result.phone or PhoneNumberInfo()
        facts[f"number_{index}"] = phone.display_phone_number or number
        if phone.verified_name:
            facts[f"name_{index}"] = phone.verified_name
        if phone.quality_rating:
            facts[f"quality_{index}"] = phone.quality_rating
    facts["numbers"] = _listed_numbers(facts, SENTENCES) or ""
    return facts


def _subscription_check(business: Business, result: ProbeResult) -> ConnectionCheck:
    account = business.account_id or ""
    if result.ok and result.subscribed_apps > 0:
        return _check("webhook_subscription", "ok", "subscribed",
                      apps=str(result.subscribed_apps), account=account)  # fmt: skip
    if result.ok:
        return _check("webhook_subscription", "failed", "not_subscribed", account=account)
    if result.outcome is ProbeOutcome.NOT_FOUND:
        return _check("webhook_subscription", "failed", "account_unknown", account=account,
                      business=business.id)  # fmt: skip
    if result.outcome is ProbeOutcome.PERMISSION_MISSING:
        return _check("webhook_subscription", "failed", "subscription_permission_missing")
    if result.outcome is ProbeOutcome.TOKEN_INVALID:
        return _check("webhook_subscription", "failed", "account_token_refused")
    return _unanswered("webhook_subscription", result)


def _fingerprint(business: Business, token: _Token) -> str:
    """What the checks depend on; the token only as a hash (nothing keeps it in the clear)."""
    raw = "\x1f".join(
        (
            business.name,
            ",".join(business.phone_number_ids),
            business.account_id or "",
            token.value or "",
            token.problem or "",
        )
    )
    return hashlib.sha256(raw.encode()).hexdigest()  # fmt: skip


def _in_sandbox(check: ConnectionCheck) -> ConnectionCheck:
    """In sandbox mode the built-in simulator answers the checks: say so, never "Meta"."""
    detail = sentence(check.reason, check.facts, SENTENCES, sandbox=True) or check.detail
    return msgspec.structs.replace(check, detail=detail)
