"""`wazybot send`: queue a text message to a customer, like the API does."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from adapters.postgres.sending import PostgresSendingUnits
from application.sending import MessageSending, Refusal, SendCommand, SendRefusedError
from domain.outbound import TextMessage
from entrypoints.container import Container, resolve, with_container
from entrypoints.settings import Settings

DESCRIPTION = """\
Queue a text message for a customer of a business. The running server's outbox sends it
(this command only queues it, and prints its id). The conversation is the one the customer
started with one of the business's numbers: a free-form message needs the customer's last
message to be less than 24 hours old."""


class SendUsageError(Exception):
    """The command cannot tell which conversation is meant."""


def add_send_command(commands: Any) -> None:
    send = commands.add_parser(
        "send",
        help="queue a text message to a customer (the outbox sends it)",
        description=DESCRIPTION,
    )
    send.add_argument("--business", required=True, metavar="ID", help="the business's id")
    send.add_argument(
        "--to",
        required=True,
        metavar="WA_ID",
        help="the customer: their phone number (wa_id, digits) or business-scoped user id",
    )
    send.add_argument("--text", required=True, help="the message (at most 4096 characters)")
    send.add_argument(
        "--phone-number-id",
        metavar="ID",
        help="the business number to send from, when the customer wrote to several",
    )
    send.add_argument("--preview-url", action="store_true", help="show a preview of the first link")
    send.add_argument("--json", action="store_true", help="print {message_id, status} as JSON")
    send.set_defaults(handler=_send, needs_args=True)


def _send(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> str:
        units: PostgresSendingUnits = await resolve(container.sending_units())
        sending: MessageSending = await resolve(container.message_sending())
        conversation_id = await _conversation_of(units, args)
        message = TextMessage(body=args.text, preview_url=args.preview_url)
        command = SendCommand(
            business_id=args.business, conversation_id=conversation_id, message=message,
            requested_by="agent", cause="cli:send",
        )  # fmt: skip
        return (await sending.send(command)).message_id

    try:
        message_id = asyncio.run(with_container(settings, work))
    except SendUsageError as error:
        print(f"wazybot: {error}", file=sys.stderr)
        return 2
    except SendRefusedError as error:
        print(f"wazybot: not sent: {error.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"message_id": message_id, "status": "queued"}))
    else:
        print(message_id)
    return 0


async def _conversation_of(units: PostgresSendingUnits, args: argparse.Namespace) -> str:
    found = await units.customer_conversations(args.business, args.to, args.phone_number_id)
    if not found:
        raise SendRefusedError(
            Refusal.NOT_FOUND,
            f"business {args.business!r} has no conversation with {args.to}: the customer "
            "must write first (check --business and --to)",
        )
    if len(found) > 1:
        numbers = ", ".join(number for _, number in found)
        raise SendUsageError(
            f"the customer wrote to several numbers of {args.business!r} ({numbers}): "
            "choose one with --phone-number-id"
        )
    return found[0][0]
