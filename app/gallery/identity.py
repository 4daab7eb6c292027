"""What identifies a person and a face: ids and names, validated the same way on every path
that takes them (enroll, rename, import, the compatibility APIs), before any model work.

Ids are what the server makes (uuid4 hex) or what an imported gallery brings: 1 to 64 of
A-Z a-z 0-9 _ - (so an id can never reach into another key, as "X:faces" would). Names are
Unicode NFC with surrounding whitespace stripped, at most 200 characters, without control
characters, and never invisible only; two names that differ only in case are the same name.
A new name (enroll, rename, a new subject) must not look like another name: the invisible
characters that no script is written with (zero-width space, soft hyphen, bidi marks and
overrides, word joiners, Hangul fillers...) are refused anywhere, and the ones scripts and emoji
do use (ZWJ, ZWNJ, variation selectors, tag characters) at the start of a name or right after an
ASCII character, where they join or select nothing ("Ben" + U+200D looks like "Ben"), but for
the keycaps (1 + U+FE0F + U+20E3); U+FFFD, which a decoder leaves where text was not UTF-8, is
refused too. A name looked up, or restored by an import, is only normalised: it was stored
under the rules of its day."""
import re
import unicodedata

from app.errors import InvalidField

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The compatibility APIs show a 32-hex face id (ours: uuid4().hex) as a dashed UUID, and read a
# dashed UUID (in either case, as CompreFace's own UUIDs read) back as the 32-hex id: so a face
# id may not itself be a dashed UUID (it would be read as another face's).
HEX_FACE_ID = re.compile(r"[0-9a-f]{32}")
DASHED_FACE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
MAX_NAME_LENGTH = 200
# What a surface may take before normalising (NFC composes up to ~3 code points into one);
# clean_name then holds the name to MAX_NAME_LENGTH
MAX_NAME_INPUT = 4 * MAX_NAME_LENGTH
# Characters that show nothing: format characters (zero-width space, joiners, bidi marks),
# separators, combining marks, and the blanks among the letters and symbols. A name of only
# these looks blank.
INVISIBLE = {"Cf", "Zs", "Zl", "Zp", "Mn", "Me"}
BLANK = {"\u2800", "\u115f", "\u1160", "\u3164", "\uffa0"}   # Braille blank, Hangul fillers
# Of Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), what renderers do not
# draw and no orthography uses: refused anywhere in a new name
NEVER = re.compile("[\u00ad\u061c\u115f\u1160\u17b4\u17b5\u200b\u200e\u200f\u202a-\u202e\u2060-\u206f"
                   "\u3164\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
                   "\U000e0000-\U000e001f\U000e0080-\U000e00ff\U000e01f0-\U000e0fff]")
# ... and what scripts and emoji use between other characters (joiners, the combining grapheme
# joiner, variation selectors, Mongolian free variation selectors, tag characters of flags)
JOINING = re.compile("[\u034f\u180b-\u180f\u200c\u200d\ufe00-\ufe0f\U000e0020-\U000e007f"
                     "\U000e0100-\U000e01ef]")
KEYCAP = "\ufe0f\u20e3"


def _hidden_character(name: str) -> str | None:
    """The first character of `name` that shows nothing where it is, or None."""
    for i, c in enumerate(name):
        if NEVER.match(c):
            return c
        if JOINING.match(c) and (i == 0 or (name[i - 1].isascii() and name[i:i + 2] != KEYCAP)):
            return c
    return None


def _visible(c: str) -> bool:
    return c not in BLANK and unicodedata.category(c) not in INVISIBLE


def text_problem(value: str, max_length: int) -> str | None:
    """What is wrong with the (stripped) text field `value`, said after its name ("is blank; ..."),
    or None: blank, longer than `max_length`, control characters or lone surrogates, or U+FFFD
    (what a decoder leaves where text was not UTF-8)."""
    if not value:
        return "is blank; send it with visible characters, or leave it out"
    if len(value) > max_length:
        return f"is {len(value)} characters; at most {max_length}"
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        return "holds control or invalid characters; send plain text"
    if "\ufffd" in value:
        return "holds U+FFFD, what is left where text was not UTF-8; send it as UTF-8"
    return None


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def is_valid_face_id(value: object) -> bool:
    """An id (is_valid_id) that is not a dashed UUID (HEX_FACE_ID, DASHED_FACE_ID)."""
    return is_valid_id(value) and DASHED_FACE_ID.fullmatch(str(value)) is None


def clean_name(value: object, field: str = "name", new: bool = True) -> str:
    """The name to store (`new`) or to look up, or 400 invalid_field saying what is wrong with it."""
    if not isinstance(value, str):
        raise InvalidField(f"`{field}` must be a string, got {type(value).__name__}")
    if len(value) > MAX_NAME_INPUT:   # before any per-character work, whichever surface sent it
        raise InvalidField(f"`{field}` is {len(value)} characters; at most {MAX_NAME_LENGTH}")
    name = unicodedata.normalize("NFC", value.strip())
    if not name:
        raise InvalidField(f"`{field}` is blank; send a name with visible characters")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in name):
        raise InvalidField(f"`{field}` holds control, private-use or invalid characters; send plain text")
    if not any(_visible(c) for c in name):
        raise InvalidField(f"`{field}` has no visible character; send a name people can read")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidField(f"`{field}` is {len(name)} characters; at most {MAX_NAME_LENGTH}")
    if not new:
        return name
    if "\ufffd" in name:
        raise InvalidField(f"`{field}` holds U+FFFD, what is left where text was not UTF-8; send the name "
                           f"encoded as UTF-8")
    hidden = _hidden_character(name)
    if hidden is not None:
        raise InvalidField(f"`{field}` holds U+{ord(hidden):04X}, a character that shows nothing there (two names "
                           f"would look the same); send the name without it")
    return name


def name_key(name: str) -> str:
    """What two names share when they are the same name: case folded ("Obama" = "obama")."""
    return unicodedata.normalize("NFC", name.casefold())
