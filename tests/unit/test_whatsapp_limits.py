from __future__ import annotations

import msgspec
import pytest

from domain.outbound import (
    ContactRequestMessage,
    ListMessage,
    ListRow,
    ListSection,
    MediaMessage,
    OutboundMessage,
    ReactionMessage,
    Recipient,
    ReplyButton,
    ReplyButtonsMessage,
    TemplateButton,
    TemplateMediaHeader,
    TemplateMessage,
    TemplateTextHeader,
    TextMessage,
    decode_message,
    encode_message,
)
from domain.whatsapp_limits import (
    MessageLimitError,
    check_message,
    grapheme_count,
    text_length,
    truncate_text,
)

THUMBS_UP_DARK = "\U0001f44d\U0001f3ff"  # emoji + skin-tone modifier: 4 UTF-16 units
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # ZWJ sequence: 8 units
FRENCH_FLAG = "\U0001f1eb\U0001f1f7"  # two regional indicators: 4 units
E_ACUTE = "e\u0301"  # e + combining acute accent: 2 units


def _buttons(*titles: str, body: str = "Pick one") -> ReplyButtonsMessage:
    return ReplyButtonsMessage(
        body=body,
        buttons=tuple(ReplyButton(id=f"b{i}", title=t) for i, t in enumerate(titles)),
    )


def _list(*sections: ListSection, button: str = "Choose") -> ListMessage:
    return ListMessage(body="Our menu", button=button, sections=sections)


def _rows(count: int, prefix: str = "r") -> tuple[ListRow, ...]:
    return tuple(ListRow(id=f"{prefix}{i}", title=f"Row {i}") for i in range(count))


def _violation(message: OutboundMessage) -> MessageLimitError:
    with pytest.raises(MessageLimitError) as raised:
        check_message(message)
    return raised.value


# Counting and cutting


def test_length_counts_utf16_code_units() -> None:
    assert text_length("hello") == 5
    assert text_length("é") == 1
    assert text_length(E_ACUTE) == 2
    assert text_length("\U0001f600") == 2
    assert text_length(FAMILY) == 8


@pytest.mark.parametrize("cluster", [THUMBS_UP_DARK, FAMILY, FRENCH_FLAG, E_ACUTE])
def test_truncation_never_cuts_inside_a_grapheme(cluster: str) -> None:
    text = "a" * 18 + cluster + "tail"
    cut = truncate_text(text, 19)
    assert cut == "a" * 18  # the cluster does not fit whole, so it is dropped whole
    assert truncate_text(text, 18 + text_length(cluster)) == "a" * 18 + cluster


def test_truncation_keeps_text_that_fits() -> None:
    assert truncate_text("short", 20) == "short"
    assert truncate_text("exactly20characters!", 20) == "exactly20characters!"


def test_grapheme_count_sees_clusters() -> None:
    assert grapheme_count(FAMILY + FRENCH_FLAG + E_ACUTE) == 3


# Text


def test_text_body_at_the_limit_passes_and_one_more_fails() -> None:
    assert check_message(TextMessage(body="x" * 4096)) == TextMessage(body="x" * 4096)
    error = _violation(TextMessage(body="x" * 4097))
    assert error.field == "body"
    assert "4097 characters long, at most 4096" in str(error)


def test_text_body_counts_emoji_as_meta_does() -> None:
    error = _violation(TextMessage(body="\U0001f600" * 2049))  # 4098 units
    assert error.field == "body"


def test_empty_text_is_refused() -> None:
    assert _violation(TextMessage(body="  ")).field == "body"


def test_truncation_on_request_cuts_the_text_body() -> None:
    long = "x" * 4095 + THUMBS_UP_DARK
    checked = check_message(TextMessage(body=long, preview_url=True), truncate=True)
    assert checked == TextMessage(body="x" * 4095, preview_url=True)


# Reply buttons


def test_three_buttons_fit_and_a_fourth_is_refused() -> None:
    assert check_message(_buttons("Yes", "No", "Maybe"))
    error = _violation(_buttons("A", "B", "C", "D"))
    assert error.field == "buttons"
    assert "at most 3" in str(error)


def test_no_buttons_is_refused() -> None:
    assert _violation(_buttons()).field == "buttons"


def test_button_title_over_20_names_the_button() -> None:
    error = _violation(_buttons("Yes", "x" * 21))
    assert error.field == "buttons[1].title"
    assert "21 characters long, at most 20" in str(error)


