"""What a customer sees of the catalog and of an order, in their language, within
WhatsApp's limits: a list of products (at most 10 rows; titles of 24 characters and
descriptions of 72, cut between graphemes), the product a customer picked from it, with
buttons to order it or see other products, an order summary with three reply buttons,
and the polite answers when an order cannot be placed or has moved on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Literal, TypeAlias

from domain.assistant import Language
from domain.catalog import Product
from domain.money import format_amount
from domain.orders import (
    MORE_PRODUCTS,
    ORDER_PRODUCT_PREFIX,
    PRODUCT_ROW_PREFIX,
    NotPending,
    Order,
    OrderRefused,
    OrderStatus,
    button_id,
)
from domain.outbound import (
    ListMessage,
    ListRow,
    ListSection,
    ReplyButton,
    ReplyButtonsMessage,
)
from domain.whatsapp_limits import (
    INTERACTIVE_BODY_MAX,
    INTERACTIVE_HEADER_MAX,
    LIST_ROW_DESCRIPTION_MAX,
    LIST_ROW_TITLE_MAX,
    LIST_ROWS_MAX,
    text_length,
    truncate_text,
)

_PRODUCT_ROW: Final = re.compile(rf"^{PRODUCT_ROW_PREFIX}(.{{1,100}})$", re.DOTALL)

_WORDS: Final[dict[str, dict[Language, str]]] = {
    "found": {"fr": "Voici ce que j'ai trouvé :", "en": "Here is what I found:"},
    "list_button": {"fr": "Voir les produits", "en": "See products"},
    "list_header": {"fr": "Nos produits", "en": "Our products"},
    "summary": {"fr": "Votre commande :", "en": "Your order:"},
    "total": {"fr": "Total", "en": "Total"},
    "confirm": {"fr": "Confirmer", "en": "Confirm"},
    "modify": {"fr": "Modifier", "en": "Change"},
    "cancel": {"fr": "Annuler", "en": "Cancel"},
}
_REFUSED: Final[dict[str, dict[Language, str]]] = {
    "empty": {
        "fr": "Je n'ai trouvé aucun article à commander.",
        "en": "I found nothing to order.",
    },
    "unknown_product": {
        "fr": "Ces articles ne sont pas dans notre catalogue\u00a0: {products}.",
        "en": "These items are not in our catalog: {products}.",
    },
    "out_of_stock": {
        "fr": "Désolé, ces articles ne sont plus disponibles en quantité suffisante\u00a0: "
        "{products}.",
        "en": "Sorry, these items are not available in that quantity: {products}.",
    },
    "too_many": {
        "fr": "Cette commande est trop importante pour être passée ici\u00a0; "
        "un conseiller peut vous aider.",
        "en": "This order is too large to place here; a person from our team can help.",
    },
    "mixed_currencies": {
        "fr": "Ces articles ne peuvent pas être commandés ensemble\u00a0: {products}.",
        "en": "These items cannot be ordered together: {products}.",
    },
}
_STATUS: Final[dict[OrderStatus, dict[Language, str]]] = {
    "pending": {"fr": "en attente", "en": "pending"},
    "confirmed": {"fr": "déjà confirmée", "en": "already confirmed"},
    "cancelled": {"fr": "annulée", "en": "cancelled"},
    "shipped": {"fr": "déjà expédiée", "en": "already shipped"},
    "delivered": {"fr": "déjà livrée", "en": "already delivered"},
}


def product_row_id(product_id: str) -> str:
    return f"{PRODUCT_ROW_PREFIX}{product_id}"


def chosen_product(row_id: str) -> str | None:
    """The product id of a tapped ``product_<id>`` row; None for any other row."""
    found = _PRODUCT_ROW.match(row_id)
    return found.group(1) if found else None


def recommendation_list(products: Sequence[Product], language: Language) -> ListMessage | None:
    """The in-stock products, best first, as a list; None when none is in stock."""
    rows = tuple(_row(p, language) for p in products if p.in_stock)[:LIST_ROWS_MAX]
    if not rows:
        return None
    return ListMessage(
        body=_WORDS["found"][language],
        button=_WORDS["list_button"][language],
        header=_WORDS["list_header"][language],
        sections=(ListSection(rows=rows),),
    )


def _row(product: Product, language: Language) -> ListRow:
    price = format_amount(product.price, product.currency, language)
    described = f"{price} · {product.description}" if product.description else price
    return ListRow(
        id=product_row_id(product.product_id),
        title=truncate_text(product.name, LIST_ROW_TITLE_MAX),
        description=truncate_text(described, LIST_ROW_DESCRIPTION_MAX),
    )


def order_summary(order: Order, language: Language) -> ReplyButtonsMessage:
    """The order's items and total, with buttons to confirm, change or cancel it. The total
    is always shown: items that do not fit in the body are counted instead of listed."""
    placed = order.placed
    colon = "\u00a0:" if language == "fr" else ":"  # French sets a space before a colon
    head = _WORDS["summary"][language]
    total = f"{_WORDS['total'][language]}{colon} " + format_amount(
        placed.total, placed.currency, language
    )
    items = [
        f"• {item.quantity} x {item.name}{colon} "
        + format_amount(item.amount, placed.currency, language)
        for item in placed.items
    ]
    buttons = tuple(
        ReplyButton(id=button_id(action, order.order_id), title=_WORDS[action][language])
        for action in ("confirm", "modify", "cancel")
    )
    return ReplyButtonsMessage(body=_summary_body(head, items, total, language), buttons=buttons)


def _summary_body(head: str, items: list[str], total: str, language: Language) -> str:
    for shown in range(len(items), -1, -1):
        hidden = len(items) - shown
        lines = [head, *(truncate_text(line, 200) for line in items[:shown])]
        if hidden:
            lines.append(_more_items(hidden, language))
        body = "\n".join([*lines, total])
        if text_length(body) <= INTERACTIVE_BODY_MAX:
            return body
    return truncate_text(f"{head}\n{total}", INTERACTIVE_BODY_MAX)


def _more_items(count: int, language: Language) -> str:
    if language == "fr":
        return f"• … et {count} autre{'s' if count > 1 else ''} article{'s' if count > 1 else ''}"
    return f"• … and {count} more item{'s' if count > 1 else ''}"


NAMED_IN_REFUSAL: Final = 10  # products a refusal names; the rest are counted


def order_refused_text(refused: OrderRefused, language: Language) -> str:
    named = [truncate_text(name, LIST_ROW_TITLE_MAX * 4) for name in refused.products]
    if len(named) > NAMED_IN_REFUSAL:
        more = len(named) - NAMED_IN_REFUSAL
        named = [*named[:NAMED_IN_REFUSAL],
                 f"… (+{more} autres)" if language == "fr" else f"… (+{more} more)"]  # fmt: skip
    return _REFUSED[refused.reason][language].format(products=", ".join(named))


def not_pending_text(not_pending: NotPending, language: Language) -> str:
    status = _STATUS[not_pending.status][language]
    if language == "fr":
        return f"Cette commande est {status}\u00a0: ce bouton ne change plus rien."
    return f"This order is {status}, so that button changes nothing now."


# --- what the customer is told as their order moves ------------------------------------

OrderMove: TypeAlias = Literal[
    "confirmed", "cancelled_by_customer", "change_requested", "shipped", "delivered", "cancelled"
]
_MOVES: Final[dict[OrderMove, dict[Language, str]]] = {
    "confirmed": {
        "fr": "Merci\u00a0! Votre commande {ref} est confirmée. Total\u00a0: {total}.",
        "en": "Thank you! Your order {ref} is confirmed. Total: {total}.",
    },
    "cancelled_by_customer": {
        "fr": "C'est noté\u00a0: votre commande {ref} est annulée.",
        "en": "Done: your order {ref} is cancelled.",
    },
    "change_requested": {
        "fr": "D'accord\u00a0: un membre de notre équipe va vous aider à modifier votre commande "
        "{ref}. Dites-nous ici ce que vous souhaitez changer.",
        "en": "All right: a member of our team will help you change your order {ref}. "
        "Tell us here what you would like to change.",
    },
    "shipped": {
        "fr": "Bonne nouvelle\u00a0: votre commande {ref} a été expédiée.",
        "en": "Good news: your order {ref} has been shipped.",
    },
    "delivered": {
        "fr": "Votre commande {ref} a été livrée. Merci pour votre confiance\u00a0!",
        "en": "Your order {ref} has been delivered. Thank you for your trust!",
    },
    "cancelled": {
        "fr": "Votre commande {ref} a été annulée. Pour toute question, écrivez-nous ici.",
        "en": "Your order {ref} has been cancelled. If you have any question, write to us here.",
    },
}
_STATUS_WORDS: Final[dict[OrderStatus, dict[Language, str]]] = {
    "pending": {"fr": "en attente", "en": "pending"},
    "confirmed": {"fr": "confirmée", "en": "confirmed"},
    "cancelled": {"fr": "annulée", "en": "cancelled"},
    "shipped": {"fr": "expédiée", "en": "shipped"},
    "delivered": {"fr": "livrée", "en": "delivered"},
}
_MOVED_TO: Final[dict[OrderMove, OrderStatus]] = {
    "confirmed": "confirmed",
    "cancelled_by_customer": "cancelled",
    "change_requested": "pending",
    "shipped": "shipped",
    "delivered": "delivered",
    "cancelled": "cancelled",
}
_UNKNOWN_ORDER: Final[dict[Language, str]] = {
    "fr": "Nous ne trouvons pas cette commande\u00a0: ce bouton ne change rien.",
    "en": "We cannot find that order, so that button changes nothing.",
}


def order_move_text(order: Order, move: OrderMove, language: Language) -> str:
    """What the customer reads when their order is confirmed, cancelled (``cancelled_by_
    customer`` answers their own tap), to be changed, shipped or delivered."""
    total = format_amount(order.placed.total, order.placed.currency, language)
    return _MOVES[move][language].format(ref=order.order_id, total=total)


def status_word(status: OrderStatus, language: Language) -> str:
    return _STATUS_WORDS[status][language]


def order_template_parameters(order: Order, move: OrderMove, language: Language) -> tuple[str, str]:
    """The two body parameters of an order template: the order's reference, then the total
    (a confirmation) or the new status in the customer's language (a status notice)."""
    if move == "confirmed":
        return order.order_id, format_amount(order.placed.total, order.placed.currency, language)
    return order.order_id, status_word(_MOVED_TO[move], language)


