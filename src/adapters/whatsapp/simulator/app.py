"""The simulator: Graph API endpoints, control endpoints, and the Python API tests script it by.

A plain ASGI application (served by uvicorn, see ``server.py``): faults need what a
framework hides, such as holding a request until the client gives up or closing the
connection without an answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlencode

import structlog

from adapters.whatsapp.simulator.errors import GraphError
from adapters.whatsapp.simulator.faults import Fault, FaultError, FaultKind, FaultPlan
from adapters.whatsapp.simulator.media import MAX_UPLOAD, parse_multipart, validate_upload
from adapters.whatsapp.simulator.state import (
    DEFAULT_PHONE_NUMBER_FIELDS,
    PHONE_NUMBER_FIELDS,
    QUALITY_RATINGS,
    SIMULATOR_APP,
    STATUS_ORDER,
    Clock,
    Media,
    Outcome,
    PhoneNumber,
    RecordedRequest,
    SimulatorState,
    Template,
    customer_key,
    new_wamid,
)
from adapters.whatsapp.simulator.validation import (
    ValidRead,
    ValidSend,
    validate_message_request,
    validate_new_template,
)
from adapters.whatsapp.simulator.webhooks import (
    Business,
    Customer,
    Delivery,
    StatusUpdate,
    WebhookSender,
    inbound_body,
    new_inbound_wamid,
    status_body,
)
from domain.privacy import mask_customer_id

log = structlog.get_logger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

VERSION: Final = r"/v\d+(?:\.\d+)?"
MESSAGES: Final = re.compile(rf"^{VERSION}/(?P<owner>[^/]+)/messages$")
MEDIA_UPLOAD: Final = re.compile(rf"^{VERSION}/(?P<owner>[^/]+)/media$")
TEMPLATES: Final = re.compile(rf"^{VERSION}/(?P<owner>[^/]+)/message_templates$")
MEDIA_OBJECT: Final = re.compile(rf"^{VERSION}/(?P<owner>[^/]+)$")  # or a phone number
SUBSCRIBED_APPS: Final = re.compile(rf"^{VERSION}/(?P<owner>[^/]+)/subscribed_apps$")
DOWNLOAD: Final = re.compile(r"^/_media/(?P<media_id>[^/]+)$")
CONTROL: Final = "/_simulator/"
TEMPLATE_PAGE: Final = 25
FINAL_STATUSES: Final = (*STATUS_ORDER, "failed")


class ControlError(ValueError):
    """A control request the simulator cannot follow."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    base_url: str

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            raise GraphError(100, "The request body is not valid JSON.") from None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def token(self) -> str | None:
        header = self.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip() or None
        return self.param("access_token")


@dataclass
class Answer:
    status: int
    body: Any
    content_type: str = "application/json"
    chunked: bool = False  # sent in pieces, without Content-Length


