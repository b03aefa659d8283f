"""`wazybot simulator`: a local WhatsApp Cloud API, and a customer played from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import httpx
import structlog

from adapters.whatsapp.simulator import Business, CloudApiSimulator, running
from adapters.whatsapp.simulator.webhooks import (
    SIGNATURE_HEADER,
    Customer,
    inbound_body,
    new_inbound_wamid,
    signature,
)
from entrypoints.settings import Settings
from entrypoints.startup import ensure_port_free

log = structlog.get_logger(__name__)


def add_simulator_commands(commands: Any) -> None:
    simulator = commands.add_parser(
        "simulator",
        help="run a local WhatsApp Cloud API (Graph API) simulator",
        description=(
            "Serves the Graph API subset WazyBot uses (messages, mark read, media, message"
            " templates, phone number lookup, webhook subscriptions) with Meta's answers and"
            " errors, posts signed status webhooks"
            " to --webhook-url, and takes scripted faults and customer messages on its control"
            " endpoints under /_simulator/. Signs with WHATSAPP_APP_SECRET, like the server."
        ),
    )
    simulator.add_argument(
        "--host", default="127.0.0.1", help="listen address (default: %(default)s)"
    )
    simulator.add_argument(
        "--port", type=int, default=8081, help="listen port (default: %(default)s)"
    )
    simulator.add_argument(
        "--webhook-url",
        help="where status webhooks go, e.g. http://127.0.0.1:8000/webhooks/whatsapp",
    )
    simulator.add_argument(
        "--phone-number-id",
        help="the number it speaks for in webhooks (default: WHATSAPP_PHONE_NUMBER_ID)",
    )
    simulator.add_argument(
        "--waba-id",
        help="the business account id in webhooks (default: WHATSAPP_BUSINESS_ACCOUNT_ID)",
    )
    simulator.add_argument(
        "--access-token",
        action="append",
        help="an accepted bearer token (repeatable; default: WHATSAPP_ACCESS_TOKEN)",
    )
    simulator.add_argument(
        "--status-delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="pause before each status webhook (default: %(default)s)",
    )
    simulator.add_argument(
        "--templates",
        metavar="FILE",
        help="JSON list of approved templates to start with"
        " ({name, language, category, components})",
    )
    simulator.set_defaults(handler=_serve, needs_args=True)
    sub = simulator.add_subparsers(dest="simulator_command", metavar="COMMAND")
    customer = sub.add_parser(
        "customer",
        help="play a customer: post one signed inbound message to a webhook",
        description="Posts one customer message, signed with WHATSAPP_APP_SECRET, straight to a"
        " webhook (--to-url), or through a running simulator (--simulator-url) so that it also"
        " opens the customer's 24-hour window there.",
    )
    target = customer.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-url", metavar="WEBHOOK_URL", help="the webhook URL to post to")
    target.add_argument("--simulator-url", metavar="URL", help="a running simulator's base URL")
    customer.add_argument(
        "--from", dest="phone", metavar="PHONE", help="the customer's phone number (digits)"
    )
    customer.add_argument(
        "--user-id", metavar="BSUID", help="the customer's business-scoped user id"
    )
    customer.add_argument(
        "--name", default="Simulated Customer", help="profile name (default: %(default)s)"
    )
    customer.add_argument(
        "--phone-number-id",
        help="the business number written to (default: WHATSAPP_PHONE_NUMBER_ID)",
    )
    content = customer.add_mutually_exclusive_group(required=True)
    content.add_argument("--text", help="a text message")
    content.add_argument(
        "--message-json",
        metavar="JSON",
        help='any message object, e.g. {"type":"location","location":{...}}',
    )
    customer.add_argument("--json", action="store_true", help="print the result as JSON")
    customer.set_defaults(handler=_customer, needs_args=True)


def _secret(settings: Settings) -> str | None:
    return settings.whatsapp_app_secret.value if settings.whatsapp_app_secret else None


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    secret = _secret(settings)
    tokens = args.access_token or (
        [settings.whatsapp_access_token.value] if settings.whatsapp_access_token else []
    )
    problems = []
    if secret is None:
        problems.append("WHATSAPP_APP_SECRET is not set (webhooks are signed with it)")
    if not tokens:
        problems.append("no access token: give --access-token or set WHATSAPP_ACCESS_TOKEN")
    if problems:
        for problem in problems:
            print(f"wazybot: {problem}", file=sys.stderr)
        return 2
    try:
        templates = _load_templates(args.templates) if args.templates else []
    except (OSError, ValueError) as error:
        print(f"wazybot: cannot read --templates: {error}", file=sys.stderr)
        return 2
    business = Business(
        waba_id=args.waba_id or settings.whatsapp_business_account_id or Business.waba_id,
        phone_number_id=args.phone_number_id
        or settings.whatsapp_phone_number_id
        or Business.phone_number_id,
    )
    delay = max(args.status_delay, 0.0)
    simulator = CloudApiSimulator(
        access_tokens=tokens,
        app_secret=secret or "",
        webhook_url=args.webhook_url,
        business=business,
        status_delays=(delay, delay, delay),
    )
    for template in templates:
        simulator.add_template(
            template["name"],
            template["language"],
            template.get("components", []),
            category=template.get("category", "UTILITY"),
            status=template.get("status", "APPROVED"),
        )
    ensure_port_free(args.host, args.port)
    asyncio.run(_run_forever(simulator, args.host, args.port))
    return 0


def _load_templates(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    if not isinstance(data, list) or not all(
        isinstance(t, dict) and "name" in t and "language" in t for t in data
    ):
        raise ValueError("expected a JSON list of objects with name and language")
    return data


async def _run_forever(simulator: CloudApiSimulator, host: str, port: int) -> None:
    async with running(simulator, host=host, port=port) as served:
        log.info(
            "simulator.started",
            url=served.base_url,
            webhook_url=simulator.webhooks.url,
            phone_number_id=simulator.business.phone_number_id,
        )
        if simulator.webhooks.url is None:
            log.warning("simulator.no_webhook_url", hint="status webhooks are not sent")
        await simulator.stopped.wait()  # the server stops on SIGINT or SIGTERM


def _customer(settings: Settings, args: argparse.Namespace) -> int:
    if args.phone is None and args.user_id is None:
        print("wazybot: give --from PHONE, --user-id BSUID, or both", file=sys.stderr)
        return 2
    try:
        message = _message(args)
    except ValueError as error:
        print(f"wazybot: --message-json: {error}", file=sys.stderr)
        return 2
    if args.to_url:
        secret = _secret(settings)
        if secret is None:
            print(
                "wazybot: WHATSAPP_APP_SECRET is not set (the message must be signed)",
                file=sys.stderr,
            )
            return 2
        result = _post_direct(settings, args, message, secret)
    else:
        result = _post_through_simulator(args, message)
    if args.json:
        print(json.dumps(result))
    elif result.get("error"):
        print(f"wazybot: {result['error']}", file=sys.stderr)
    else:
        print(f"{result['wamid']}  webhook answered {result['webhook_status']}")
        hint = _status_hint(result.get("webhook_status"))
        if hint:
            print(f"wazybot: {hint}", file=sys.stderr)
    status = result.get("webhook_status")
    return 0 if isinstance(status, int) and 200 <= status < 300 else 1


def _status_hint(status: object) -> str | None:
    if status == 401:
        return (
            "the webhook refused the signature: the server and this command must share "
            "WHATSAPP_APP_SECRET (the simulator signs with its own setting)"
        )
    if status is None:
        return "the simulator could not reach the webhook: is `wazybot serve` running there?"
    return None


def _message(args: argparse.Namespace) -> dict[str, Any]:
    if args.text is not None:
        return {"type": "text", "text": {"body": args.text}}
    message = json.loads(args.message_json)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError('a JSON object with a "type"')
    return message


def _post_direct(
    settings: Settings, args: argparse.Namespace, message: dict[str, Any], secret: str
) -> dict[str, Any]:
    business = Business(
        waba_id=settings.whatsapp_business_account_id or Business.waba_id,
        phone_number_id=args.phone_number_id
        or settings.whatsapp_phone_number_id
        or Business.phone_number_id,
    )
    wamid = new_inbound_wamid()
    body = inbound_body(
        business,
        Customer(args.phone, args.user_id, args.name),
        message,
        wamid=wamid,
        at=int(time.time()),
    )
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {
        SIGNATURE_HEADER: signature(secret.encode(), raw),
        "Content-Type": "application/json",
    }
    try:
        response = httpx.post(args.to_url, content=raw, headers=headers, timeout=30)
    except httpx.HTTPError as error:
        return {"wamid": wamid, "webhook_status": None,
                "error": f"no answer from {args.to_url}: {error}"}  # fmt: skip
    return {"wamid": wamid, "webhook_status": response.status_code}


def _post_through_simulator(args: argparse.Namespace, message: dict[str, Any]) -> dict[str, Any]:
    body = {
        "from": args.phone,
        "user_id": args.user_id,
        "name": args.name,
        "message": message,
        "phone_number_id": args.phone_number_id,
    }
    url = args.simulator_url.rstrip("/") + "/_simulator/customer-messages"
    try:
        response = httpx.post(url, json=body, timeout=60)
    except httpx.HTTPError as error:
        return {"wamid": None, "webhook_status": None,
                "error": f"no simulator answered at {args.simulator_url} ({error}): start "
                "`wazybot simulator` first"}  # fmt: skip
    result: dict[str, Any] = response.json()
    return result