def unknown_order_text(language: Language) -> str:
    return _UNKNOWN_ORDER[language]


# --- a recommended product, chosen ------------------------------------------------------

_PRODUCT_WORDS: Final[dict[str, dict[Language, str]]] = {
    "order": {"fr": "Commander", "en": "Order"},
    "more": {"fr": "Autres produits", "en": "Other products"},
    "gone": {
        "fr": "Désolé, ce produit n'est plus disponible. Voulez-vous voir nos autres "
        "produits\u00a0?",
        "en": "Sorry, this product is no longer available. Would you like to see our other "
        "products?",
    },
    "none_left": {
        "fr": "Désolé, nous n'avons aucun produit disponible pour le moment.",
        "en": "Sorry, we have no products available right now.",
    },
    "not_found": {
        "fr": "Je n'ai rien trouvé pour «\u00a0{query}\u00a0» dans notre catalogue. Pouvez-vous "
        "reformuler votre demande\u00a0? Je peux aussi vous montrer nos produits ou passer le "
        "relais à un conseiller.",
        "en": 'I found nothing for "{query}" in our catalog. Could you put it another way? '
        "I can also show you our products or pass you on to a person.",
    },
    "human": {"fr": "Un conseiller", "en": "Talk to a person"},
}
MAX_QUOTED_QUERY: Final = 60


