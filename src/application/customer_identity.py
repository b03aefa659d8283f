"""Which customer each identifier of a business number names, and claiming new ones.

An identifier's stream (``customer-<number>-<identifier>``) holds link events;
its last one names the owner. A delivery that meets a new identifier appends a
link to that stream with the version it read (NO_STREAM for a new one) in the
same atomic append as its own events: the event store's unique (stream,
version) makes two concurrent first claims conflict, and the loser reloads and
routes again. Owners already read are cached per process.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from application.event_log import NO_STREAM, AppendRequest, AppendResult, NewEvent
from application.ports import EventStore
from domain.customer import (
    FIRST_SEEN,
    TAKEN_OVER,
    CustomerIdentifierLinked,
    customer_stream,
    first_key,
    link_event_id,
    lookup_identifiers,
    routes_alone,
)
from domain.inbound import CustomerIdentity

DEFAULT_CACHE_SIZE: Final = 50_000


@dataclass(frozen=True, slots=True)
class Claim:
    customer: str
    version: int  # the identifier stream's version this claim was read (or written) at


class CustomerDirectory:
    """Reads identifier owners from the event store, remembering the ones it has seen."""

    def __init__(self, store: EventStore, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._store = store
        self._cache: OrderedDict[str, Claim] = OrderedDict()
        self._cache_size = cache_size

    async def claim_of(self, stream_id: str) -> Claim | None:
        cached = self._cache.get(stream_id)
        if cached is not None:
            self._cache.move_to_end(stream_id)
            return cached
        newest = await self._store.read_stream_backward(stream_id, None, 1)
        if not newest or not isinstance(newest[0].event, CustomerIdentifierLinked):
            return None
        claim = Claim(newest[0].event.customer, newest[0].version)
        self.remember(stream_id, claim)
        return claim

    def remember(self, stream_id: str, claim: Claim) -> None:
        self._cache[stream_id] = claim
        self._cache.move_to_end(stream_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget(self, stream_id: str) -> None:
        self._cache.pop(stream_id, None)


@dataclass(slots=True)
class IdentityPlan:
    """The customers of one delivery and the link events it must append with them."""

    directory: CustomerDirectory
    links: dict[str, tuple[NewEvent, int]] = field(default_factory=dict)  # stream -> (event, v)

    async def customer_of(
        self, business_id: str, phone_number_id: str, identity: CustomerIdentity
    ) -> str:
        """The customer's key: the owner of its most specific known identifier, else a new key.

        A username decides only when it is the one identifier given. Every identifier
        no one owns yet is claimed for that key, and a username another customer held
        passes to this one.
        """
        identifiers = lookup_identifiers(identity)
        owners = [await self._owner(phone_number_id, i) for i in identifiers]
        deciding = [owner for identifier, owner in zip(identifiers, owners, strict=True)
                    if owner and (routes_alone(identifier) or len(identifiers) == 1)]  # fmt: skip
        key = deciding[0].customer if deciding else first_key(identity)
        for identifier, owner in zip(identifiers, owners, strict=True):
            if owner is None:
                self._link(business_id, phone_number_id, identifier, key, FIRST_SEEN, NO_STREAM)
            elif owner.customer != key and not routes_alone(identifier):
                # The username passed to this customer: it names them from now on.
                cause = f"{TAKEN_OVER}{owner.version}"
                self._link(business_id, phone_number_id, identifier, key, cause, owner.version)
        return key

    async def move(
        self,
        business_id: str,
        phone_number_id: str,
        identity: CustomerIdentity,
        key: str,
        cause: str,
    ) -> None:
        """Point these identifiers at ``key`` from now on (a changed number or user id)."""
        for identifier in lookup_identifiers(identity):
            owner = await self._owner(phone_number_id, identifier)
            if owner is None or owner.customer != key:
                version = owner.version if owner else NO_STREAM
                self._link(business_id, phone_number_id, identifier, key, cause, version)

    def requests(self) -> list[AppendRequest]:
        return [AppendRequest(stream, [event], version)
                for stream, (event, version) in self.links.items()]  # fmt: skip

    def settle(self, results: list[AppendResult]) -> None:
        """The links are stored: remember the ones this delivery wrote as their owners."""
        by_stream = {r.stream_id: r for r in results}
        for stream, (new_event, _version) in self.links.items():
            event = new_event.event
            result = by_stream.get(stream)
            if isinstance(event, CustomerIdentifierLinked) and result and result.appended:
                self.directory.remember(stream, Claim(event.customer, result.stream_version))
            else:  # stored by someone else before: read it again when needed
                self.directory.forget(stream)

    async def _owner(self, phone_number_id: str, identifier: str) -> Claim | None:
        stream = customer_stream(phone_number_id, identifier)
        planned = self.links.get(stream)
        if planned is not None:
            event = planned[0].event
            assert isinstance(event, CustomerIdentifierLinked)
            return Claim(event.customer, planned[1])
        return await self.directory.claim_of(stream)

    def _link(
        self,
        business_id: str,
        phone_number_id: str,
        identifier: str,
        key: str,
        cause: str,
        version: int,
    ) -> None:
        stream = customer_stream(phone_number_id, identifier)
        planned = self.links.get(stream)
        expected = planned[1] if planned is not None else version
        event = CustomerIdentifierLinked(
            business_id=business_id, phone_number_id=phone_number_id,
            identifier=identifier, customer=key, cause=cause,
        )  # fmt: skip
        new_event = NewEvent(event, link_event_id(phone_number_id, identifier, key, cause))
        self.links[stream] = (new_event, expected)
