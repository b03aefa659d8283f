"""Is the business's WhatsApp connection working? Three checks against Meta, in plain words.

The Graph API is asked (through the ``ConnectionProbe`` port) whether the stored access
token is accepted, whether each phone number exists for that token, and whether an app
receives the WhatsApp Business Account's webhooks. Each answer becomes a check with a
sentence a business owner can act on; an access token never appears in one.

A result is kept per business for a short while (``OK_TTL``, shorter when something is
wrong: ``FAILED_TTL``), so that a dashboard refreshing every few seconds does not call
Meta each time; changing the business's numbers, account or token checks again at once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Final, Literal, Protocol, cast

import structlog

from application.businesses import Business
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
    detail: Annotated[str, doc("One or two sentences saying what was found and what to do.")]


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
            log.info("connection.checked", business_id=business_id, connected=status.connected,
                     states={c.name: c.state for c in status.checks})  # fmt: skip
            return status

    async def _token(self, business_id: str) -> _Token:
        try:
            return _Token(await self._businesses.access_token_of(business_id))
        except Exception as error:  # a key that does not open the stored token
            log.error("connection.token_unavailable", business_id=business_id,
                      error=type(error).__name__)  # fmt: skip
            return _Token(None, str(error))

    async def _check(self, business: Business, token: _Token) -> ConnectionStatus:
        checked_at = self._clock()
        if token.value is None:
            checks = _without_token(business, token.problem)
        else:
            checks = await self._with_token(business, token.value)
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
            how = ACCOUNT_HOW.format(business=business.id)
            return _check(
                "webhook_subscription", "unknown",
                f"Not checked: this business has no WhatsApp Business Account id. To check "
                f"that customers' messages reach WazyBot, {how}.",
            )  # fmt: skip
        if token_check.state != "ok":
            return _check("webhook_subscription", "unknown",
                          "Not checked: the access token must work first.")  # fmt: skip
        result = await self._checker.subscribed_apps(business.account_id, token)
        return _subscription_check(business, result)


# -- what each answer means, in words ---------------------------------------------------------


def _check(name: CheckName, state: CheckState, detail: str) -> ConnectionCheck:
    return ConnectionCheck(name=name, state=state, detail=detail)


def _without_token(business: Business, problem: str | None) -> list[ConnectionCheck]:
    how = ACCESS_HOW.format(business=business.id)
    if problem is not None:
        detail = (f"The stored access token cannot be read ({problem}). Fix WAZYBOT_SECRET_KEY, "
                  f"or {how}.")  # fmt: skip
    else:
        detail = f"No WhatsApp access token is stored for this business: {how}."
    not_checked = "Not checked: an access token is needed first."
    return [
        _check("access_token", "failed", detail),
        _check("phone_number", "unknown", not_checked),
        _check("webhook_subscription", "unknown", not_checked),
    ]


def _first(results: list[ProbeResult], outcome: ProbeOutcome) -> ProbeResult | None:
    return next((result for result in results if result.outcome is outcome), None)


def _unreachable_text() -> str:
    return ("Meta's Graph API did not answer (network error or timeout): check this server's "
            "internet access and WHATSAPP_GRAPH_URL, then try again.")  # fmt: skip


def _other_text(result: ProbeResult) -> str:
    code = f" (code {result.code})" if result.code is not None else ""
    said = f": {result.message}" if result.message else ""
    return f"Meta answered with an error{code}{said}. Try again in a few minutes."


def _token_check(business: Business, results: list[ProbeResult]) -> ConnectionCheck:
    how = ACCESS_HOW.format(business=business.id)
    if _first(results, ProbeOutcome.TOKEN_INVALID):
        return _check(
            "access_token", "failed",
            "Meta refused the access token: it is invalid or has expired. Create a new one "
            f"(a system user token does not expire) and {how}.",
        )  # fmt: skip
    if _first(results, ProbeOutcome.PERMISSION_MISSING):
        return _check(
            "access_token", "failed",
            "The access token lacks a permission: it needs whatsapp_business_messaging and "
            "whatsapp_business_management. Give them to the token's system user or app, "
            f"then {how}.",
        )  # fmt: skip
    if any(r.ok or r.outcome is ProbeOutcome.NOT_FOUND for r in results):
        return _check("access_token", "ok", "Meta accepts the access token.")
    if _first(results, ProbeOutcome.UNREACHABLE):
        return _check("access_token", "unknown", _unreachable_text())
    other = _first(results, ProbeOutcome.OTHER_ERROR) or ProbeResult(ProbeOutcome.OTHER_ERROR)
    return _check("access_token", "unknown", _other_text(other))


def _number_check(
    numbers: tuple[str, ...], results: list[ProbeResult], token: ConnectionCheck
) -> ConnectionCheck:
    if token.state != "ok":
        return _check("phone_number", "unknown", "Not checked: the access token must work first.")
    missing = [n for n, r in zip(numbers, results, strict=True)
               if r.outcome is ProbeOutcome.NOT_FOUND]  # fmt: skip
    if missing:
        listed = ", ".join(missing)
        return _check(
            "phone_number", "failed",
            f"Meta does not know phone number id {listed}, or this access token may not use "
            "it. Copy the id from WhatsApp Manager (API Setup shows it) and check that the "
            "token belongs to the same WhatsApp Business Account.",
        )  # fmt: skip
    unanswered = [r for r in results if not r.ok]
    if unanswered:
        first = unanswered[0]
        text = (_unreachable_text() if first.outcome is ProbeOutcome.UNREACHABLE
                else _other_text(first))  # fmt: skip
        return _check("phone_number", "unknown", text)
    return _check("phone_number", "ok", _describe_numbers(numbers, results))


def _describe_numbers(numbers: tuple[str, ...], results: list[ProbeResult]) -> str:
    parts = []
    for number, result in zip(numbers, results, strict=True):
        phone = result.phone or PhoneNumberInfo()
        shown = phone.display_phone_number or number
        name = f" ({phone.verified_name})" if phone.verified_name else ""
        quality = f", quality {phone.quality_rating}" if phone.quality_rating else ""
        parts.append(f"{shown}{name}{quality}")
    return "Meta knows " + "; ".join(parts) + "."


def _subscription_check(business: Business, result: ProbeResult) -> ConnectionCheck:
    account = business.account_id
    if result.ok and result.subscribed_apps > 0:
        apps = "1 app" if result.subscribed_apps == 1 else f"{result.subscribed_apps} apps"
        return _check("webhook_subscription", "ok",
                      f"{apps} receive{'s' if result.subscribed_apps == 1 else ''} the webhooks "
                      f"of WhatsApp Business Account {account}.")  # fmt: skip
    if result.ok:
        return _check(
            "webhook_subscription", "failed",
            f"No app receives the webhooks of WhatsApp Business Account {account}, so "
            "customers' messages never reach WazyBot. Subscribe your app: in Meta's App "
            f"Dashboard, WhatsApp > Configuration, or POST /{account}/subscribed_apps with the "
            "access token.",
        )  # fmt: skip
    if result.outcome is ProbeOutcome.NOT_FOUND:
        how = ACCOUNT_HOW.format(business=business.id)
        return _check(
            "webhook_subscription", "failed",
            f"Meta does not know WhatsApp Business Account {account}, or this access token "
            f"may not use it. Check the id in WhatsApp Manager, then {how}.",
        )  # fmt: skip
    if result.outcome is ProbeOutcome.PERMISSION_MISSING:
        return _check(
            "webhook_subscription", "failed",
            "The access token may not read this account's webhook subscriptions: it needs "
            "the whatsapp_business_management permission.",
        )  # fmt: skip
    if result.outcome is ProbeOutcome.TOKEN_INVALID:
        return _check("webhook_subscription", "failed",
                      "Meta refused the access token for this account: it is invalid or has "
                      "expired.")  # fmt: skip
    if result.outcome is ProbeOutcome.UNREACHABLE:
        return _check("webhook_subscription", "unknown", _unreachable_text())
    return _check("webhook_subscription", "unknown", _other_text(result))


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
