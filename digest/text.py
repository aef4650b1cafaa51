"""Text clean-up shared by every source: the words stay, the noise goes."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date

# Characters XML 1.0 forbids (C0 controls but tab/newline/CR, surrogates, U+FFFE/U+FFFF),
# C1 controls, and invisible format characters that only get in the way.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u200b\ufeff]")
_NOT_WORD = re.compile(r"[^\w]+")


def clean_line(text: str) -> str:
    """One line of text: XML-illegal characters removed, any run of whitespace (including
    non-breaking and other Unicode spaces) made one space, ends stripped, NFC form."""
    text = _ILLEGAL.sub("", text)
    return unicodedata.normalize("NFC", " ".join(text.split()))


def clean_text(text: str) -> str:
    """Like clean_line, but keeps single line breaks between lines (captions, paragraphs)."""
    lines = (clean_line(line) for line in _ILLEGAL.sub("", text).splitlines())
    return "\n".join(line for line in lines if line)


def fingerprint(title: str, published: date) -> str:
    """The identity of an item that has no URL or GUID: its title folded (case, punctuation,
    spacing) and its date, hashed; casing or punctuation fixes keep the same key."""
    folded = _NOT_WORD.sub(" ", clean_line(title).casefold()).strip()
    digest = hashlib.sha256(f"{published.isoformat()} {folded}".encode()).hexdigest()
    return f"sha256:{digest[:32]}"
