"""What identifies a person and a face: ids and names, validated the same way on every path
that takes them (enroll, rename, import, the compatibility APIs), before any model work.

Ids are what the server makes (uuid4 hex) or what an imported gallery brings: 1 to 64 of
A-Z a-z 0-9 _ - (so an id can never reach into another key, as "X:faces" would). Names are
Unicode NFC with surrounding whitespace stripped, at most 200 characters, without control
characters, and never invisible only; two names that differ only in case are the same name.
Characters that render as nothing (Unicode's default-ignorable code points: zero-width space,
soft hyphen, bidi controls, Hangul fillers, tag characters...) are refused, so that no name looks
like another's ("Ben" and "Ben" + U+200B) or like something it is not (a right-to-left override);
the joiners ZWJ and ZWNJ are kept between two visible characters (emoji sequences, Indic and
Persian spelling), and a variation selector after a symbol (emoji presentation). U+FFFD, which a
decoder leaves where the text was not UTF-8, is refused too: that name would be stored garbled."""
import re
import unicodedata

from app.errors import InvalidField

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_NAME_LENGTH = 200
# What a surface may take before normalising (NFC composes up to ~3 code points into one);
# clean_name then holds the name to MAX_NAME_LENGTH
MAX_NAME_INPUT = 4 * MAX_NAME_LENGTH
# Characters that show nothing: format characters (zero-width space, joiners, bidi marks),
# separators, combining marks, and the blanks among the letters and symbols. A name of only
# these looks blank.
INVISIBLE = {"Cf", "Zs", "Zl", "Zp", "Mn", "Me"}
BLANK = {"\u2800", "\u115f", "\u1160", "\u3164", "\uffa0"}   # Braille blank, Hangul fillers
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): what renderers do not draw
IGNORABLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
                       "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
                       "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
JOINERS = {"\u200c", "\u200d"}


def _ignorable_where_it_shows_nothing(name: str) -> str | None:
    """The first default-ignorable character of `name` that joins or selects nothing, or None."""
    for i, c in enumerate(name):
        if not IGNORABLE.match(c):
            continue
        before, after = name[i - 1] if i else "", name[i + 1] if i + 1 < len(name) else ""
        if c in JOINERS and _visible(before) and _visible(after):
            continue
        if "\ufe00" <= c <= "\ufe0f" and before and unicodedata.category(before) == "So":
            continue
        return c
    return None


def _visible(c: str) -> bool:
    return bool(c) and c not in BLANK and unicodedata.category(c) not in INVISIBLE
def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def clean_name(value: object, field: str = "name") -> str:
    """The name to store, or 400 invalid_field saying what is wrong with it."""
    if not isinstance(value, str):
        raise InvalidField(f"`{field}` must be a string, got {type(value).__name__}")
    name = unicodedata.normalize("NFC", value.strip())
    if not name:
        raise InvalidField(f"`{field}` is blank; send a name with visible characters")
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in name):
        raise InvalidField(f"`{field}` holds control, private-use or invalid characters; send plain text")
    if "\ufffd" in name:
        raise InvalidField(f"`{field}` holds U+FFFD, what is left where text was not UTF-8; send the name "
                           f"encoded as UTF-8")
    if not any(_visible(c) for c in name):
        raise InvalidField(f"`{field}` has no visible character; send a name people can read")
    hidden = _ignorable_where_it_shows_nothing(name)
    if hidden is not None:
        raise InvalidField(f"`{field}` holds U+{ord(hidden):04X}, a character that shows nothing there (two names "
                           f"would look the same); send the name without it")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidField(f"`{field}` is {len(name)} characters; at most {MAX_NAME_LENGTH}")
    return name


def name_key(name: str) -> str:
    """What two names share when they are the same name: case folded ("Obama" = "obama")."""
    return unicodedata.normalize("NFC", name.casefold())
