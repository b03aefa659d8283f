"""An in-memory business directory for service tests."""

from __future__ import annotations

from collections.abc import Iterable

from application.businesses import Business, BusinessRoute


class InMemoryBusinessDirectory:
    def __init__(self, businesses: Iterable[Business] = ()) -> None:
        self._numbers: dict[str, BusinessRoute] = {}
        self._accounts: dict[str, BusinessRoute] = {}
        for business in businesses:
            self.add(business)

    def add(self, business: Business) -> None:
        for number in business.phone_number_ids:
            self._numbers[number] = business.route()
        if business.account_id:
            self._accounts[business.account_id] = business.route()

    async def by_phone_number(self, phone_number_id: str) -> BusinessRoute | None:
        return self._numbers.get(phone_number_id)

    async def by_account(self, account_id: str) -> BusinessRoute | None:
        return self._accounts.get(account_id)
