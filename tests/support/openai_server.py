"""A local OpenAI-compatible server that answers what a test scripts, for the real SDK.

Each request to ``POST /v1/chat/completions`` takes the next scripted step: a completion
(text, a refusal, tool calls, token counts), an error status (429, 500...), a body that is not
JSON, or a stall that outlasts the client's timeout. With nothing scripted, a
``responder`` decides from the request (a stand-in model), else it answers 500. Every
request is recorded with its headers for assertions.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.asgi import serving_asgi

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # raw, as the model wrote it (may be malformed on purpose)


@dataclass(frozen=True)
class Completion:
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None  # the model declining to answer (left out when None)
    finish_reason: str = "stop"
    prompt_tokens: int = 57
    completion_tokens: int = 12
    model: str | None = None  # None: the model the request named


@dataclass(frozen=True)
class Failure:
    status: int
    message: str = "scripted failure"
    retry_after_ms: int = 10  # lets the SDK's retries go fast


@dataclass(frozen=True)
class Stall:
    seconds: float  # then 504, if the client is still there


@dataclass(frozen=True)
class RawBody:
    body: bytes
    status: int = 200
    content_type: str = "application/json"


Step = Completion | Failure | Stall | RawBody


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body["messages"]
        return messages

    @property
    def tool_names(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.body.get("tools", [])]


@dataclass
class ScriptedOpenAi:
    """The ASGI app; ``script`` the steps still to play, ``requests`` those received."""

    responder: Callable[[Request], Step] | None = None
    script: deque[Step] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)

    def then(self, *steps: Step) -> ScriptedOpenAi:
        self.script.extend(steps)
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        path = scope["path"]
        if scope["method"] != "POST" or path != "/v1/chat/completions":
            await _respond(send, 404, {"error": {"message": f"no route {path}"}})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request = Request(path=path, headers=headers, body=json.loads(body))
        self.requests.append(request)
        await self._play(self._next_step(request), request, receive, send)

    def _next_step(self, request: Request) -> Step:
        if self.script:
            return self.script.popleft()
        if self.responder is not None:
            return self.responder(request)
        return Failure(500, "nothing scripted for this request")

    async def _play(self, step: Step, request: Request, receive: Receive, send: Send) -> None:
        if isinstance(step, Completion):
            await _respond(send, 200, _completion(step, request))
        elif isinstance(step, Failure):
            error = {"error": {"message": step.message, "type": "scripted", "code": None}}
            await _respond(send, step.status, error,
                           {"retry-after-ms": str(step.retry_after_ms)})  # fmt: skip
        elif isinstance(step, Stall):
            try:  # the client hanging up ends the stall early
                await asyncio.wait_for(receive(), step.seconds)
            except TimeoutError:
                await _respond(send, 504, {"error": {"message": "stalled"}})
        else:
            await _send(send, step.status, step.body, {"content-type": step.content_type})


def _completion(step: Completion, request: Request) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.content}
    if step.refusal is not None:
        message["refusal"] = step.refusal
    if step.tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function",
             "function": {"name": call.name, "arguments": call.arguments}}
            for i, call in enumerate(step.tool_calls, start=1)
        ]  # fmt: skip
    return {
        "id": f"chatcmpl-{len(message)}", "object": "chat.completion", "created": 1_790_000_000,
        "model": step.model or request.body.get("model", "scripted"),
        "choices": [{"index": 0, "message": message, "finish_reason": step.finish_reason}],
        "usage": {"prompt_tokens": step.prompt_tokens, "completion_tokens": step.completion_tokens,
                  "total_tokens": step.prompt_tokens + step.completion_tokens},
    }  # fmt: skip


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            return body


async def _respond(
    send: Send, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    all_headers = {"content-type": "application/json", **(headers or {})}
    await _send(send, status, json.dumps(payload).encode(), all_headers)


async def _send(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serving_openai(app: ScriptedOpenAi) -> AsyncIterator[str]:
    """The app on a free local port; the base URL to give the SDK (``.../v1``)."""
    async with serving_asgi(app, timeout_graceful_shutdown=1) as port:
        yield f"http://127.0.0.1:{port}/v1"