def test_button_titles_and_ids_must_be_unique() -> None:
    error = _violation(_buttons("Yes", "Yes"))
    assert error.field == "buttons"
    assert "title 'Yes'" in str(error)
    same_ids = ReplyButtonsMessage(
        body="Pick", buttons=(ReplyButton(id="x", title="A"), ReplyButton(id="x", title="B"))
    )
    assert "id 'x'" in str(_violation(same_ids))


def test_button_id_limit_is_256_and_never_truncated() -> None:
    ok = ReplyButtonsMessage(body="b", buttons=(ReplyButton(id="i" * 256, title="A"),))
    assert check_message(ok) == ok
    too_long = ReplyButtonsMessage(body="b", buttons=(ReplyButton(id="i" * 257, title="A"),))
    with pytest.raises(MessageLimitError) as raised:
        check_message(too_long, truncate=True)
    assert raised.value.field == "buttons[0].id"


def test_interactive_body_header_footer_limits() -> None:
    message = ReplyButtonsMessage(
        body="b" * 1025, header="h" * 61, footer="f" * 61, buttons=(ReplyButton(id="a", title="A"),)
    )
    error = _violation(message)
    assert [v.field for v in error.violations] == ["body", "header", "footer"]


def test_truncated_button_titles_that_collide_are_refused() -> None:
    message = _buttons("x" * 20 + "1", "x" * 20 + "2")
    with pytest.raises(MessageLimitError) as raised:
        check_message(message, truncate=True)
    assert "title" in str(raised.value)


def test_truncation_cuts_button_titles_at_graphemes() -> None:
    message = _buttons("Oui " + FRENCH_FLAG * 10, "Non")
    checked = check_message(message, truncate=True)
    assert isinstance(checked, ReplyButtonsMessage)
    assert checked.buttons[0].title == "Oui " + FRENCH_FLAG * 4
    assert checked.buttons[1].title == "Non"


# Lists


def test_ten_rows_in_all_fit_and_eleven_do_not() -> None:
    two_sections = _list(
        ListSection(title="Starters", rows=_rows(5, "s")),
        ListSection(title="Mains", rows=_rows(5, "m")),
    )
    assert check_message(two_sections) == two_sections
    error = _violation(
        _list(
            ListSection(title="Starters", rows=_rows(6, "s")),
            ListSection(title="Mains", rows=_rows(5, "m")),
        )
    )
    assert error.field == "sections"
    assert "11 rows in all, at most 10" in str(error)


def test_row_ids_unique_across_sections() -> None:
    error = _violation(
        _list(ListSection(title="A", rows=_rows(2)), ListSection(title="B", rows=_rows(1)))
    )
    assert error.field == "sections[].rows"
    assert "'r0'" in str(error)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (ListRow(id="r", title="t" * 25), "sections[0].rows[0].title"),
        (ListRow(id="r", title="t", description="d" * 73), "sections[0].rows[0].description"),
        (ListRow(id="r" * 201, title="t"), "sections[0].rows[0].id"),
        (ListRow(id="", title="t"), "sections[0].rows[0].id"),
    ],
)
def test_row_limits_name_the_row(row: ListRow, field: str) -> None:
    assert _violation(_list(ListSection(rows=(row,)))).field == field


def test_row_limits_at_their_edges_pass() -> None:
    row = ListRow(id="r" * 200, title="t" * 24, description="d" * 72)
    message = _list(ListSection(title="s" * 24, rows=(row,)), button="b" * 20)
    assert check_message(message) == message


def test_section_title_and_button_label_limits() -> None:
    error = _violation(_list(ListSection(title="s" * 25, rows=_rows(1)), button="b" * 21))
    assert [v.field for v in error.violations] == ["button", "sections[0].title"]


def test_several_sections_each_need_a_title() -> None:
    error = _violation(_list(ListSection(rows=_rows(1, "a")), ListSection(rows=_rows(1, "b"))))
    assert error.field == "sections[0].title"


def test_empty_section_is_refused() -> None:
    assert _violation(_list(ListSection(rows=()))).field == "sections[0].rows"


def test_list_truncation_cuts_every_visible_text() -> None:
    row = ListRow(id="r", title="t" * 30, description="d" * 80)
    message = ListMessage(
        body="b" * 2000,
        button="Voir les options " + E_ACUTE * 5,
        header="h" * 70,
        footer="f" * 70,
        sections=(ListSection(title="s" * 30, rows=(row,)),),
    )
    checked = check_message(message, truncate=True)
    assert checked == ListMessage(
        body="b" * 1024,
        button="Voir les options " + E_ACUTE,
        header="h" * 60,
        footer="f" * 60,
        sections=(
            ListSection(
                title="s" * 24, rows=(ListRow(id="r", title="t" * 24, description="d" * 72),)
            ),
        ),
    )


