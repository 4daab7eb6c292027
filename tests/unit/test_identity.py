"""Ids and names, validated the same way on every path that takes them."""
import unicodedata
from types import SimpleNamespace

import pytest

from app.errors import InvalidField
from app.gallery import identity
from app.gallery.identity import MAX_NAME_LENGTH, clean_name, is_valid_face_id, is_valid_id, name_key


@pytest.mark.parametrize("value, valid", [
    ("0123456789abcdef0123456789abcdef", True), ("person_1-a", True), ("x" * 64, True),
    ("", False), ("x" * 65, False), ("X:faces", False), ("a b", False), ("é", False), (None, False), (12, False),
])
def test_ids_are_1_to_64_safe_characters(value, valid):
    assert is_valid_id(value) is valid


def test_face_ids_are_ids_but_never_dashed_uuids():
    """The compatibility APIs show 32-hex face ids as dashed UUIDs and read those back: a face
    id in that form would be read as another face's."""
    assert is_valid_face_id("0123456789abcdef0123456789abcdef") and is_valid_face_id("f-1")
    assert is_valid_face_id("0123456789ABCDEF0123456789ABCDEF")   # shown as it is, read back as it is
    assert not is_valid_face_id("01234567-89ab-cdef-0123-456789abcdef") and not is_valid_face_id("a b")
    assert not is_valid_face_id("01234567-89AB-CDEF-0123-456789ABCDEF")   # read back in either case


def test_a_name_too_long_is_refused_before_any_work_on_its_characters(monkeypatch):
    """A 19-million-character CompreFace subject took 2.5 s of a worker to be refused: every
    surface's name now stops at the length, before normalising or checking each character."""
    def no_work(*args):
        raise AssertionError("worked on the characters of a name that was too long anyway")
    monkeypatch.setattr(identity, "unicodedata", SimpleNamespace(normalize=no_work, category=no_work))
    with pytest.raises(InvalidField, match=f"at most {MAX_NAME_LENGTH}"):
        clean_name("a" * (identity.MAX_NAME_INPUT + 1), "subject")


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


@pytest.mark.parametrize("name", [
    "\u0db4\u0dca\u200d\u0dbb\u0dd2\u0dba\u0db1\u0dca\u0dad",   # Sinhala, ZWJ after the virama (Priyantha)
    "\u0995\u094d\u200d\u0937", "\u0915\u094d\u200c\u0937",     # Devanagari half forms
    "\u0d05\u0d35\u0d28\u0d4d\u200d",                            # Malayalam chillu, ZWJ last
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",          # Persian ZWNJ
    "\u845b\U000e0100",                                          # a Japanese ideographic variation
    "1\ufe0f\u20e3", "#\ufe0f\u20e3", "\u203c\ufe0f",           # keycaps, emoji presentation
    "\u2764\ufe0f\u200d\U0001f525", "\U0001f3f3\ufe0f\u200d\U0001f308",
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",   # Scotland's flag: tags
    "\u182e\u1823\u1829\u182d\u1823\u182f\u180b",               # Mongolian, a free variation selector
])
def test_names_written_with_joiners_and_selectors_are_kept(name):
    assert clean_name(name) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize("name", ["Ben\u200b", "B\u00aden", "Ben\u2060", "Ben\u200e", "\u202eneB", "Ben\u200d",
                                  "\u200dBen", "Ben\ufe0f", "B\ufe0fen", "Ben\U000e0041", "Jos\ufffd"])
def test_new_names_that_would_look_like_another_are_refused_but_found(name):
    with pytest.raises(InvalidField):
        clean_name(name)
    assert clean_name(name, new=False) == name   # stored before: still looked up and restored
