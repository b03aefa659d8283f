"""An in-memory Graph API for the connection checks: tokens, numbers, accounts, outages."""

from __future__ import annotations

from dataclasses import dataclass, field

from application.connection_status import PhoneNumberInfo, ProbeOutcome, ProbeResult


@dataclass
class InMemoryConnectionProbe:
    """Answers as Meta would: an unknown token first, then an object this token may not use.

    ``numbers`` maps a phone number id to the token that may use it; ``accounts`` a
    business account id to how many apps receive its webhooks. ``unreachable`` makes every
    call go unanswered; ``forced`` answers one outcome (e.g. a missing permission) to all.
    """

    tokens: set[str] = field(default_factory=set)
    numbers: dict[str, str] = field(default_factory=dict)
    described: dict[str, PhoneNumberInfo] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)
    unreachable: bool = False
    forced: ProbeResult | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)  # (kind, id), never tokens

    def add_number(
        self, phone_number_id: str, token: str, info: PhoneNumberInfo | None = None
    ) -> None:
        self.tokens.add(token)
        self.numbers[phone_number_id] = token
        if info is not None:
            self.described[phone_number_id] = info

    async def phone_number(self, phone_number_id: str, access_token: str) -> ProbeResult:
        self.calls.append(("phone_number", phone_number_id))
        refused = self._refused(access_token)
        if refused is not None:
            return refused
        if self.numbers.get(phone_number_id) != access_token:
            return ProbeResult(ProbeOutcome.NOT_FOUND, code=100)
        info = self.described.get(phone_number_id, PhoneNumberInfo(phone_number_id))
        return ProbeResult(ProbeOutcome.OK, phone=info)

    async def subscribed_apps(self, account_id: str, access_token: str) -> ProbeResult:
        self.calls.append(("subscribed_apps", account_id))
        refused = self._refused(access_token)
        if refused is not None:
            return refused
        if account_id not in self.accounts:
            return ProbeResult(ProbeOutcome.NOT_FOUND, code=100)
        return ProbeResult(ProbeOutcome.OK, subscribed_apps=self.accounts[account_id])

    def _refused(self, access_token: str) -> ProbeResult | None:
        if self.unreachable:
            return ProbeResult(ProbeOutcome.UNREACHABLE)
        if self.forced is not None:
            return self.forced
        if access_token not in self.tokens:
            return ProbeResult(ProbeOutcome.TOKEN_INVALID, code=190)
        return None
