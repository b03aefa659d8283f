"""Assistant contexts for tests: a turn answering one or more customer messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from domain.assistant import AssistantContext, CustomerInput, Language, Said
from domain.language import detect_first

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
INSTRUCTIONS = """Boulangerie Martin, artisan boulanger depuis 1982.
Adresse : 12 rue des Lilas, 75011 Paris
Téléphone : +33 1 23 45 67 89
Email : contact@boulangerie-martin.fr
Nous ne livrons pas."""
HOURS = "du mardi au dimanche, 7h-19h30"
_wamids = count(1)


def said(text: str, *, kind: str = "text", choice_id: str | None = None,
         unseen_media: str | None = None, wamid: str | None = None) -> CustomerInput:  # fmt: skip
    number = next(_wamids)
    return CustomerInput(
        wamid=wamid or f"wamid.TEST{number:06d}", kind=kind, text=text,
        at=AT + timedelta(seconds=number), choice_id=choice_id, unseen_media=unseen_media,
    )  # fmt: skip


def context(
    *messages: CustomerInput | str,
    language: Language | None = None,
    customer_name: str | None = "Marie Dupont",
    business_hours: str | None = HOURS,
    instructions: str = INSTRUCTIONS,
    history: tuple[Said, ...] = (),
) -> AssistantContext:
    """``language``: by default the customer's, as a turn with the language on auto finds it."""
    inputs = tuple(said(m) if isinstance(m, str) else m for m in messages)
    if language is None:
        newest_first = [m.text for m in reversed(inputs)]
        newest_first += [s.text for s in reversed(history) if s.speaker == "customer"]
        language = detect_first(newest_first, "fr")
    return AssistantContext(
        business_id="default", conversation_id="conv-1", language=language,
        instructions=instructions, customer_name=customer_name,
        business_hours=business_hours, history=history, new_messages=inputs,
    )  # fmt: skip
