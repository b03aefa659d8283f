"""The sandbox's customer phone at /phone (sandbox mode only; 404 otherwise).

A person plays a WhatsApp customer: writes, taps reply buttons, picks list rows and orders
from the catalog, through the SandboxPhone port (the simulator posts each as a signed webhook,
as Meta would). The chat shows what the customer sent and what the business sent them.

``GET /phone?phone=&name=`` is the page, ``GET /phone/chat`` (same parameters) the chat alone:
the page re-fetches it on the live ``conversations`` event (a reply reaches the simulator
before its statuses reach the read models, so the chat already holds it) and every few
seconds anyway. ``POST /phone/send``, ``/phone/tap`` and ``/phone/order`` answer with a
redirect to the page (or the page with the reason, when the phone refuses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from litestar import get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from application.catalog import CatalogProduct
from application.sandbox_phone import (
    CartItem,
    PhoneChoice,
    PhoneCustomer,
    SandboxPhone,
    SandboxPhoneError,
)
from domain.money import minor_digits
from entrypoints.dashboard.orders import amount_for, when_for
from entrypoints.dashboard.web import (
    AnyRequest,
    PageNotFoundError,
    Services,
    Session,
    form_of,
    render,
)


def _query(name: str) -> Any:
    return QueryParameter(name=name, default=None, required=False)


_PHONE: Final = re.compile(r"^[0-9]{6,15}$")
MAX_NAME: Final = 60
MAX_PRODUCTS: Final = 50
MAX_QUANTITY: Final = 999
# "Sent 25 hours ago": a late message that closes the 24-hour window, to try templates.
LATE_HOURS: Final = 25


@dataclass(frozen=True, slots=True)
class _Chosen:
    customer: PhoneCustomer
    problem: str | None  # an i18n key when the person's choice was refused


def _phone_of(dashboard: Services) -> SandboxPhone:
    if dashboard.phone is None:
        raise PageNotFoundError
    return dashboard.phone


def _customer(phone: SandboxPhone, number: str | None, name: str | None) -> _Chosen:
    default = phone.default_customer
    number = (number or "").strip().lstrip("+").replace(" ", "")
    name = (name or "").strip()
    if not number and not name:
        return _Chosen(default, None)
    if not _PHONE.match(number):
        return _Chosen(default, "phone.bad_number")
    if not name or len(name) > MAX_NAME:
        return _Chosen(default, "phone.bad_name")
    return _Chosen(PhoneCustomer(phone=number, name=name), None)


def _page_url(customer: PhoneCustomer, default: PhoneCustomer) -> str:
    if customer == default:
        return "/phone"
    return "/phone?" + urlencode({"phone": customer.phone, "name": customer.name})


async def _products(dashboard: Services) -> list[CatalogProduct]:
    business_id = dashboard.phone_business_id
    if business_id is None:
        return []
    page = await dashboard.catalog_queries().search(business_id, None, limit=MAX_PRODUCTS)
    return page.items


async def _page(
    request: AnyRequest,
    dashboard: Services,
    chosen: _Chosen,
    *,
    status_code: int = 200,
    refusal: str | None = None,
    draft: str = "",
) -> Template:
    phone = _phone_of(dashboard)
    return render(
        request, "phone.html", status_code=status_code, customer=chosen.customer,
        customer_problem=chosen.problem, chat=phone.chat(chosen.customer), when=when_for(request),
        products=await _products(dashboard), price_text=amount_for(request), refusal=refusal,
        draft=draft, chat_query=urlencode({"phone": chosen.customer.phone,
                                           "name": chosen.customer.name}),
    )  # fmt: skip


@get("/phone", include_in_schema=False)
async def phone_page(
    request: AnyRequest,
    session: Session,
    dashboard: Services,
    phone: str | None = _query("phone"),
    name: str | None = _query("name"),
) -> Template:
    chosen = _customer(_phone_of(dashboard), phone, name)
    return await _page(request, dashboard, chosen, status_code=400 if chosen.problem else 200)


@get("/phone/chat", include_in_schema=False)
async def phone_chat(
    request: AnyRequest,
    session: Session,
    dashboard: Services,
    phone: str | None = _query("phone"),
    name: str | None = _query("name"),
) -> Template:
    device = _phone_of(dashboard)
    chosen = _customer(device, phone, name)
    return render(request, "_phone_chat.html", customer=chosen.customer,
                  chat=device.chat(chosen.customer), when=when_for(request),
                  chat_query=urlencode({"phone": chosen.customer.phone,
                                        "name": chosen.customer.name}))  # fmt: skip


async def _act(
    request: AnyRequest, dashboard: Services, fields: dict[str, str], action: Any
) -> Template | Redirect:
    device = _phone_of(dashboard)
    chosen = _customer(device, fields.get("phone"), fields.get("name"))
    if chosen.problem:
        return await _page(request, dashboard, chosen, status_code=400)
    try:
        await action(device, chosen.customer)
    except SandboxPhoneError as refused:
        return await _page(request, dashboard, chosen, status_code=422, refusal=str(refused),
                           draft=fields.get("text", ""))  # fmt: skip
    return Redirect(_page_url(chosen.customer, device.default_customer), status_code=303)


@post("/phone/send", include_in_schema=False)
async def phone_send(request: AnyRequest, session: Session, dashboard: Services) -> Any:
    fields = await form_of(request)

    hours_ago = LATE_HOURS if fields.get("late") == "yes" else 0

    async def send(device: SandboxPhone, customer: PhoneCustomer) -> None:
        await device.send_text(customer, fields.get("text", ""), hours_ago=hours_ago)

    return await _act(request, dashboard, fields, send)


@post("/phone/tap", include_in_schema=False)
async def phone_tap(request: AnyRequest, session: Session, dashboard: Services) -> Any:
    fields = await form_of(request)
    kind = fields.get("kind", "")

    async def tap(device: SandboxPhone, customer: PhoneCustomer) -> None:
        message_id, choice_id = fields.get("message_id", ""), fields.get("choice_id", "")
        offered = next((m for m in device.chat(customer) if m.id == message_id
                        and m.direction == "to_customer"), None)  # fmt: skip
        choice = next((c for c in offered.choices if c.id == choice_id), None) if offered else None
        if choice is None:
            choice = PhoneChoice(id=choice_id, title=choice_id)  # the phone refuses it
        await device.tap(customer, message_id, choice, kind=kind)

    return await _act(request, dashboard, fields, tap)


@post("/phone/order", include_in_schema=False)
async def phone_order(request: AnyRequest, session: Session, dashboard: Services) -> Any:
    fields = await form_of(request)
    products = {p.product.product_id: p.product for p in await _products(dashboard)}

    async def order(device: SandboxPhone, customer: PhoneCustomer) -> None:
        items: list[CartItem] = []
        for key, raw in fields.items():
            if not key.startswith("qty_") or not raw.strip():
                continue
            product = products.get(key.removeprefix("qty_"))
            if product is None:
                raise SandboxPhoneError("That product is not in the catalog any more.")
            try:
                quantity = int(raw.strip())
            except ValueError:
                raise SandboxPhoneError("Each quantity must be a whole number.") from None
            if quantity == 0:
                continue
            if not 1 <= quantity <= MAX_QUANTITY:
                raise SandboxPhoneError(f"Each quantity must be from 1 to {MAX_QUANTITY}.")
            price = product.price / 10 ** minor_digits(product.currency)
            items.append(CartItem(product_retailer_id=product.retailer_id or product.product_id,
                                  quantity=quantity, item_price=price,
                                  currency=product.currency, name=product.name))  # fmt: skip
        await device.send_cart(customer, items)

    return await _act(request, dashboard, fields, order)


PHONE_HANDLERS: Final = (phone_page, phone_chat, phone_send, phone_tap, phone_order)
