"""What identifies a person and a face: ids and names, validated the same way on every path
that takes them (enroll, rename, import, the compatibility APIs), before any model work.

Ids are what the server makes (uuid4 hex) or what an imported gallery brings: 1 to 64 of
A-Z a-z 0-9 _ - (so an id can never reach into another key, as "X:faces" would). Names are
Unicode NFC with surrounding whitespace stripped, at most 200 characters, without control
characters, and never invisible only; two names that differ only in case are the same name."""
import re
import unicodedata

from app.errors import InvalidField

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_NAME_LENGTH = 200
# Characters that show nothing: format characters (zero-width space, joiners, bidi marks),
# separators, combining marks. A name of only these looks blank.
INVISIBLE = {"Cf", "Zs", "Zl", "Zp", "Mn", "Me"}


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
    if all(unicodedata.category(c) in INVISIBLE for c in name):
        raise InvalidField(f"`{field}` has no visible character; send a name people can read")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidField(f"`{field}` is {len(name)} characters; at most {MAX_NAME_LENGTH}")
    return name


def name_key(name: str) -> str:
    """What two names share when they are the same name: case folded ("Obama" = "obama")."""
    return unicodedata.normalize("NFC", name.casefold())