def product_buttons(product_id: str, language: Language) -> tuple[ReplyButton, ReplyButton]:
    return (
        ReplyButton(id=f"{ORDER_PRODUCT_PREFIX}{product_id}",
                    title=_PRODUCT_WORDS["order"][language]),
        ReplyButton(id=MORE_PRODUCTS, title=_PRODUCT_WORDS["more"][language]),
    )  # fmt: skip


def product_answer(product: Product, language: Language) -> ReplyButtonsMessage:
    """The chosen product as one message with the buttons to order it or see other
    products: its image as the header when it has one, with its name, price and
    description as the body (a caption); else its name as a text header."""
    price = format_amount(product.price, product.currency, language)
    buttons = product_buttons(product.product_id, language)
    if product.image_url:
        caption = "\n".join(part for part in (f"*{product.name}*", price, product.description)
                            if part)  # fmt: skip
        return ReplyButtonsMessage(header_image=product.image_url,
                                   body=truncate_text(caption, INTERACTIVE_BODY_MAX),
                                   buttons=buttons)  # fmt: skip
    body = "\n".join(part for part in (price, product.description) if part)
    return ReplyButtonsMessage(
        header=truncate_text(product.name, INTERACTIVE_HEADER_MAX),
        body=truncate_text(body, INTERACTIVE_BODY_MAX),
        buttons=buttons,
    )


def product_gone(language: Language) -> ReplyButtonsMessage:
    """A tapped product that is out of stock or no longer in the catalog."""
    more = ReplyButton(id=MORE_PRODUCTS, title=_PRODUCT_WORDS["more"][language])
    return ReplyButtonsMessage(body=_PRODUCT_WORDS["gone"][language], buttons=(more,))


def no_products_text(language: Language) -> str:
    return _PRODUCT_WORDS["none_left"][language]


def nothing_found(query: str, language: Language) -> ReplyButtonsMessage:
    """A search that found nothing in stock: rephrase, see the products, or a person (the
    ``human`` button hands over, as the assistant's menu does)."""
    quoted = truncate_text(" ".join(query.split()), MAX_QUOTED_QUERY)
    body = _PRODUCT_WORDS["not_found"][language].format(query=quoted)
    buttons = (
        ReplyButton(id=MORE_PRODUCTS, title=_PRODUCT_WORDS["more"][language]),
        ReplyButton(id="human", title=_PRODUCT_WORDS["human"][language]),
    )
    return ReplyButtonsMessage(body=body, buttons=buttons)
