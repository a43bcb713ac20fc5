"""Vietnamese Telex: shapes, tones on the right vowel, double keys giving the letter back."""

import pytest

from kiosk.ui.telex import telex, type_key


@pytest.mark.parametrize(
    ("keys", "text"),
    [
        # Shape marks.
        ("aa", "â"), ("aw", "ă"), ("ee", "ê"), ("oo", "ô"), ("ow", "ơ"), ("uw", "ư"), ("dd", "đ"),
        # Tones: sắc, huyền, hỏi, ngã, nặng; z removes.
        ("as", "á"), ("af", "à"), ("ar", "ả"), ("ax", "ã"), ("aj", "ạ"), ("asz", "a"),
        # Names and words: the tone lands on the right vowel.
        ("Nguyeenx", "Nguyễn"), ("Vieetj Nam", "Việt Nam"), ("ddaauf", "đầu"), ("nguwowif", "người"),
        ("dduwowcj", "được"), ("hoas", "hóa"), ("toans", "toán"), ("khoais", "khoái"), ("Hoangf", "Hoàng"),
        ("quas", "quá"), ("gias", "giá"), ("gif", "gì"), ("muwa", "mưa"), ("cuar", "của"), ("Thuyr", "Thủy"),
        ("tieengs", "tiếng"), ("khuyeens", "khuyến"), ("huyeenf", "huyền"), ("trawng", "trăng"),
        # A tone typed before the shape still ends on the shaped vowel.
        ("viets", "viét"),
        ("vieset", "viết"),
        # Upper case is kept.
        ("NGUYEENX", "NGUYỄN"), ("DDawngs", "Đắng"),
        # A modifier typed again gives the letter itself.
        ("ass", "as"), ("aaa", "aa"), ("ddd", "dd"), ("uww", "uw"), ("oww", "ow"),
        # Keys that modify nothing are plain letters.
        ("s", "s"), ("w", "w"), ("bd", "bd"), ("z", "z"),
    ],
)
def test_telex(keys, text):
    assert telex(keys) == text


def test_words_are_composed_one_at_a_time():
    assert telex("Hoof Chis Minh") == "Hồ Chí Minh"
    assert telex("Ngheej An, 2024") == "Nghệ An, 2024"


def test_type_key_works_on_text_already_on_screen():
    assert type_key("Nguyên", "x") == "Nguyễn"
    assert type_key("đô", "f") == "đồ"
    assert type_key("hóa", "f") == "hòa"  # another tone replaces the first


def test_foreign_text_is_left_alone():
    assert type_key("Zürich", "s") == "Zürichs"
