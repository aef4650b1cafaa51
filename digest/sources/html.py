"""HTML listing pages: the same lines a text rendering would show, with each line's link."""

from __future__ import annotations

import lxml.html
from lxml import etree

from digest.sources.listing import Line
from digest.text import clean_line

SKIPPED = {"script", "style", "noscript", "template", "head", "nav", "header", "footer", "svg"}
INLINE = {
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "cite",
    "code",
    "data",
    "dfn",
    "em",
    "i",
    "kbd",
    "mark",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "time",
    "u",
    "var",
    "wbr",
}


class _Lines:
    """Collects text into lines; a line's link is the anchor that makes up most of it."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.parts: list[str] = []
        self.anchors: list[tuple[str, str]] = []
        self.number = 1

    def add(self, text: str | None, number: int | None) -> None:
        if text:
            if not self.parts and number:
                self.number = number
            self.parts.append(text)

    def flush(self) -> None:
        text = clean_line("".join(self.parts))
        if text:
            href = next((href for href, words in self.anchors if len(words) * 2 >= len(text)), None)
            self.lines.append(Line(text, self.number, href))
        self.parts, self.anchors = [], []

    def walk(self, element: etree._Element) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag.lower() in SKIPPED or not tag:
            self.add(element.tail, None)
            return
        block = tag.lower() not in INLINE
        if block:
            self.flush()
        if tag.lower() == "img" and element.get("alt", "").strip():
            self.flush()
            self.add(element.get("alt"), element.sourceline)
            self.flush()
        self.add(element.text, element.sourceline)
        for child in element:
            self.walk(child)
        if tag.lower() == "a" and element.get("href"):
            self.anchors.append((element.get("href", ""), clean_line(element.text_content())))
        if block:
            self.flush()
        self.add(element.tail, None)


def lines_from_html(html: str | bytes) -> list[Line]:
    """The visible text of an HTML page as numbered lines, one per block of text, each with
    the href of the anchor that is most of it; scripts, navigation, header and footer are
    left out."""
    try:
        document = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    collector = _Lines()
    body = document.find("body")
    collector.walk(body if body is not None else document)
    collector.flush()
    return collector.lines
