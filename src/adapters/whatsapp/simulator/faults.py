"""Scripted faults: which Graph API calls fail, and how.

A fault matches a call by recipient (a phone number or BSUID; none means every call) and
counts the calls it matched. It fires on the nth of them (``on_attempt``), on the next
``count`` of them, or on every one. Latency only delays; the other kinds decide the answer.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from adapters.whatsapp.simulator.errors import CATALOG, THROUGHPUT_CODES, GraphError
from adapters.whatsapp.simulator.state import customer_key

DEFAULT_HOLD_SECONDS: Final = 600.0
_ids = itertools.count(1)
_T = TypeVar("_T")


class FaultKind(enum.StrEnum):
    ERROR = "error"  # answer with a Graph error code
    THROTTLE = "throttle"  # answer 429 with a throughput code
    LATENCY = "latency"  # answer late, normally
    TIMEOUT = "timeout"  # hold the request longer than any client waits
    DROP = "drop"  # close the connection without answering
    NO_MESSAGE_ID = "no_message_id"  # answer 200 but name no message id


class FaultError(ValueError):
    """A fault described wrongly (unknown kind, code, bad numbers)."""


@dataclass
class Fault:
    kind: FaultKind
    recipient: str | None = None
    code: int | None = None
    on_attempt: int | None = None
    count: int | None = None
    seconds: float = 0.0
    # Timeouts, drops, no message id: process the message anyway (Meta got it, the answer
    # was lost or named no message).
    accept: bool = False
    http_status: int | None = None
    # Errors: Meta's ``message`` and ``error_data.details`` to answer with (else generic ones).
    message: str | None = None
    details: str | None = None
    id: str = field(default_factory=lambda: f"fault-{next(_ids)}")
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.recipient is not None:
            self.recipient = customer_key(self.recipient)
        if self.on_attempt is not None and self.on_attempt < 1:
            raise FaultError("on_attempt counts from 1")
        if self.count is not None and self.count < 1:
            raise FaultError("count must be at least 1")
        if self.seconds < 0:
            raise FaultError("seconds cannot be negative")
        if self.kind is FaultKind.THROTTLE:
            self.code = self.code or 130429
            if self.code not in THROUGHPUT_CODES:
                raise FaultError(f"a throttle uses one of {sorted(THROUGHPUT_CODES)}")
            self.http_status = self.http_status or 429
        if self.kind is FaultKind.ERROR and self.code is None and self.http_status is None:
            raise FaultError("an error fault needs a code, an http_status, or both")
        if (
            self.kind is FaultKind.ERROR
            and self.code is not None
            and self.code not in CATALOG
            and (self.http_status is None or self.message is None)
        ):
            # A code Meta added since: the caller knows its status and words, the catalog not.
            raise FaultError(
                f"unknown code {self.code} (give http_status and message to answer it anyway); "
                f"known codes: {sorted(CATALOG)}"
            )
        if self.kind is FaultKind.TIMEOUT and not self.seconds:
            self.seconds = DEFAULT_HOLD_SECONDS

    def applies_to(self, recipient: str | None) -> bool:
        return self.recipient is None or self.recipient == recipient

    def fires_now(self) -> bool:
        """Count one matching call and tell whether this fault acts on it."""
        self.matched += 1
        if self.on_attempt is not None:
            hit = self.matched == self.on_attempt
        elif self.count is not None:
            hit = self.fired < self.count
        else:
            hit = True
        if hit:
            self.fired += 1
        return hit

    @property
    def spent(self) -> bool:
        if self.on_attempt is not None:
            return self.matched >= self.on_attempt
        return self.count is not None and self.fired >= self.count

    def error(self) -> GraphError:
        assert self.code is not None
        return GraphError(
            self.code,
            "simulated fault" if self.details is None else self.details,
            http_status=self.http_status,
            message=self.message,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "recipient": self.recipient,
            "code": self.code,
            "on_attempt": self.on_attempt,
            "count": self.count,
            "seconds": self.seconds,
            "accept": self.accept,
            "http_status": self.http_status,
            "message": self.message,
            "details": self.details,
            "matched": self.matched,
            "fired": self.fired,
        }

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise FaultError("a fault is a JSON object")
        allowed = {
            "kind",
            "recipient",
            "code",
            "on_attempt",
            "count",
            "seconds",
            "accept",
            "http_status",
            "message",
            "details",
        }
        unknown = set(data) - allowed
        if unknown:
            raise FaultError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        try:
            kind = FaultKind(str(data.get("kind")))
        except ValueError:
            raise FaultError(
                f"kind must be one of {', '.join(k.value for k in FaultKind)}"
            ) from None
        try:
            return cls(
                kind=kind,
                recipient=_optional(data, "recipient", str),
                code=_optional(data, "code", int),
                on_attempt=_optional(data, "on_attempt", int),
                count=_optional(data, "count", int),
                seconds=float(data.get("seconds", 0.0)),
                accept=bool(data.get("accept", False)),
                http_status=_optional(data, "http_status", int),
                message=_optional(data, "message", str),
                details=_optional(data, "details", str),
            )
        except (TypeError, ValueError) as error:
            raise FaultError(str(error)) from None


def _optional(data: dict[str, Any], key: str, kind: type[_T]) -> _T | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise FaultError(f"{key} must be a {kind.__name__}")
    return value


@dataclass(frozen=True)
class Decision:
    """What the scripted faults make of one call."""

    delay: float = 0.0
    fault: Fault | None = None


class FaultPlan:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def remove(self, fault_id: str) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) < before

    def decide(self, recipient: str | None) -> Decision:
        delay = 0.0
        chosen: Fault | None = None
        for fault in self.faults:
            if not fault.applies_to(recipient):
                continue
            # Every matching fault counts the call, whether or not an earlier one acts on it.
            fires = fault.fires_now()
            if fires and fault.kind is FaultKind.LATENCY:
                delay += fault.seconds
            elif fires and chosen is None:
                chosen = fault
        return Decision(delay, chosen)
