"""The offline assistant answers like a polite receptionist, in the turn's language."""

from __future__ import annotations

import pytest

from adapters.ai.rules import RulesAssistant
from domain.assistant import AssistantContext, Escalate, Reply
from domain.outbound import OutboundMessage, ReplyButtonsMessage, TextMessage
from domain.whatsapp_limits import check_message
from tests.support.assistant import HOURS, context, said

assistant = RulesAssistant()


async def reply_to(ctx: AssistantContext) -> OutboundMessage:
    answer = await assistant.answer(ctx)
    assert isinstance(answer.decision, Reply), answer.decision
    assert check_message(answer.decision.message) == answer.decision.message
    return answer.decision.message


async def text_of(ctx: AssistantContext) -> str:
    message = await reply_to(ctx)
    assert isinstance(message, TextMessage), message
    return message.body


async def test_a_greeting_is_answered_in_kind_with_the_customers_first_name() -> None:
    french = await text_of(context("Bonjour !"))
    english = await text_of(context("Hello"))

    assert french.startswith("Bonjour Marie")
    assert "?" in french or "aider" in french
    assert english.startswith(("Hello Marie", "Hi Marie"))


async def test_an_evening_greeting_is_answered_in_kind() -> None:
    assert (await text_of(context("Bonsoir"))).startswith("Bonsoir Marie")
    assert (await text_of(context("good evening"))).startswith("Good evening Marie")


async def test_a_greeting_with_a_question_it_does_not_know_gets_the_menu() -> None:
    menu = await reply_to(context("Bonjour, vous avez des croissants aux amandes ?"))
    assert isinstance(menu, ReplyButtonsMessage)
    assert menu.body.startswith("Bonjour Marie")
    assert [b.id for b in menu.buttons] == ["hours", "contact", "human"]


async def test_the_answer_is_in_the_turns_language_whatever_the_customer_wrote() -> None:
    # The turn chose it (the business's fixed language, else the customer's).
    english = await text_of(context("vous etes ouvert quand ?", language="en"))
    french = await text_of(context("When are you open?", language="fr"))
    assert english.startswith(("Our opening hours", "Here are our hours", "We're open"))
    assert french.startswith(("Nos horaires", "Voici nos horaires", "Nous vous accueillons"))
    greeting = await text_of(context("Bonjour !", language="en"))
    assert greeting.startswith(("Hello Marie", "Hi Marie"))


async def test_an_unclear_message_with_no_history_uses_the_contexts_language() -> None:
    menu = await reply_to(context("ok", language="fr"))
    assert isinstance(menu, ReplyButtonsMessage)
    assert "conseiller" in menu.body


async def test_opening_hours_come_from_the_settings_then_from_the_instructions() -> None:
    assert HOURS in await text_of(context("Quels sont vos horaires ?"))
    from_instructions = context("What are your opening hours?", business_hours=None,
                                instructions="We are open Monday to Friday, 9am-6pm.")  # fmt: skip
    assert "Monday to Friday, 9am-6pm" in await text_of(from_instructions)
    unknown = await text_of(context("horaires ?", business_hours=None, instructions=""))
    assert "conseiller" in unknown


async def test_contact_details_come_from_the_instructions() -> None:
    text = await text_of(context("Quelle est votre adresse ?"))
    assert "12 rue des Lilas, 75011 Paris" in text
    assert "+33 1 23 45 67 89" in text
    assert "contact@boulangerie-martin.fr" in text
    assert "Nous ne livrons pas" not in text
    nothing = await text_of(context("what's your phone number?", instructions="Be nice."))
    assert "WhatsApp" in nothing


@pytest.mark.parametrize(
    "text",
    ["je veux parler a un conseiller", "Je veux parler à un conseiller", "un agent svp",
     "parler à un humain", "talk to a human", "real person please", "speak to an agent"],
)  # fmt: skip
async def test_a_request_for_a_person_hands_the_conversation_over(text: str) -> None:
    answer = await assistant.answer(context(text))

    assert answer.decision == Escalate(
        cause="customer_asked", reason=f"the customer asked to talk to a person: “{text}”"
    )


