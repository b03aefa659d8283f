from __future__ import annotations

import pytest

from adapters.memory.gateway import InMemoryWhatsAppGateway
from application.gateway import AccessToken, GatewayError, Sender
from domain.outbound import Recipient, TextMessage
from domain.whatsapp_errors import ErrorClass, Transport

SENDER = Sender(phone_number_id="1065", access_token=AccessToken("EAAG-hidden"))
ADA = Recipient(phone_number="15550001")


def test_the_sender_never_shows_its_token() -> None:
    assert "EAAG-hidden" not in repr(SENDER)
    assert "EAAG-hidden" not in str(SENDER.access_token)


async def test_a_failure_before_the_request_left_records_nothing() -> None:
    fake = InMemoryWhatsAppGateway()
    fake.fail_transport(Transport.NOT_CONNECTED, times=2)

    for _ in range(2):
        with pytest.raises(GatewayError) as raised:
            await fake.send(SENDER, ADA, TextMessage(body="hi"))
        assert not raised.value.ambiguous
    accepted = await fake.send(SENDER, ADA, TextMessage(body="hi"))

    assert [s.wamid for s in fake.sent] == [accepted.wamid]
    assert fake.attempts[ADA.address] == 3


async def test_a_scripted_failure_repeats_the_given_number_of_times() -> None:
    fake = InMemoryWhatsAppGateway()
    fake.fail(130429, times=2)

    errors = []
    for _ in range(3):
        try:
            await fake.send(SENDER, ADA, TextMessage(body="hi"))
        except GatewayError as error:
            errors.append(error.error_class)

    assert errors == [ErrorClass.THROUGHPUT, ErrorClass.THROUGHPUT]
    assert len(fake.sent) == 1


async def test_error_text_names_class_code_and_reason() -> None:
    fake = InMemoryWhatsAppGateway()
    fake.fail(131047)

    with pytest.raises(GatewayError, match=r"^permanent \(code 131047\): the 24-hour"):
        await fake.send(SENDER, ADA, TextMessage(body="hi"))
