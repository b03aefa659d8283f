"""Phone numbers written in groups are masked like those written as one run of digits;
dates, times, amounts, references and ids are left as they are."""

from __future__ import annotations

import pytest

from domain.privacy import mask_phones_in, safe_error_details


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+33 6 12 34 56 78", "***5678"),
        ("06 12 34 56 78", "***5678"),
        ("06.12.34.56.78", "***5678"),
        ("06-12-34-56-78", "***5678"),
        ("(415) 555-0132", "***0132"),
        ("(415)555-0132", "***0132"),
        ("+1-415-555-0132", "***0132"),
        ("+1 (415) 555-0132", "***0132"),
        ("1-415-555-0132", "***0132"),
        ("415.555.0132", "***0132"),
        ("+44 (0)20 7946 0958", "***0958"),
        ("+33 (0)6 12 34 56 78", "***5678"),
        ("+33(0)6 12 34 56 78", "***5678"),
        ("+49 30 1234 5678", "***5678"),
        ("+44 7700 900123", "***0123"),
        ("07700 900123", "***0123"),
        ("(11) 91234-5678", "***5678"),
        ("0 800 12 34 56", "***3456"),
        ("+33 612 345 678", "***5678"),
    ],
)
def test_numbers_written_in_groups_are_masked_to_their_last_four_digits(
    text: str, masked: str
) -> None:
    assert mask_phones_in(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Rappelez-moi au 06 12 34 56 78.", "Rappelez-moi au ***5678."),
        ("mon numéro (06 12 34 56 78) merci", "mon numéro (***5678) merci"),
        ("Tel: +1-415-555-0132, ext. 12", "Tel: ***0132, ext. 12"),
        ("06 12 34 56 78 ou 07.11.22.33.44", "***5678 ou ***3344"),
        ("le 2026-11-26 06 12 34 56 78", "le 2026-11-26 ***5678"),
        ("call +33612345678 or +33 6 12 34 56 78", "call ***5678 or ***5678"),
    ],
)
def test_numbers_in_sentences_are_masked_and_the_words_around_them_kept(
    text: str, masked: str
) -> None:
    assert mask_phones_in(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26",
        "26.11.2026",
        "26-11-2026",
        "le 26 11 2026",
        "2026-11-26 12:00:00",
        "2026-11-26T03:27:32Z",
        "du 01.12.2026 au 05.12.2026",
        "12:30 - 14:00",
        "de 9 h à 18 h 30",
        "12,50 €",
        "1 234,50",
        "1 234 567,50 €",
        "12 345 678 €",
        "12 345 678 EUR",
        "1 234 567 890 €",
        "19.99",
        "took 1234.5678 ms",
        "commande 2026-000123",
        "ORD-2026-11-000123",
        "#1234-5678",
        "SKU 12345 67890",
        "3 x 2 gâteaux pour 2026",
        "1 2 3 4 5 6 7 8",
        "192.168.100.200",
        "v1.2.3.4",
        "wamid.HBgLMzM2MTIzNDU2Nzg5FQIAERgSQUFBQUFB",
        "conversation c_3f9a2b7e1d",
        "call 555-0132",
        "no database in /tmp/run-1795664993/data",
        "path=/v26.0/106540352242999/messages",
    ],
)
def test_dates_times_amounts_references_and_ids_are_left_alone(text: str) -> None:
    assert mask_phones_in(text) == text


def test_stored_reasons_and_meta_details_mask_grouped_numbers_too() -> None:
    details = "Message to +1 (415) 555-0132 failed on 2026-11-26"
    assert safe_error_details(details) == "Message to ***0132 failed on 2026-11-26"