# Other kinds


def test_media_needs_exactly_one_source() -> None:
    both = MediaMessage(media_type="image", media_id="1", link="https://x.test/a.png")
    assert _violation(both).field == "media_id"
    assert _violation(MediaMessage(media_type="image")).field == "media_id"
    assert _violation(MediaMessage(media_type="image", link="ftp://x")).field == "link"


def test_media_caption_and_filename_rules() -> None:
    sticker = MediaMessage(media_type="sticker", media_id="1", caption="hi")
    assert _violation(sticker).field == "caption"
    image = MediaMessage(media_type="image", media_id="1", filename="a.png")
    assert _violation(image).field == "filename"
    long_caption = MediaMessage(media_type="video", media_id="1", caption="c" * 1025)
    assert _violation(long_caption).field == "caption"
    document = MediaMessage(media_type="document", link="https://x.test/a.pdf", filename="a.pdf")
    assert check_message(document) == document


def test_reaction_takes_one_emoji_or_none() -> None:
    assert check_message(ReactionMessage(message_id="wamid.X", emoji=FAMILY))
    assert check_message(ReactionMessage(message_id="wamid.X", emoji=""))
    assert _violation(ReactionMessage(message_id="wamid.X", emoji="ok")).field == "emoji"
    quoted = ReactionMessage(message_id="wamid.X", emoji="\U0001f600", reply_to="wamid.Y")
    assert _violation(quoted).field == "reply_to"


def test_template_rules() -> None:
    good = TemplateMessage(
        name="order_shipped",
        language="fr",
        body_parameters=("Ada",),
        header=TemplateMediaHeader(media_type="document", link="https://x.test/invoice.pdf"),
        buttons=(TemplateButton(index=0, sub_type="url", parameter="ord-42"),),
    )
    assert check_message(good) == good
    bad = TemplateMessage(
        name="order_shipped",
        language="",
        body_parameters=("",),
        header=TemplateTextHeader(text=""),
        buttons=(
            TemplateButton(index=0, sub_type="url", parameter="a"),
            TemplateButton(index=0, sub_type="quick_reply", parameter=""),
        ),
    )
    fields = [v.field for v in _violation(bad).violations]
    assert fields == [
        "language",
        "body_parameters[0]",
        "header.text",
        "buttons[1].parameter",
        "buttons",
    ]


def test_a_copy_code_is_at_most_20_characters_and_never_cut() -> None:
    def coupon(code: str) -> TemplateMessage:
        button = TemplateButton(index=0, sub_type="copy_code", parameter=code)
        return TemplateMessage(name="fall_sale", language="en_US", buttons=(button,))

    assert check_message(coupon("A" * 20)) == coupon("A" * 20)
    assert _violation(coupon("A" * 21)).field == "buttons[0].parameter"
    with pytest.raises(MessageLimitError):
        check_message(coupon("A" * 21), truncate=True)


def test_contact_request_body_is_an_interactive_body() -> None:
    assert _violation(ContactRequestMessage(body="x" * 1025)).field == "body"


def test_reply_to_must_not_be_empty() -> None:
    assert _violation(TextMessage(body="hi", reply_to="")).field == "reply_to"


def test_every_violation_is_reported_at_once() -> None:
    error = _violation(_buttons("x" * 21, "y" * 22, body=""))
    assert [v.field for v in error.violations] == ["body", "buttons[0].title", "buttons[1].title"]


# The model itself


def test_messages_round_trip_as_plain_json() -> None:
    message = TemplateMessage(
        name="n",
        language="pt_BR",
        header=TemplateMediaHeader(media_type="video", media_id="123"),
        buttons=(TemplateButton(index=1, sub_type="copy_code", parameter="SAVE10"),),
        reply_to="wamid.Q",
    )
    data = encode_message(message)
    assert msgspec.json.decode(data)["kind"] == "template"
    assert decode_message(data) == message


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_message(b'{"kind": "carousel", "body": "x"}')


def test_a_recipient_needs_a_phone_number_or_a_bsuid() -> None:
    with pytest.raises(ValueError, match="phone number or a business-scoped user id"):
        Recipient()
    assert Recipient(user_id="US.1349").address == "US.1349"
    assert Recipient(phone_number="15551234567", user_id="US.1349").address == "15551234567"
