"""Text clean-up shared by every source: the words stay, the noise goes."""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from datetime import date
from functools import cache
from typing import AnyStr

# Characters XML 1.0 forbids (C0 controls but tab/newline/CR, surrogates, U+FFFE/U+FFFF),
# C1 controls, and invisible format characters that only get in the way.
_ILLEGAL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
    "\u00ad\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_NOT_WORD = re.compile(r"[^\w]+")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Patterns a plain-text listing never needs are compiled at first use (_compiled).
_DECLARED = (
    rb"""(?i)<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)|<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)"""
)
# What browsers do with these labels (WHATWG Encoding): Latin-1 means windows-1252.
_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "ascii": "cp1252"}


@cache
def _compiled(pattern: AnyStr) -> re.Pattern[AnyStr]:
    """A pattern that only some pages need, compiled at its first use and kept."""
    return re.compile(pattern)


def clean_line(text: str) -> str:
    """One line of text: XML-illegal characters removed, any run of whitespace (including
    non-breaking and other Unicode spaces) made one space, ends stripped, NFC form."""
    text = _ILLEGAL.sub("", text)
    return unicodedata.normalize("NFC", " ".join(text.split()))


def xml_safe(text: str) -> str:
    """The text without the characters XML 1.0 forbids (and the invisible ones clean_line
    drops), its line breaks and spacing kept: for HTML and text taken whole from a page."""
    return _ILLEGAL.sub("", text)


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


KEY_MAX_BYTES = 1000  # what the store's items.key holds, and its index, on every backend


def storable_key(key: str) -> str:
    """An item key the store can hold: a URL or GUID over KEY_MAX_BYTES (a hostile or broken
    page's) stands by its hash, the same for the same address, so it is stored and found
    again instead of failing the whole ingest."""
    encoded = key.encode("utf-8", "surrogatepass")
    if len(encoded) <= KEY_MAX_BYTES:
        return key
    return f"urn:sha256:{hashlib.sha256(encoded).hexdigest()}"


def bom_encoding(data: bytes) -> str | None:
    """The encoding a byte-order mark at the start of `data` names, or None."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def decode_document(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """A fetched page or feed as text, and the encoding used: a BOM wins, then UTF-8 when
    the bytes are valid UTF-8 (pages that declare Latin-1 but are UTF-8 come out right),
    then the charset the server or the document declares, then charset-normalizer's guess.
    Undecodable bytes become U+FFFD; nothing raises."""
    if encoding := bom_encoding(data):
        return data.decode(encoding, errors="replace").lstrip("\ufeff"), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    for label in (declared, *_declared_in(data[:4096])):
        encoding = _codec(label)
        if encoding and encoding not in ("utf-8", "utf-16", "utf-32"):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                continue
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    encoding = _codec(best.encoding if best else None)
    if encoding is None or _single_byte(encoding):
        encoding = "cp1252"
    return data.decode(encoding, errors="replace"), encoding


def _declared_in(head: bytes) -> list[str]:
    found = _compiled(_DECLARED).finditer(head)
    return [(match[1] or match[2]).decode("ascii", "replace") for match in found]


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().casefold()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _single_byte(encoding: str) -> bool:
    try:
        return len("\u00e9".encode(encoding)) == 1
    except UnicodeEncodeError:
        return encoding.startswith(("cp", "iso8859", "mac", "koi8", "latin"))


CREDIT_LINE = r"(?i)^\(?\s*(?:photo(?:graph)?\s*(?:credit|by)?|image\s*credit|credit|©)\b"
CREDIT_AGENCY = r"(?i)(?:getty images|/afp\b|\bafp/|reuters|ap photo)"
TRAILING_CREDIT = r"(?i)\s*\((?:photo|credit)[^()]*\)\s*$"
CREDIT_AGENCY_MAX = 80


def caption_and_credit(caption: str | None) -> tuple[str | None, str | None]:
    """A photo caption split into its description and its credit ("Photo by …", an agency
    line, or a trailing "(Photo by …)"); either can be None."""
    if not caption:
        return None, None
    lines = [line.strip() for line in clean_text(caption).split("\n") if line.strip()]
    described, credits = [], []
    for line in lines:
        short_agency = len(line) <= CREDIT_AGENCY_MAX and _compiled(CREDIT_AGENCY).search(line)
        if _compiled(CREDIT_LINE).match(line) or short_agency:
            credits.append(line.strip("() "))
            continue
        tail: list[str] = []
        while match := _compiled(TRAILING_CREDIT).search(line):
            tail.insert(0, match.group(0).strip().strip("() "))
            line = line[: match.start()]
        if line.strip():
            described.append(line.strip())
        credits += tail
    return " ".join(described) or None, " ".join(credits) or None
