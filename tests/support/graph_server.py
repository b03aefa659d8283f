"""A minimal local stand-in for the Graph API's messages endpoint, over real HTTP.

It records every request and answers with Meta's shapes: a success with a fresh wamid,
or a scripted error, slow answer or dropped connection, per recipient and attempt.
One request per connection (``Connection: close``) keeps the parser small.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def recipient(self) -> str:
        return str(self.body.get("to") or self.body.get("recipient") or "")


@dataclass(slots=True)
class Behaviour:
    """What to do with a matching request: answer ``status``/``body`` after ``delay``, or drop."""

    status: int = 200
    body: dict[str, Any] | None = None
    raw_body: bytes | None = None
    delay: float = 0.0
    drop: bool = False


@dataclass(slots=True)
class _Rule:
    behaviour: Behaviour
    recipient: str | None
    on_attempt: int | None
    times: int

    def matches(self, recipient: str, attempt: int) -> bool:
        return (
            self.times > 0
            and self.recipient in (None, recipient)
            and self.on_attempt in (None, attempt)
        )


def graph_error(code: int, message: str, *, details: str = "", status: int = 400) -> Behaviour:
    """Meta's error envelope for ``code``."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": f"Atrace{code}",
    }
    return Behaviour(status=status, body={"error": error})


@dataclass
class GraphServer:
    host: str = "127.0.0.1"
    requests: list[RecordedRequest] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    _rules: list[_Rule] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}"

    async def start(self) -> GraphServer:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        return self

    async def stop(self) -> None:
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def script(
        self,
        behaviour: Behaviour,
        *,
        recipient: str | None = None,
        on_attempt: int | None = None,
        times: int = 1,
    ) -> None:
        self._rules.append(_Rule(behaviour, recipient, on_attempt, times))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        with contextlib.suppress(ConnectionError):  # the client gave up first (its timeout)
            await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            self.attempts[request.recipient] += 1
            behaviour = self._behaviour_for(request)
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
            if behaviour.drop:
                return
            await _write_response(writer, behaviour.status, self._body_of(behaviour, request))
        finally:
            writer.close()

    def _behaviour_for(self, request: RecordedRequest) -> Behaviour:
        for rule in self._rules:
            if rule.matches(request.recipient, self.attempts[request.recipient]):
                rule.times -= 1
                return rule.behaviour
        return Behaviour()

    def _body_of(self, behaviour: Behaviour, request: RecordedRequest) -> bytes:
        if behaviour.raw_body is not None:
            return behaviour.raw_body
        if behaviour.body is not None:
            return json.dumps(behaviour.body).encode()
        if request.body.get("status") == "read":
            return b'{"success": true}'
        return json.dumps(self._accepted(request)).encode()

    def _accepted(self, request: RecordedRequest) -> dict[str, Any]:
        wamid = f"wamid.LOCAL{next(self._numbers):012d}"
        answer: dict[str, Any] = {"messaging_product": "whatsapp",
                                  "messages": [{"id": wamid}]}  # fmt: skip
        if "to" in request.body:
            phone = request.body["to"]
            answer["contacts"] = [{"input": phone, "wa_id": phone.lstrip("+")}]
        else:
            answer["contacts"] = [{"input": request.body.get("recipient")}]
        return answer


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RecordedRequest(method, path, headers, json.loads(body) if body else {})


async def _write_response(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
