"""The listing parser: lines of a newsroom listing page (as plain text) become Items.

It reads structure, not wording. An item is, in page order, optional photo caption lines,
an optional type line (a configured label, maybe after an icon's alt text such as
"Sheet of paper Report"), the title, an optional summary and a line that is only a date.
An older layout puts a header `Month D, YYYY • Type` above the title and no date after
the summary. Page boilerplate (configured lines) is dropped wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple
from urllib.parse import urldefrag, urljoin

from digest.config import Settings
from digest.dates import find_date_at_start
from digest.item import Item, ItemType
from digest.logs import logger
from digest.text import clean_line, fingerprint

HEADER_REST = re.compile(r"^\s*[•·|–—]\s*(?P<rest>\S.{0,60})$")
PROSE_ENDINGS = (".", "…", ":", ";")
PROSE_LENGTH = 140
MAX_ICON_WORDS = 4
# A line shaped like a date alone (`February 31, 2026`, `2026-02-30`) that no calendar has.
DATE_SHAPED = re.compile(
    r"^(?:(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}"
    r"|\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{4}"
    r"|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4})\.?$",
    re.IGNORECASE,
)


class Line(NamedTuple):
    """One non-empty line of a page, where it was, and the link it carried (HTML pages). A
    named tuple, which is cheaper to define at import than a dataclass."""

    text: str
    number: int
    href: str | None = None


def lines_from_text(text: str) -> list[Line]:
    """Split plain text into cleaned, numbered, non-empty lines."""
    lines = (Line(clean_line(raw), number) for number, raw in enumerate(text.splitlines(), 1))
    return [line for line in lines if line.text]


def parse_date(text: str, language: str | None = None) -> date | None:
    """The date a line consists of, or None when the line is anything more than a date.
    `language` is the listing's (the newsroom's): its month names are read besides English."""
    found = find_date_at_start(text, language)
    if found and found.end == len(text.rstrip(".")):
        return found.value
    return None


def parse_header(text: str, language: str | None = None) -> tuple[date, str] | None:
    """The date and type words of a header line `Month D, YYYY • Type`, or None."""
    found = find_date_at_start(text, language)
    if found is None:
        return None
    rest = HEADER_REST.match(text[found.end :])
    return (found.value, rest["rest"]) if rest else None


def match_type(text: str, types: Sequence[ItemType]) -> ItemType | None:
    """The item type a line names: a label alone, or a label after a few words of icon text."""
    folded = text.casefold()
    for item_type in types:
        label = item_type.label.casefold()
        if folded == label:
            return item_type
        if folded.endswith(" " + label):
            icon = folded.removesuffix(label).split()
            if len(icon) <= MAX_ICON_WORDS and all(word.isalpha() for word in icon):
                return item_type
    return None


CONTACT_LINE = re.compile(
    r"^[^\W\d][\w.'’ -]{1,60},\s+(?:[\w-]+\s+){0,4}(?:officer|director|manager|spokes\w*"
    r"|secretary|contact|coordinator|head|specialist|advis[eo]r|lead|press|media|communications)"
    r"\b[\w ,&-]{0,60}$"
    r"|@[\w-]+\.\w|\+?\d[\d ().-]{7,}\d$",
    re.IGNORECASE,
)
# A heading that opens the press-contacts block under a listing: the listing ends there, so
# neither the contacts nor a related headline after them are read as items or captions.
CONTACTS_HEADING = re.compile(
    r"^(?:(?:media|press|news)(?:\s+(?:relations|office|team|enquiries|inquiries))?\s+contacts?"
    r"|contacts?\s+(?:for\s+)?(?:the\s+)?(?:media|press)|for\s+(?:media|press)\s+"
    r"(?:enquiries|inquiries)|media\s+(?:enquiries|inquiries)|press\s+office|medienkontakte?"
    r"|pressekontakte?|contacts?\s+presse|contacto\s+de\s+prensa|contatti\s+stampa"
    r"|perskontact|kontakt\s+för\s+media)\s*:?$",
    re.IGNORECASE,
)
MAX_CONTACTS_HEADING = 40
CUT_OFF_ENDINGS = ("…", "...", ",", "-", "–", "—", ":", "(", "/", "&")


def looks_like_contact(text: str) -> bool:
    """Whether a line names a press contact (`Name, Senior Press Officer`, an address or a
    phone number) rather than captioning a photo."""
    return bool(CONTACT_LINE.search(text))


def looks_cut_off(title: str) -> bool:
    """Whether a title ends mid-sentence, as a page cut off in transit leaves it."""
    return title.endswith(CUT_OFF_ENDINGS) or title.count("(") > title.count(")")


def looks_like_prose(text: str) -> bool:
    """Whether a line reads as a summary paragraph rather than a title or a caption."""
    return text.endswith(PROSE_ENDINGS) or len(text) >= PROSE_LENGTH


@dataclass
class _Header:
    """A header-layout item being read: its `Month D, YYYY • Type` line, and what follows."""

    line: Line
    published: date
    type: ItemType | None
    captions: list[Line]
    title: Line | None = None


class ListingParser:
    """Parses one page; state is the lines seen since the last item boundary."""

    def __init__(self, settings: Settings, origin: str, source: str, base_url: str | None):
        self.settings = settings
        self.origin = origin
        self.source = source
        self.base_url = base_url
        self.items: list[Item] = []
        self.pending: list[Line] = []
        self.header: _Header | None = None

    def parse(self, lines: Iterable[Line]) -> list[Item]:
        for line in lines:
            if line.text in self.settings.boilerplate:
                continue
            if (
                self.items
                and len(line.text) <= MAX_CONTACTS_HEADING
                and CONTACTS_HEADING.match(line.text)
            ):
                self._end_at_contacts(line)
                return self.items
            header = parse_header(line.text, self.settings.language)
            published = parse_date(line.text, self.settings.language) if header is None else None
            if header:
                day, rest = header
                self._close_header()
                item_type = self._header_type(rest, line)
                captions = self.pending
                if not self.items:
                    captions = [c for c in captions if not looks_like_contact(c.text)]
                self.header = _Header(line, day, item_type, captions=captions)
                self.pending = []
            elif published:
                self._close_header()
                self._item_from_block(self.pending, published, line)
                self.pending = []
            elif DATE_SHAPED.match(line.text):
                self._close_header()
                self._skip_bad_date(line)
            elif self.header and self.header.title is None:
                self.header.title = line
            else:
                self.pending.append(line)
        self._close_header(at_end=True)
        self._skip_undated()
        if not self.items:
            logger(__name__).warning("%s: no items found", self.origin)
        return self.items

    def _end_at_contacts(self, line: Line) -> None:
        """The listing ends at a press-contacts heading: finish the item being read; the
        contacts and anything after them (a related headline) are not items."""
        self._close_header(at_end=True)
        self._skip_undated()
        logger(__name__).info(
            "%s:%d: %r ends the listing; the lines after it are not read",
            self.origin,
            line.number,
            line.text,
        )

    def _header_type(self, rest: str, line: Line) -> ItemType | None:
        item_type = match_type(rest, self.settings.types)
        if item_type is None:
            logger(__name__).warning("%s:%d: unknown item type %r", self.origin, line.number, rest)
        return item_type

    def _close_header(self, at_end: bool = False) -> None:
        """Finish a header-layout item: the line after its title is its summary when it reads
        as prose or when more lines follow than a caption can have; the rest stays pending
        as the next item's caption. A page that ends on a cut-off title loses that item."""
        header, self.header = self.header, None
        if header is None:
            return
        if header.title is None:
            logger(__name__).warning(
                "%s:%d: dated header with no title; skipped", self.origin, header.line.number
            )
            return
        if at_end and not self.pending and looks_cut_off(header.title.text):
            logger(__name__).warning(
                "%s:%d: item %r is cut off (page ends inside its title); skipped",
                self.origin,
                header.title.number,
                header.title.text[:80],
            )
            return
        summary = None
        if self.pending and (
            looks_like_prose(self.pending[0].text)
            or len(self.pending) > self.settings.max_caption_lines
        ):
            summary, *self.pending = self.pending
        self._add(
            header.type, header.title, summary and [summary], header.captions, header.published
        )

    def _item_from_block(self, block: list[Line], published: date, date_line: Line) -> None:
        """A date-line item: the block of lines between the previous item and its date."""
        if not block:
            logger(__name__).warning(
                "%s:%d: date with no item before it", self.origin, date_line.number
            )
            return
        types = [match_type(line.text, self.settings.types) for line in block[:-1]]
        typed = [index for index, item_type in enumerate(types) if item_type]
        if typed:
            at = typed[-1]
            title, summary, captions, item_type = (
                block[at + 1],
                block[at + 2 :],
                block[:at],
                types[at],
            )
        elif len(block) > 1 and looks_like_prose(block[-1].text):
            title, summary, captions, item_type = block[-2], block[-1:], block[:-2], None
        else:
            title, summary, captions, item_type = block[-1], [], block[:-1], None
        self._add(item_type, title, summary, captions, published)

    def _skip_bad_date(self, line: Line) -> None:
        """A date line no calendar has ends its item, which is skipped with a warning rather
        than folded, undated, into the next one."""
        block = self.pending
        typed = [i for i, p in enumerate(block[:-1]) if match_type(p.text, self.settings.types)]
        if typed:
            title = block[typed[-1] + 1]
        elif len(block) > 1 and looks_like_prose(block[-1].text):
            title = block[-2]
        else:
            title = block[-1] if block else None
        what = f"item {title.text[:80]!r}" if title else "the item before it"
        logger(__name__).warning(
            "%s:%d: %r is not a real date; %s skipped", self.origin, line.number, line.text, what
        )
        self.pending = []

    def _skip_undated(self) -> None:
        if self.pending:
            title = next(
                (line for line in self.pending if not match_type(line.text, self.settings.types)),
                self.pending[0],
            )
            logger(__name__).warning(
                "%s:%d: item %r has no date (page cut off?); skipped",
                self.origin,
                title.number,
                title.text[:80],
            )
        self.pending = []

    def _add(
        self,
        item_type: ItemType | None,
        title: Line,
        summary: Sequence[Line] | None,
        captions: Sequence[Line],
        published: date,
    ) -> None:
        captions = [c for c in captions if not looks_like_contact(c.text)]
        captions = captions[-self.settings.max_caption_lines :]
        url = urldefrag(urljoin(self.base_url or "", title.href))[0] if title.href else None
        self.items.append(
            Item(
                key=url or fingerprint(title.text, published),
                title=title.text,
                published=datetime(
                    published.year, published.month, published.day, tzinfo=self.settings.timezone
                ),
                type=item_type.slug if item_type else None,
                summary="\n".join(line.text for line in summary) if summary else None,
                url=url,
                image_caption="\n".join(line.text for line in captions) or None,
                source=self.source,
            )
        )


def parse_listing(
    lines: Iterable[Line],
    settings: Settings,
    origin: str,
    source: str = "",
    base_url: str | None = None,
) -> list[Item]:
    """Items of one listing page in page order; incomplete items are skipped with a warning
    naming `origin` and the line."""
    return ListingParser(settings, origin, source, base_url).parse(lines)
