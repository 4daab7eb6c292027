"""Ids and names, validated the same way on every path that takes them."""
import pytest

from app.errors import InvalidField
from app.gallery.identity import MAX_NAME_LENGTH, clean_name, is_valid_id, name_key


@pytest.mark.parametrize("value, valid", [
    ("0123456789abcdef0123456789abcdef", True), ("person_1-a", True), ("x" * 64, True),
    ("", False), ("x" * 65, False), ("X:faces", False), ("a b", False), ("é", False), (None, False), (12, False),
])
def test_ids_are_1_to_64_safe_characters(value, valid):
    assert is_valid_id(value) is valid


def test_names_are_stripped_and_nfc():
    assert clean_name("  Ada Lovelace \n") == "Ada Lovelace"
    assert clean_name("Cafe\u0301") == "Caf\u00e9"     # e + combining accent -> é
    assert clean_name("x" * MAX_NAME_LENGTH) == "x" * MAX_NAME_LENGTH


@pytest.mark.parametrize("value, says", [
    ("   ", "blank"),
    ("\u200b\u200d", "no visible character"),
    ("Ada\x00", "control"),
    ("Ada\ue000", "private-use"),
    ("x" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH}"),
    (42, "must be a string"),
])
def test_bad_names_are_refused_saying_why(value, says):
    with pytest.raises(InvalidField, match=says) as info:
        clean_name(value, "subject")
    assert "`subject`" in info.value.message and info.value.status == 400


def test_names_differing_only_in_case_are_one_name():
    assert name_key("Obama") == name_key("OBAMA") == name_key("obama")
    assert name_key(clean_name("STRASSE")) == name_key(clean_name("straße"))  # full case folding
    assert name_key("Ann") != name_key("Anne")