async def test_a_request_among_several_new_messages_hands_over() -> None:
    answer = await assistant.answer(context("Bonjour", "j'ai un souci", "un conseiller svp"))
    assert isinstance(answer.decision, Escalate)
    assert "Bonjour / j'ai un souci / un conseiller svp" in answer.decision.reason


async def test_the_menu_buttons_are_understood_when_tapped() -> None:
    menu = await reply_to(context("je voudrais un renseignement"))
    assert isinstance(menu, ReplyButtonsMessage)
    hours, contact, human = menu.buttons

    tapped_hours = said(hours.title, kind="button", choice_id=hours.id)
    tapped_contact = said(contact.title, kind="button", choice_id=contact.id)
    tapped_human = said(human.title, kind="button", choice_id=human.id)
    assert HOURS in await text_of(context(tapped_hours))
    assert "12 rue des Lilas" in await text_of(context(tapped_contact))
    escalated = await assistant.answer(context(tapped_human))
    assert isinstance(escalated.decision, Escalate)
    assert escalated.decision.cause == "customer_asked"


async def test_a_list_reply_is_understood_by_its_id() -> None:
    row = said("Option 2", kind="list_reply", choice_id="talk_to_agent")
    assert isinstance((await assistant.answer(context(row))).decision, Escalate)


@pytest.mark.parametrize(
    ("media", "language", "words"),
    [("image", "fr", ("photo", "voir")), ("audio", "fr", ("message vocal", "écouter")),
     ("image", "en", ("photo", "see")), ("audio", "en", ("voice message", "listen"))],
)  # fmt: skip
async def test_media_it_cannot_look_at_gets_a_polite_note(
    media: str, language: str, words: tuple[str, ...]
) -> None:
    sent = said("", kind=media, unseen_media=media)
    ctx = context(sent, language="fr" if language == "fr" else "en", customer_name=None)

    text = await text_of(ctx)

    assert all(word in text for word in words), text
    assert text.rstrip().endswith("?")


async def test_a_caption_is_answered_beside_the_note_about_the_image() -> None:
    sent = said("Vous êtes ouverts dimanche ?", kind="image", unseen_media="image")
    text = await text_of(context(sent))
    assert "photo" in text
    assert HOURS in text


async def test_thanks_and_goodbyes_get_a_warm_short_answer() -> None:
    for message in ("Merci beaucoup !", "Au revoir", "thanks!", "bye"):
        text = await text_of(context(message))
        assert 0 < len(text) < 80, text


async def test_thanks_before_a_question_is_politeness_the_question_is_answered() -> None:
    text = await text_of(context("Merci de me donner vos horaires"))
    assert text.startswith(("Nos horaires", "Voici nos horaires", "Nous vous accueillons"))
    assert not any(thanks in text for thanks in ("plaisir", "en prie", "Merci à vous"))


async def test_a_customer_asking_if_it_is_a_robot_is_told_how_to_reach_a_person() -> None:
    assert "conseiller" in await text_of(context("Est-ce que je parle à un robot ?"))
    assert "agent" in await text_of(context("Are you a bot?"))


async def test_phrasings_vary_across_messages_but_not_when_one_is_answered_again() -> None:
    greetings = {await text_of(context(said("Bonjour"))) for _ in range(30)}
    assert len(greetings) >= 3
    same = said("Bonjour", wamid="wamid.SAME")
    assert await text_of(context(same)) == await text_of(context(same))


async def test_the_answer_records_provider_model_and_latency() -> None:
    answer = await assistant.answer(context("Bonjour"))
    assert (answer.provider, answer.model) == ("offline", "rules")
    assert answer.latency_ms >= 0
    assert assistant.provider == "offline"
