"""Webhook bodies in Meta's format, signing, and the conformance payloads."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.whatsapp.signature import sign
from tests.support.database import ROOT

APP_SECRET = "test-app-secret-ü"
VERIFY_TOKEN = "test-verify-token"
PHONE_NUMBER_ID = "1122334455667"
ACCOUNT_ID = "102290129340398"
# Copied from ../shared/conformance/pywa (real-format samples from pywa, MIT: see LICENSE there),
# and bodies written after Meta's documented 2026 shapes (usernames and BSUIDs, groups, ...).
CONFORMANCE_DIR = ROOT / "tests" / "fixtures" / "pywa"
META_SHAPES_DIR = ROOT / "tests" / "fixtures" / "meta"
_counter = itertools.count(1)


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    return sign(secret.encode(), body)


def signed_headers(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": signature(body, secret), "Content-Type": "application/json"}


def text_message(
    text: str = "hello",
    *,
    customer: str = "15550001111",
    wamid: str | None = None,
    sent_at: int | None = None,
    name: str = "Ana",
) -> dict[str, Any]:
    return {
        "from": customer,
        "id": wamid or f"wamid.test-{next(_counter)}",
        "timestamp": str(sent_at if sent_at is not None else int(time.time())),
        "type": "text",
        "text": {"body": text},
    }


def status(wamid: str, state: str, *, recipient: str = "15550001111", at: int = 1_700_000_000):
    return {"id": wamid, "status": state, "timestamp": str(at), "recipient_id": recipient}


def messages_change(
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    *,
    phone_number_id: str = PHONE_NUMBER_ID,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    messages = messages or []
    contacts = names or {m["from"]: "Ana" for m in messages if "from" in m}
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550009999", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": n}, "wa_id": w} for w, n in contacts.items()],
    }
    if messages:
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {"field": "messages", "value": value}


def webhook(*changes: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """One body; with ``entries`` > 1 the changes are spread over that many entries."""
    groups = [list(changes[i::entries]) for i in range(entries)]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": ACCOUNT_ID, "time": 1_700_000_000, "changes": g} for g in groups],
    }


def encode(body: dict[str, Any], *, ensure_ascii: bool = False) -> bytes:
    return json.dumps(body, ensure_ascii=ensure_ascii).encode()


def conformance_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """("file/case", body) for every pywa sample, then ("meta:file/case", body) for ours."""
    for directory, prefix in ((CONFORMANCE_DIR, ""), (META_SHAPES_DIR, "meta:")):
        paths = sorted(Path(directory).glob("*.json"))
        if not paths:
            raise FileNotFoundError(f"no conformance payloads in {directory}")
        for path in paths:
            for name, body in json.loads(path.read_text()).items():
                yield f"{prefix}{path.stem}/{name}", body


CASES_BY_NAME: dict[str, dict[str, Any]] = dict(conformance_cases())
