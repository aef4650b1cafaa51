"""Finding a listing's next page, for the backfill of a source's first read: a `rel="next"`
link, an "Older posts" / "Next" link, or the next number of a numbered pager. Only links
the page gives are followed (never made-up `?page=N` addresses), and only on the page's
own host."""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from lxml import etree

from digest.sources.html.markup import marks_of, tag_of, text_of, web
from digest.sources.html.page import XML_DECLARATION
from digest.text import decode_document

NEXT_TEXT = re.compile(
    r"^(?:(?:next|older)(?:\s+(?:page|posts?|entries|articles|news|stories|items|results))?"
    r"|(?:view\s+)?older\s+(?:posts?|entries|news)|previous\s+(?:posts?|entries)"
    r"|weiter|nächste(?:\s+seite)?|ältere\s+(?:beiträge|einträge|artikel)|suivant(?:e)?"
    r"|page\s+suivante|articles\s+plus\s+anciens|siguiente|página\s+siguiente|successiv[ao]"
    r"|pagina\s+successiva|próxima|seguinte|volgende|oudere\s+berichten|następna|dalej"
    r"|nästa|neste|næste|seuraava|sonraki|следующая|далее|次へ|次のページ|다음|下一页|下一頁)"
    r"\s*[›»→>]*$|^[›»→>]{1,2}$",
    re.IGNORECASE,
)
ARROWS = "←«‹<→»›>"
PAGER_CLASS = re.compile(r"pag(?:er|ination|ing)|page-numbers|nav-links|pages", re.IGNORECASE)


def next_page(data: bytes, page_url: str, number: int, charset: str | None = None) -> str | None:
    """The address of the page after this one (page `number` of the listing), or None."""
    text, _ = decode_document(data, charset)
    try:
        root = lxml.html.document_fromstring(XML_DECLARATION.sub("", text, count=1))
    except (etree.ParserError, ValueError):
        return None
    base = next((b.get("href") for b in root.iter("base") if b.get("href")), None)
    base = urljoin(page_url, base) if base else page_url
    host = urlsplit(page_url).netloc
    for href in _candidates(root, number):
        url = urldefrag(urljoin(base, href.strip()))[0]
        if web(url) and urlsplit(url).netloc == host and url != page_url:
            return url
    return None


def _candidates(root: etree._Element, number: int) -> list[str]:
    """Links that may lead to the next page, surest first."""
    rel_next = [
        e.get("href") or ""
        for e in root.iter("link", "a")
        if "next" in (e.get("rel") or "").casefold().split() and e.get("href")
    ]
    anchors = [a for a in root.iter("a") if (a.get("href") or "").strip()]
    worded = [a.get("href") or "" for a in anchors if NEXT_TEXT.match(_label(a))]
    numbered = [
        a.get("href") or "" for a in anchors if _label(a) == str(number + 1) and _in_pager(a)
    ]
    return rel_next + worded + numbered


def _label(anchor: etree._Element) -> str:
    """A link's words, or its accessible name when it shows only an arrow or an icon."""
    text = text_of(anchor)
    if not text or not any(c.isalnum() for c in text):
        named = (anchor.get("aria-label") or anchor.get("title") or "").strip()
        return named or text
    return text.strip(ARROWS + " ")


def _in_pager(anchor: etree._Element) -> bool:
    """Whether a link sits in a pager (`pager`, `pagination`, `page-numbers`, a `<nav>`)."""
    for node in (anchor, *anchor.iterancestors()):
        if PAGER_CLASS.search(marks_of(node)) or tag_of(node) == "nav":
            return True
        if tag_of(node) in ("main", "body"):
            return False
    return False