class CloudApiSimulator:
    """A local stand-in for the WhatsApp Cloud API, scriptable from tests."""

    def __init__(
        self,
        *,
        access_tokens: Iterable[str],
        app_secret: str | bytes,
        webhook_url: str | None = None,
        business: Business | None = None,
        status_delays: tuple[float, float, float] = (0.0, 0.0, 0.0),
        phone_number_ids: Iterable[str] | None = None,
        clock: Clock = time.time,
        webhook_backoff: float = 0.2,
        waba_ids: Iterable[str] | None = None,
        control_endpoints: bool = True,
    ) -> None:
        self.access_tokens = set(access_tokens)
        secret = app_secret.encode() if isinstance(app_secret, str) else app_secret
        self.business = business or Business()
        self.status_delays = status_delays
        self.phone_number_ids = set(phone_number_ids) if phone_number_ids is not None else None
        # The business accounts it knows (subscribed_apps); None: any id is one.
        self.waba_ids = set(waba_ids) if waba_ids is not None else None
        # Off when the simulator runs inside the server (sandbox mode): scripted from Python
        # only, so no web page the person visits can post to it.
        self.control_endpoints = control_endpoints
        self.number_tokens: dict[str, str] = {}
        self.declared_sizes: dict[str, int] = {}  # media id -> the file_size its lookup names
        self.state = SimulatorState(clock=clock)
        self.faults = FaultPlan()
        self.webhooks = WebhookSender(webhook_url, secret, backoff=webhook_backoff)
        self.base_url: str | None = None
        self.stopped = asyncio.Event()  # set by ``running`` once its server has stopped
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()

    # -- Python API: faults ------------------------------------------------------------------

    def fail(
        self,
        code: int | None,
        *,
        recipient: str | None = None,
        on_attempt: int | None = None,
        count: int | None = None,
        http_status: int | None = None,
        message: str | None = None,
        details: str | None = None,
    ) -> Fault:
        """Answer ``code`` on the nth matching call, on the next ``count``, or on every one.

        ``message`` and ``details`` replace the error's generic ``message`` and
        ``error_data.details``, to replay a particular answer of Meta's.
        """
        return self.faults.add(
            Fault(
                FaultKind.ERROR,
                recipient,
                code,
                on_attempt,
                count,
                http_status=http_status,
                message=message,
                details=details,
            )
        )

    def throttle(self, count: int, *, code: int = 130429, recipient: str | None = None) -> Fault:
        """A 429 burst: the next ``count`` matching calls get a throughput error."""
        return self.faults.add(Fault(FaultKind.THROTTLE, recipient, code, count=count))

    def delay(
        self,
        seconds: float,
        *,
        recipient: str | None = None,
        on_attempt: int | None = None,
        count: int | None = None,
    ) -> Fault:
        return self.faults.add(
            Fault(FaultKind.LATENCY, recipient, None, on_attempt, count, seconds)
        )

    def hold(
        self,
        *,
        recipient: str | None = None,
        on_attempt: int | None = None,
        count: int | None = None,
        seconds: float = 0.0,
        accept: bool = False,
    ) -> Fault:
        """Keep the request unanswered until the client gives up (a timeout on its side)."""
        return self.faults.add(
            Fault(FaultKind.TIMEOUT, recipient, None, on_attempt, count, seconds, accept)
        )

    def drop(
        self,
        *,
        recipient: str | None = None,
        on_attempt: int | None = None,
        count: int | None = None,
        accept: bool = False,
    ) -> Fault:
        """Close the connection without an answer (``accept``: after taking the message)."""
        return self.faults.add(
            Fault(FaultKind.DROP, recipient, None, on_attempt, count, accept=accept)
        )

    def omit_message_id(
        self,
        *,
        recipient: str | None = None,
        on_attempt: int | None = None,
        count: int | None = None,
        accept: bool = False,
    ) -> Fault:
        """Answer HTTP 200 naming no message id (``accept``: after taking the message)."""
        return self.faults.add(
            Fault(FaultKind.NO_MESSAGE_ID, recipient, None, on_attempt, count, accept=accept)
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- Python API: customers, outcomes, templates, media ------------------------------------

    def set_outcome(
        self, final: str, *, recipient: str | None = None, error_code: int | None = None
    ) -> None:
        """Where status webhooks stop: 'sent', 'delivered', 'read', or 'failed' with a code."""
        if final not in FINAL_STATUSES:
            raise ControlError(f"final must be one of {', '.join(FINAL_STATUSES)}")
        if final == "failed" and error_code is None:
            raise ControlError("a failed outcome needs an error_code")
        outcome = Outcome(final, error_code)
        if recipient is None:
            self.state.default_outcome = outcome
        else:
            self.state.outcomes[customer_key(recipient)] = outcome

    def bind_token(self, phone_number_id: str, token: str) -> None:
        """Accept ``token``, and only it, for ``phone_number_id`` (one business's number)."""
        self.access_tokens.add(token)
        self.number_tokens[phone_number_id] = token

    def set_window(self, customer: str, *, open_: bool) -> None:
        self.state.set_window(customer, open_=open_)

    def describe_number(
        self,
        phone_number_id: str,
        *,
        display_phone_number: str | None = None,
        verified_name: str | None = None,
        quality_rating: str | None = None,
    ) -> PhoneNumber:
        """What GET /{phone_number_id} answers for this number (the rest stays as it was)."""
        number = self._phone_number(phone_number_id)
        if quality_rating is not None and quality_rating not in QUALITY_RATINGS:
            raise ControlError(f"quality_rating must be one of {', '.join(QUALITY_RATINGS)}")
        if display_phone_number is not None:
            number.display_phone_number = display_phone_number
        if verified_name is not None:
            number.verified_name = verified_name
        if quality_rating is not None:
            number.quality_rating = quality_rating
        self.state.phone_numbers[phone_number_id] = number
        return number

    def set_webhooks_subscribed(self, subscribed: bool) -> None:
        """Whether an app receives the account's webhooks: GET /{waba_id}/subscribed_apps
        lists one app, or none (as after DELETE /{waba_id}/subscribed_apps)."""
        self.state.webhooks_subscribed = subscribed

    def add_template(
        self,
        name: str,
        language: str,
        components: list[dict[str, Any]],
        *,
        category: str = "UTILITY",
        status: str = "APPROVED",
        template_id: str | None = None,
    ) -> Template:
        """An approved (or ``status``) template; ``template_id`` keeps Meta's id stable across
        simulator runs (a new random one otherwise)."""
        template = Template(name, language, category.upper(), status.upper(), components)
        if template_id is not None:
            template.id = template_id
        return self.state.add_template(template)

    def add_media(
        self,
        content: bytes,
        mime_type: str,
        filename: str | None = None,
        *,
        media_id: str | None = None,
    ) -> Media:
        """Store a file as if uploaded; ``media_id`` picks its id (a fresh one otherwise)."""
        return self.state.add_media(content, mime_type, filename, media_id=media_id)

    def misdeclare_media_size(self, media_id: str, file_size: int) -> None:
        """Name ``file_size`` in this file's lookup and send its download without a length.

        The client only learns the real size by reading the file, as with a CDN that
        streams chunked.
        """
        self.declared_sizes[media_id] = file_size

    async def customer_sends(
        self,
        message: dict[str, Any],
        *,
        phone: str | None = None,
        user_id: str | None = None,
        name: str = "Simulated Customer",
        phone_number_id: str | None = None,
        at: float | None = None,
    ) -> tuple[str, Delivery]:
        """Play a customer: post their message to the webhook, signed; (wamid, delivery).

        ``at`` (a Unix time) is when WhatsApp says the customer wrote it (now by default): an
        earlier time plays a message delivered late, and the customer's 24-hour window runs
        from it."""
        customer = Customer(phone, user_id, name)
        business = self.business
        if phone_number_id is not None:
            business = Business(business.waba_id, phone_number_id, business.display_phone_number)
        message = self._with_stored_media(dict(message))
        if isinstance(message.get("context"), dict):
            message["context"] = {"from": business.display_phone_number, **message["context"]}
        wamid, now = new_inbound_wamid(), self.state.clock() if at is None else at
        for key in (phone, user_id):
            if key is not None:
                self.state.customer_wrote(key, now)
        body = inbound_body(business, customer, message, wamid=wamid, at=int(now))
        delivery = await self.webhooks.post(body)
        log.info(
            "simulator.customer_message",
            type=message.get("type"),
            customer=mask_customer_id(customer.key),
            webhook_status=delivery.status_code,
        )
        return wamid, delivery

    def _with_stored_media(self, message: dict[str, Any]) -> dict[str, Any]:
        content = message.get(str(message.get("type")))
        media = self.state.media.get(content.get("id", "")) if isinstance(content, dict) else None
        if media is not None and isinstance(content, dict):
            message[message["type"]] = {**content, "mime_type": media.mime_type,
                                        "sha256": media.sha256}  # fmt: skip
        return message

    # -- Python API: inspection ----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.state.requests)

    def sent_bodies(self) -> list[dict[str, Any]]:
        """Bodies of the messages the simulator accepted, in arrival order."""
        return [r.body for r in self.state.accepted_sends()]

    async def drain(self) -> None:
        """Wait until every status webhook scheduled so far has been posted (or given up)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def reset(self) -> None:
        """Forget requests, faults, customers, outcomes and webhook history, and subscribe
        the app to webhooks again (templates, media and described numbers stay)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.faults.clear()
        self.state.requests.clear()
        self.state.last_inbound.clear()
        self.state.outcomes.clear()
        self.state.default_outcome = Outcome()
        self.state.webhooks_subscribed = True
        self.webhooks.deliveries.clear()

    async def close(self) -> None:
        self._closing.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.webhooks.close()

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await _read_request(scope, receive)
        if request.path.startswith(CONTROL) and not self.control_endpoints:
            answer = Answer(404, {"error": "the control endpoints are off in this simulator"})
        elif request.path.startswith(CONTROL):
            answer = await self._control(request)
        elif request.method == "GET" and DOWNLOAD.match(request.path):
            answer = self._download(request)
        else:
            await self._graph(request, receive, send)
            return
        await _respond(send, answer)

    async def _graph(self, request: Request, receive: Receive, send: Send) -> None:
        entry = self.state.record(request.method, request.path, _loggable_body(request))
        entry.headers = dict(request.headers)
        entry.recipient = _recipient_of(entry.body)
        try:
            self._authenticate(request)
            decision = self.faults.decide(entry.recipient)
            if decision.delay:
                await asyncio.sleep(decision.delay)
            fault = decision.fault
            if fault is not None and fault.kind in (FaultKind.TIMEOUT, FaultKind.DROP):
                await self._misbehave(fault, request, entry, receive, send)
                return
            if fault is not None and fault.kind is FaultKind.NO_MESSAGE_ID:
                answer = self._without_message_id(fault, request, entry)
            elif fault is not None:
                answer = self._faulty_answer(fault, entry)
            else:
                answer = self._route(request, entry)
        except GraphError as error:
            answer = Answer(error.status, error.body())
            entry.outcome = f"error {error.code}"
        entry.status = answer.status
        entry.answer = answer.body if not isinstance(answer.body, bytes) else None
        self._log(entry)
        await _respond(send, answer)

    def _faulty_answer(self, fault: Fault, entry: RecordedRequest) -> Answer:
        if fault.code is None:  # an HTTP error with no Graph error body, as a proxy sends
            entry.outcome = f"bare HTTP {fault.http_status}"
            return Answer(fault.http_status or 502, b"<html>Bad Gateway</html>", "text/html")
        raise fault.error()

    def _without_message_id(self, fault: Fault, request: Request, entry: RecordedRequest) -> Answer:
        """A success that names no message: taken or not, the sender cannot tell."""
        answer: Any = {"messaging_product": "whatsapp"}
        if fault.accept:
            routed = self._route(request, entry)  # a refusal is answered as it is
            if routed.status != 200 or not isinstance(routed.body, dict):
                return routed
            if "contacts" in routed.body:
                answer["contacts"] = routed.body["contacts"]
        entry.outcome = f"{entry.outcome} without message id" if fault.accept else "no message id"
        return Answer(200, answer)

    async def _misbehave(
        self, fault: Fault, request: Request, entry: RecordedRequest, receive: Receive, send: Send
    ) -> None:
        answer: Answer | None = None
        if fault.accept:
            try:
                answer = self._route(request, entry)
            except GraphError as error:
                answer = Answer(error.status, error.body())
                entry.outcome = f"error {error.code}"
        label = "held" if fault.kind is FaultKind.TIMEOUT else "dropped"
        entry.outcome = f"{entry.outcome} then {label}" if fault.accept else label
        if fault.kind is FaultKind.TIMEOUT:
            client_gone = await self._hold(receive, fault.seconds)
            if answer is not None and not client_gone and not self._closing.is_set():
                entry.status = answer.status
                entry.answer = answer.body
                self._log(entry)
                await _respond(send, answer)
                return
        entry.status = 0
        self._log(entry)
        await _drop_connection(send)

    async def _hold(self, receive: Receive, seconds: float) -> bool:
        """Wait ``seconds``, or until the client leaves (then True) or the simulator closes."""

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters = [
            asyncio.ensure_future(disconnected()),
            asyncio.ensure_future(self._closing.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            return waiters[0].done()
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _authenticate(self, request: Request) -> None:
        token = request.token
        if token is None:
            raise GraphError(
                190,
                "An access token is required to request this resource.",
                message="An active access token must be used to query "
                "information about the current user.",
            )
        if token not in self.access_tokens:
            raise GraphError(
                190,
                "The access token could not be decrypted.",
                message="Invalid OAuth access token - Cannot parse access token",
            )

    def _route(self, request: Request, entry: RecordedRequest) -> Answer:
        method, path = request.method, request.path
        if method == "POST" and (match := MESSAGES.match(path)):
            return self._message(match["owner"], request, entry)
        if method == "POST" and (match := MEDIA_UPLOAD.match(path)):
            return self._upload(match["owner"], request, entry)
        if match := TEMPLATES.match(path):
            return self._templates(method, request, entry)
        if match := SUBSCRIBED_APPS.match(path):
            return self._subscribed_apps(method, match["owner"], entry)
        if method in ("GET", "DELETE") and (match := MEDIA_OBJECT.match(path)):
            owner = match["owner"]
            if method == "GET" and owner not in self.state.media and self._serves(owner):
                return self._phone_number_object(owner, request, entry)
            return self._media_object(method, owner, request, entry)
        raise GraphError(
            100,
            f"Unsupported {method.lower()} request to {path}",
            message=f"Unsupported {method.lower()} request.",
            error_subcode=33,
        )

    # -- messages ------------------------------------------------------------------------------

    def _message(self, phone_number_id: str, request: Request, entry: RecordedRequest) -> Answer:
        self._check_number(phone_number_id, request.token)
        checked = validate_message_request(request.json(), self.state)
        if isinstance(checked, ValidRead):
            entry.outcome = "read receipt"
            return Answer(200, {"success": True})
        wamid = new_wamid(checked.recipient.key)
        entry.outcome, entry.wamid = "accepted", wamid
        self._schedule_statuses(phone_number_id, checked, wamid)
        accepted: dict[str, str] = {"id": wamid}
        if not checked.free_form:
            accepted["message_status"] = "accepted"  # Meta adds it to template sends
        contacts = [checked.recipient.contact()]
        return Answer(200, {"messaging_product": "whatsapp", "contacts": contacts,
                            "messages": [accepted]})  # fmt: skip

    def _serves(self, phone_number_id: str) -> bool:
        """A number it knows: listed, bound to a token, described, or the webhooks' one."""
        if self.phone_number_ids is not None:
            return phone_number_id in self.phone_number_ids
        return (phone_number_id in self.number_tokens
                or phone_number_id in self.state.phone_numbers
                or phone_number_id == self.business.phone_number_id)  # fmt: skip

    def _check_number(self, phone_number_id: str, token: str | None) -> None:
        """An unknown number, or one whose business the token does not belong to."""
        bound = self.number_tokens.get(phone_number_id)
        unknown = self.phone_number_ids is not None and phone_number_id not in self.phone_number_ids
        if unknown or (bound is not None and bound != token):
            raise GraphError(
                100,
                f"Object with ID '{phone_number_id}' does not exist",
                message=f"Unsupported post request. Object with ID "
                f"'{phone_number_id}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation.",
                error_subcode=33,
            )

    def _schedule_statuses(self, phone_number_id: str, send: ValidSend, wamid: str) -> None:
        outcome = self.state.outcome_for(send.recipient.key)
        if send.free_form and self.state.window_closed(send.recipient.key):
            outcome = Outcome("failed", 131047)
        if outcome.final == "failed":
            self.state.undelivered.add(wamid)
        business = Business(
            self.business.waba_id, phone_number_id, self.business.display_phone_number
        )
        task = asyncio.create_task(self._post_statuses(business, send, wamid, outcome))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_statuses(
        self, business: Business, send: ValidSend, wamid: str, outcome: Outcome
    ) -> None:
        steps = (
            ["failed"]
            if outcome.final == "failed"
            else list(STATUS_ORDER[: STATUS_ORDER.index(outcome.final) + 1])
        )
        conversation_id = new_wamid(send.recipient.key)[6:38]
        for step, delay in zip(steps, self.status_delays, strict=False):
            await asyncio.sleep(delay)
            update = StatusUpdate(
                wamid=wamid,
                status=step,
                recipient_phone=send.recipient.wa_id,
                recipient_user_id=send.recipient.user_id,
                category=send.category,
                conversation_id=conversation_id,
                at=int(self.state.clock()),
                error_code=outcome.error_code,
                callback_data=send.callback_data,
            )
            await self.webhooks.post(status_body(business, update))

    # -- phone numbers and webhook subscriptions ---------------------------------------------

    def _phone_number(self, phone_number_id: str) -> PhoneNumber:
        known = self.state.phone_numbers.get(phone_number_id)
        if known is not None:
            return known
        if phone_number_id == self.business.phone_number_id:
            display = self.business.display_phone_number
            shown = f"+{display[:-10]} {display[-10:-7]}-{display[-7:-4]}-{display[-4:]}"
            return PhoneNumber(phone_number_id, shown if len(display) > 10 else display)
        return PhoneNumber(phone_number_id, f"+1 555-{phone_number_id[-7:-4]:0>3}-"
                                            f"{phone_number_id[-4:]:0>4}")  # fmt: skip

    def _phone_number_object(
        self, phone_number_id: str, request: Request, entry: RecordedRequest
    ) -> Answer:
        self._check_number(phone_number_id, request.token)
        asked = request.param("fields")
        fields: tuple[str, ...] = DEFAULT_PHONE_NUMBER_FIELDS
        if asked is not None:
            fields = tuple(name.strip() for name in asked.split(",") if name.strip())
            for name in fields:
                if name not in PHONE_NUMBER_FIELDS:
                    raise GraphError(
                        100,
                        f"Tried accessing nonexisting field ({name}) on node type "
                        "(WhatsAppBusinessPhoneNumber)",
                        message=f"(#100) Tried accessing nonexisting field ({name}) on node "
                        "type (WhatsAppBusinessPhoneNumber)",
                    )
        entry.outcome = "phone number"
        return Answer(200, self._phone_number(phone_number_id).as_json(fields))

    def _subscribed_apps(self, method: str, waba_id: str, entry: RecordedRequest) -> Answer:
        if self.waba_ids is not None and waba_id not in self.waba_ids:
            raise GraphError(
                100,
                f"Object with ID '{waba_id}' does not exist",
                message=f"Unsupported {method.lower()} request. Object with ID '{waba_id}' "
                "does not exist, cannot be loaded due to missing permissions, or does not "
                "support this operation.",
                error_subcode=33,
            )
        entry.outcome = "subscribed_apps " + method.lower()
        if method == "GET":
            subscribed = self.state.webhooks_subscribed
            app = {**SIMULATOR_APP, "link": "https://www.facebook.com/games/?app_id="
                   + SIMULATOR_APP["id"]}  # fmt: skip
            return Answer(200, {"data": [{"whatsapp_business_api_data": app}] if subscribed
                                else []})  # fmt: skip
        if method in ("POST", "DELETE"):
            self.state.webhooks_subscribed = method == "POST"
            return Answer(200, {"success": True})
        raise GraphError(100, f"Unsupported {method.lower()} request.", error_subcode=33)

    # -- media -------------------------------------------------------------------------------

    def _upload(self, phone_number_id: str, request: Request, entry: RecordedRequest) -> Answer:
        self._check_number(phone_number_id, request.token)
        parts = parse_multipart(request.headers.get("content-type", ""), request.body)
        upload = validate_upload(parts)
        media = self.state.add_media(upload.content, upload.mime_type, upload.filename)
        entry.outcome = "uploaded"
        return Answer(200, {"id": media.id})

    def _media_object(
        self, method: str, media_id: str, request: Request, entry: RecordedRequest
    ) -> Answer:
        media = self.state.media.get(media_id)
        if media is None:
            raise GraphError(
                100,
                f"Object with ID '{media_id}' does not exist",
                message=f"Unsupported {method.lower()} request. Object with ID "
                f"'{media_id}' does not exist, cannot be loaded due to missing "
                "permissions, or does not support this operation.",
                error_subcode=33,
            )
        entry.outcome = "media " + method.lower()
        if method == "DELETE":
            del self.state.media[media_id]
            return Answer(200, {"success": True})
        return Answer(
            200,
            {
                "messaging_product": "whatsapp",
                "url": f"{request.base_url}/_media/{media.id}",
                "mime_type": media.mime_type,
                "sha256": media.sha256,
                "file_size": self.declared_sizes.get(media.id, len(media.content)),
                "id": media.id,
            },
        )

    def _download(self, request: Request) -> Answer:
        if request.token not in self.access_tokens:
            return Answer(401, b"Unauthorized", "text/plain")
        match = DOWNLOAD.match(request.path)
        media = self.state.media.get(match["media_id"]) if match else None
        if media is None:
            return Answer(404, b"Not Found", "text/plain")
        return Answer(200, media.content, media.mime_type, media.id in self.declared_sizes)

    # -- templates -----------------------------------------------------------------------------

    def _templates(self, method: str, request: Request, entry: RecordedRequest) -> Answer:
        entry.outcome = "templates " + method.lower()
        if method == "GET":
            return Answer(200, self._template_page(request))
        if method == "POST":
            template = validate_new_template(request.json())
            if self.state.find_template(template.name, template.language) is not None:
                raise GraphError(
                    100, "Content in this language already exists", error_subcode=2388024
                )
            self.state.add_template(template)
            return Answer(
                200, {"id": template.id, "status": template.status, "category": template.category}
            )
        if method == "DELETE":
            return self._delete_template(request)
        raise GraphError(100, f"Unsupported {method.lower()} request.", error_subcode=33)

    def _template_page(self, request: Request) -> dict[str, Any]:
        chosen = [
            t
            for t in self.state.templates
            if request.param("name") in (None, t.name)
            and (request.param("status") or "").upper() in ("", t.status)
            and request.param("language") in (None, t.language)
        ]
        limit = _positive_int(request.param("limit"), TEMPLATE_PAGE)
        start = _cursor_position(request.param("after"))
        page = chosen[start : start + limit]
        body: dict[str, Any] = {"data": [t.as_json() for t in page]}
        if page:
            body["paging"] = {
                "cursors": {"before": _cursor(start), "after": _cursor(start + len(page))}
            }
            if start + len(page) < len(chosen):
                query = {k: v[0] for k, v in request.query.items() if k != "access_token"}
                query["after"] = _cursor(start + len(page))
                body["paging"]["next"] = f"{request.base_url}{request.path}?{urlencode(query)}"
        return body

    def _delete_template(self, request: Request) -> Answer:
        name = request.param("name")
        if not name:
            raise GraphError(
                100,
                "The parameter name is required.",
                message="(#100) The parameter name is required.",
            )
        template_id = request.param("hsm_id")
        doomed = [t for t in self.state.templates if t.name == name and template_id in (None, t.id)]
        if not doomed:
            raise GraphError(
                100, f"Message template {name!r} not found", message="(#100) Invalid parameter"
            )
        for template in doomed:
            self.state.templates.remove(template)
        return Answer(200, {"success": True})

    # -- control endpoints -----------------------------------------------------------------

    async def _control(self, request: Request) -> Answer:
        try:
            return await self._control_route(request)
        except (ControlError, FaultError, GraphError, ValueError, TypeError) as error:
            message = error.details if isinstance(error, GraphError) else str(error)
            return Answer(400, {"error": "invalid_control_request", "message": message})

    async def _control_route(self, request: Request) -> Answer:
        route = (request.method, request.path.removeprefix(CONTROL).rstrip("/"))
        handlers: dict[tuple[str, str], Callable[[Request], Awaitable[Answer] | Answer]] = {
            ("GET", "requests"): self._list_requests,
            ("GET", "stats"): lambda _: Answer(200, self._stats()),
            ("POST", "reset"): self._reset,
            ("GET", "faults"): lambda _: Answer(
                200, {"faults": [f.as_json() for f in self.faults.faults]}
            ),
            ("POST", "faults"): self._add_fault,
            ("DELETE", "faults"): self._clear_faults,
            ("PUT", "outcome"): self._set_outcome,
            ("PUT", "window"): self._set_window,
            ("GET", "subscribed-apps"): lambda _: Answer(
                200, {"subscribed": self.state.webhooks_subscribed}
            ),
            ("PUT", "subscribed-apps"): self._set_subscribed,
            ("POST", "templates"): self._seed_template,
            ("POST", "customer-messages"): self._play_customer,
            ("GET", "webhooks"): self._list_webhooks,
        }
        handler = handlers.get(route)
        if handler is None:
            return Answer(
                404,
                {
                    "error": "not_found",
                    "message": f"no control endpoint {request.method} {request.path}",
                },
            )
        answer = handler(request)
        return await answer if not isinstance(answer, Answer) else answer

    def _list_requests(self, request: Request) -> Answer:
        items = [r.as_json() for r in self.state.requests]
        contains = request.param("path_contains")
        if contains:
            items = [r for r in items if contains in r["path"]]
        return Answer(200, {"requests": items})

    def _stats(self) -> dict[str, Any]:
        return {
            "requests": len(self.state.requests),
            "accepted_sends": len(self.state.accepted_sends()),
            "max_sends_in_one_second": self.state.max_sends_in_one_second(),
        }

    def _reset(self, _: Request) -> Answer:
        self.reset()
        return Answer(200, {"reset": True})

    def _add_fault(self, request: Request) -> Answer:
        fault = self.faults.add(Fault.from_json(_control_json(request)))
        return Answer(201, fault.as_json())

    def _clear_faults(self, _: Request) -> Answer:
        self.clear_faults()
        return Answer(200, {"faults": []})

    def _set_outcome(self, request: Request) -> Answer:
        body = _control_json(request)
        self.set_outcome(
            str(body.get("final", "")),
            recipient=body.get("recipient"),
            error_code=body.get("error_code"),
        )
        return Answer(200, body)

    def _set_window(self, request: Request) -> Answer:
        body = _control_json(request)
        customer, open_ = body.get("customer"), body.get("open")
        if not isinstance(customer, str) or not isinstance(open_, bool):
            raise ControlError('give {"customer": "<phone or BSUID>", "open": true|false}')
        self.set_window(customer, open_=open_)
        return Answer(200, body)

    def _set_subscribed(self, request: Request) -> Answer:
        subscribed = _control_json(request).get("subscribed")
        if not isinstance(subscribed, bool):
            raise ControlError('give {"subscribed": true|false}')
        self.set_webhooks_subscribed(subscribed)
        return Answer(200, {"subscribed": subscribed})

    def _seed_template(self, request: Request) -> Answer:
        body = _control_json(request)
        template = validate_new_template(body)
        template.status = str(body.get("status", "APPROVED")).upper()
        self.state.add_template(template)
        return Answer(201, template.as_json())

    async def _play_customer(self, request: Request) -> Answer:
        body = _control_json(request)
        message = body.get("message")
        if message is None and isinstance(body.get("text"), str):
            message = {"type": "text", "text": {"body": body["text"]}}
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ControlError('give "message" (a Meta message object with "type") or "text"')
        wamid, delivery = await self.customer_sends(
            message,
            phone=body.get("from"),
            user_id=body.get("user_id"),
            name=str(body.get("name", "Simulated Customer")),
            phone_number_id=body.get("phone_number_id"),
        )
        return Answer(
            200,
            {
                "wamid": wamid,
                "webhook_status": delivery.status_code,
                "attempts": delivery.attempts,
                "error": delivery.error,
            },
        )

    def _list_webhooks(self, _: Request) -> Answer:
        items = [
            {"body": d.body, "status_code": d.status_code, "attempts": d.attempts, "error": d.error}
            for d in self.webhooks.deliveries
        ]
        return Answer(200, {"webhooks": items})

    def _log(self, entry: RecordedRequest) -> None:
        """Every request ends here, just before its answer (or its dropped connection)."""
        entry.finished_at = self.state.clock()
        who = mask_customer_id(entry.recipient) if entry.recipient else None
        log.info(
            "simulator.request",
            method=entry.method,
            path=entry.path,
            status=entry.status,
            outcome=entry.outcome,
            recipient=who,
        )


# -- helpers ------------------------------------------------------------------------------------


async def _read_request(scope: Scope, receive: Receive) -> Request:
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_UPLOAD + 1024 * 1024:
            chunks.append(chunk)
        more = message.get("more_body", False)
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host") or "{}:{}".format(*scope.get("server") or ("127.0.0.1", 80))
    return Request(
        method=scope["method"],
        path=scope["path"],
        query=parse_qs(scope.get("query_string", b"").decode("latin-1")),
        headers=headers,
        body=b"".join(chunks),
        base_url=f"{scope.get('scheme', 'http')}://{host}",
    )


async def _respond(send: Send, answer: Answer) -> None:
    if isinstance(answer.body, bytes):
        payload = answer.body
    else:
        payload = json.dumps(answer.body, ensure_ascii=False).encode()
    if answer.chunked:
        await _respond_in_pieces(send, answer.status, answer.content_type, payload)
        return
    headers = [
        (b"content-type", answer.content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _respond_in_pieces(send: Send, status: int, content_type: str, payload: bytes) -> None:
    headers = [(b"content-type", content_type.encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    piece = 64 * 1024
    for start in range(0, len(payload), piece):
        await send({"type": "http.response.body", "body": payload[start : start + piece],
                    "more_body": True})  # fmt: skip
    await send({"type": "http.response.body", "body": b""})


async def _drop_connection(send: Send) -> None:
    """Close the socket with no answer at all.

    ASGI has no message for this; uvicorn's ``send`` is a method of the object holding
    the connection's transport, so closing that transport is the way to do it.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("this server cannot drop a connection")
    transport.close()
    await asyncio.sleep(0)


def _loggable_body(request: Request) -> Any:
    if not request.headers.get("content-type", "").startswith("multipart/"):
        try:
            return request.json()
        except GraphError:
            return request.body.decode("utf-8", "replace")
    if request.body:
        return {"content_type": request.headers.get("content-type"), "size": len(request.body)}
    return None


def _recipient_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    to, user_id = body.get("to"), body.get("recipient")
    if isinstance(to, str):
        return re.sub(r"\D", "", to)
    return user_id if isinstance(user_id, str) else None


def _control_json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise ControlError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


def _positive_int(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise GraphError(100, "limit must be a positive integer")
    return int(value)


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode()


def _cursor_position(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except ValueError:
        raise GraphError(100, "invalid paging cursor") from None
