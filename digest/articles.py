"""Articles: an item's own page read into an Article — the main text (trafilatura, without
menus, sidebars, "related", donation or cookie blocks) sanitised to an allow-list with nh3,
the lead photo with its alt text, caption and credit apart, the page's times, the documents
the text links to, the press contact and the language. Pure: no network (documents' sizes
come from HEAD requests in digest.sources.pages)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from digest.errors import SourceError
from digest.model import Article, Contact, Document
from digest.text import caption_and_credit, clean_line, clean_text

ALLOWED_TAGS = frozenset(
    [
        "p",
        "br",
        "hr",
        "ul",
        "ol",
        "li",
        "a",
        "em",
        "strong",
        "b",
        "i",
        "u",
        "sub",
        "sup",
        "code",
        "pre",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "figure",
        "figcaption",
        "img",
        "table",
        "caption",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
        "blockquote",
        "cite",
    ]
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
DOCUMENT_TYPES = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".zip": "application/zip",
}
BLOCKS = frozenset(
    [
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "br",
        "tr",
        "table",
        "figure",
        "figcaption",
        "blockquote",
        "dt",
        "dd",
        "section",
        "article",
        "aside",
        "address",
        "pre",
    ]
)
CONTACT_HEADING = re.compile(
    r"^(?:(?:[\w&'’-]+\s+){0,4}?(?:press|media|news(?:room)?)\s+(?:contacts?|enquiries|inquiries"
    r"|relations|office|desk)|contacts?(?:\s+(?:presse|pour la presse|médias?|press|for media"
    r"|information|details|info))?|pres[s]?e?kontakte?|medienkontakte?|pressestelle"
    r"|ansprechpartner(?:in)?(?:\s+für die presse)?|rückfragehinweis|rückfragen(?:\s+an)?"
    r"|kontakt(?:\s+(?:dla\s+mediów|prasowy))?"
    r"|contactos?(?:\s+(?:de|para)\s+(?:prensa|medios))?|prensa|relations presse"
    r"|contatt[oi](?:\s+stampa)?|ufficio stampa|pers(?:contact|voorlichting)"
    r"|assessoria de (?:imprensa|comunicação)|contatos? (?:para a )?imprensa"
    r"|noot voor de redactie(?:,? niet voor publicatie)?"
    r"|контакты для сми|пресс-служба|للتواصل الإعلامي|التواصل الإعلامي|【?照会先】?"
    r"|(?:お)?問い?合わ?せ先?|lisätietoj?a|mer information|yderligere oplysninger"
    r"|kontakt pro média|sajtókapcsolat"
    r"|for (?:more|further) information(?:,? (?:please )?contact)?)\s*:?$",
    re.IGNORECASE,
)
# A paragraph that opens by naming who to call ("For more information contact Ann Lee on …").
CONTACT_SENTENCE = re.compile(
    r"^(?:for (?:more|further) information|for (?:media|press) (?:enquiries|inquiries)"
    r"|voor meer informatie|pour (?:plus d'|toute )informations?|für (?:weitere informationen"
    r"|rückfragen)|para más información|per (?:maggiori|ulteriori) informazioni)\b",
    re.IGNORECASE,
)
# A "Press …:" label before a contact's details ("Press and partners: write to …").
CONTACT_LABEL = re.compile(
    r"^(?:press|media|presse|prensa|stampa|пресс-служба|пресс-центр)\b[^:]{0,30}$", re.IGNORECASE
)
EMAIL = re.compile(r"[\w.+-]+(?:@|\s?[(\[]at[)\]]\s?)[\w-]+(?:\.[\w-]+)+")
AT_SIGN = re.compile(r"\s?[(\[]at[)\]]\s?")
PHONE = re.compile(r"(?:\+|\(\+?|（)?\d[\d\s().\/–（）-]{5,}\d")
ROLE_WORDS = re.compile(
    r"\b(?:officer|manager|spokes|sprecher|referent|responsable|director|head of|communicat"
    r"|relations|office|team|portavoz|attach|chargé|press|presse|prensa|media|phone|tel|e-?mail|mobile"
    r"|comunica|gabinete|servicio|departa|abteilung|service|bureau|ufficio|redaktion"
    r"|woordvoerder|rzeczni|kommunikation)",
    re.IGNORECASE,
)
NAME_PARTICLES = frozenset({"de", "van", "von", "da", "del", "la", "le", "der", "di"})
# Where a caption's credit starts: "© …", "Photo: …", "Foto: …", "Fot. …", "(Photo credit: …)"
# at the start of a sentence, a line, or after a dash or bar.
CREDIT_START = re.compile(
    r"(?:^|(?<=[.!?])\s+|\n|\s+[|–—]\s+|\s+(?=\())\(?\s*(?:©|fot\.|(?:photo(?:graph)?|foto(?:graf[íi]a)?"
    r"|bild|image|cr[ée]dits?(?: photo)?|copyright|quelle|fuente|fonte|kuva|zdjęcie|fotó"
    r"|фото|تصوير|صورة|写真|사진)\b)",
    re.IGNORECASE,
)
# Parts of a postal address (hCard) in a contact block: not a person's name.
ADDRESS_CLASS = re.compile(r"\b(?:adr|street-address|locality|postal-code)\b")
# Boxes around an article's links that are not the article's own: "related", teasers, share.
FURNITURE_CLASS = re.compile(
    r"(?:^|[\s_-])(?:teaser-?list|teasers|share|social|sidebar|promo|newsletter)(?:$|[\s_-])",
    re.IGNORECASE,
)
# An element marked as the article with schema.org microdata (Joomla, TYPO3 news…).
ARTICLE_ITEM = (
    "//*[contains(@itemtype, 'schema.org/Article') or contains(@itemtype, 'schema.org/NewsArticle')"
    " or contains(@itemtype, 'schema.org/BlogPosting')]"
)
# A line before the title shorter than this (characters) is a kicker or date line.
EYEBROW_MAX = 60
# A box around an image holding more text than this (characters) is no caption box.
CAPTION_BOX_MAX = 400
CAPTION_PATH = (
    ".//figcaption|.//*[@itemprop='caption' or contains(@class, 'caption')"
    " or contains(@class, 'legend')]"
)
CREDIT_CLASS = re.compile(r"credit|copyright|byline|source|photographer|author", re.IGNORECASE)
# A default share image or a logo set as og:image: no article's photo.
SITE_IMAGE = re.compile(
    r"(?:^|[_.-])(?:logo|default|placeholder|fallback|opengraph|og-image|share-image)(?:[_.-]|$)",
    re.IGNORECASE,
)
# The class of an article's lead paragraph (standfirst, ingress, chapô, summary).
LEAD_CLASS = re.compile(
    r"(?:^|[\s_-])(?:lead|ingress|intro|standfirst|chapo|excerpt|summary|subline|abstract)"
    r"(?:$|[\s_-])",
    re.IGNORECASE,
)
# A photo with a side given as shorter than this (pixels) is no lead photo.
PHOTO_MIN = 200
# An image no wider and no higher than this (pixels) is an icon, avatar or tracking pixel.
ICON_MAX = 100
# A paragraph that is only a count ("1.2K", "38"): a like or share counter, not text.
COUNTER = re.compile(r"^\s*\d[\d.,]*\s*[KkMm]?\s*$")
# Fewer characters than this outside links is no article (a page of menus, a login wall).
TEXT_MIN = 20
# A paragraph this long (characters) counts towards finding the text on an unmarked page.
PARAGRAPH_MIN = 60
# A feed entry's content is its full text when it is this many characters longer than its summary.
FULL_TEXT_MARGIN = 100
REIWA = re.compile(r"令和\s*(\d{1,2}|元)\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
PUBLISHED_META = (
    "article:published_time",
    "og:published_time",
    "datePublished",
    "DC.date.issued",
    "DC.date.created",
    "dcterms.issued",
    "dcterms.created",
)
UPDATED_META = (
    "article:modified_time",
    "og:updated_time",
    "dateModified",
    "DC.date.modified",
    "dcterms.modified",
)


def read_article(
    data: bytes, url: str, charset: str | None = None, selector: str | None = None
) -> Article:
    """The Article of one item page fetched from `url` (its links resolve against it);
    `selector` (a source's `article_selector`) names the element holding the text instead
    of trafilatura's choice. Raises SourceError naming the page when it has no text."""
    tree = _parse(data, url, charset)
    region = _region(tree, selector, url)
    block = region if region is not None else _best_block(tree)
    body = _body(tree, region, block, url, selector)
    scope = block if region is not None else _with_title(tree, block)
    if not selector:
        _keep_lead(body, scope)
    *image, keys = _lead_image(tree, region, url)
    if image[0]:
        _drop_image(body, keys, {text for text in image[2:] if text})
    body_html = sanitise(_inner_html(body))
    body_text = html_text(body_html)
    if not body_text:
        raise SourceError(f"{url}: no article text found on the page")
    documents = _documents(
        [*_fragment(body_html).iter("a"), *_article_links(scope)], _link_types(tree)
    )
    article = Article(
        body_html=body_html,
        body_text=body_text,
        image_url=image[0],
        image_alt=image[1],
        image_caption=image[2],
        image_credit=image[3],
        documents=documents,
        contact=contact_on(tree, scope),
        language=_language(tree),
        published=_page_time(
            tree, PUBLISHED_META, "datePublished", tree if region is None else region
        )
        or _htmldate(tree)
        or _era_date(tree if scope is None else scope),
        updated=_page_time(tree, UPDATED_META, "dateModified", None),
    )
    return with_fingerprint(article)


def carried_article(html: str, base_url: str, summary: str | None) -> Article | None:
    """The Article of a feed entry that carries its full text (RSS content:encoded, Atom
    content, JSON Feed content_html), sanitised like a page's; None when it holds no more
    than the summary (such an entry's page is read instead)."""
    body_html = sanitise(html, base_url)
    body_text = html_text(body_html)
    if len(body_text) <= len(summary or "") + FULL_TEXT_MARGIN:
        return None
    return with_fingerprint(
        Article(body_html=body_html, body_text=body_text, documents=documents_in(body_html))
    )


def with_fingerprint(article: Article) -> Article:
    """The article with its fingerprint: a hash of its normalised content (text, photo,
    documents' addresses and titles, contact), so a new paragraph or another photo changes
    it and a document's size reported differently does not."""
    content = [
        " ".join(article.body_text.split()),
        article.image_url,
        article.image_alt,
        article.image_caption,
        article.image_credit,
        [(d.url, d.title) for d in article.documents],
        list(article.contact.__dict__.values()) if article.contact else None,
    ]
    digest = hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()
    return replace(article, fingerprint="sha256:" + digest)


def sanitise(html: str, base_url: str | None = None) -> str:
    """HTML cut down to the allow-list (paragraphs, lists, links, emphasis, headings,
    figures, images, tables, quotes): no script, style, iframe, event handler or
    javascript: link; with `base_url`, relative links made absolute."""
    import nh3

    def absolute(tag: str, attribute: str, value: str) -> str | None:
        if attribute in ("href", "src") and base_url:
            return urljoin(base_url, value.strip())
        return value

    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        attribute_filter=absolute,
        strip_comments=True,
    ).strip()


def html_text(html: str) -> str:
    """Plain text of an HTML fragment, one line per block (for search and text email)."""
    import lxml.html

    if not html.strip():
        return ""
    fragment = lxml.html.fragment_fromstring(html, create_parent="div")
    return clean_text(_block_text(fragment))


def documents_in(html: str, types: dict[str, str] | None = None) -> tuple[Document, ...]:
    """The documents (PDF, DOC/DOCX, ODT, XLS/XLSX, ZIP) an HTML fragment links to, by the
    address's extension or the link's `type`, each once, with its link text as title."""
    return _documents(_fragment(html).iter("a"), types) if html.strip() else ()


def _documents(links: Any, types: dict[str, str] | None) -> tuple[Document, ...]:
    """The documents among `links`, each address once, titled by the first line of its
    link's text (a download card's title, not its file name and size), else its file name."""
    found: dict[str, Document] = {}
    for link in links:
        href = (link.get("href") or "").strip()
        mime = document_type(href, (types or {}).get(href))
        if not mime or href in found:
            continue
        lines = _block_text(link).splitlines()
        title = clean_line(lines[0]) if lines else ""
        title = title or unquote(PurePosixPath(urlsplit(href).path).name)
        found[href] = Document(url=href, title=title, mime_type=mime)
    return tuple(found.values())


def _article_links(scope: Any) -> list[Any]:
    """The links of the article's element outside its menus, sidebars, forms, share or
    teaser boxes: a "Downloads" box or attachment list the text extractor leaves out; with
    those of the sections beside it that the page's own index links to (a page split into
    <article id="documents">… sections, as Bootstrap Italia does)."""
    if scope is None:
        return []
    links = [link for link in scope.iter("a") if not _in_furniture(link, scope)]
    parent = scope.getparent()
    sections = [
        section
        for section in (parent.iterchildren("article", "section") if parent is not None else ())
        if section is not scope and section.get("id")
    ]
    if sections:
        hrefs = scope.getroottree().xpath("//a[contains(@href, '#')]/@href")
        anchors = {urlsplit(href).fragment for href in hrefs}
        for section in sections:
            if section.get("id") in anchors:
                links += [link for link in section.iter("a") if not _in_furniture(link, section)]
    return links


def _in_furniture(element: Any, scope: Any) -> bool:
    """Whether an element of the article's `scope` stands in a menu, sidebar, header,
    footer, form, a teaser <article> or a "related", "share"… box within it."""
    for ancestor in element.iterancestors():
        if ancestor is scope or ancestor.tag == "body":
            return False
        if ancestor.tag in ("nav", "aside", "footer", "header", "form", "article"):
            return True
        if FURNITURE_CLASS.search(ancestor.get("class") or ""):
            return True
    return False


def _fragment(html: str) -> Any:
    import lxml.html

    return lxml.html.fragment_fromstring(html or "<p></p>", create_parent="div")


def document_type(href: str, declared: str | None = None) -> str | None:
    """The media type of a document address (PDF, DOC/DOCX, ODT, XLS/XLSX, ZIP) by its
    extension or a declared `type`; None for anything else (a page)."""
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https"):
        return None
    suffix = PurePosixPath(parts.path).suffix.lower()
    if suffix in DOCUMENT_TYPES:
        return DOCUMENT_TYPES[suffix]
    if declared and declared.split(";")[0].strip().lower() in DOCUMENT_TYPES.values():
        return declared.split(";")[0].strip().lower()
    return None


def contact_on(tree: Any, region: Any = None) -> Contact | None:
    """The press contact a page names under "Press contact", "Media contact", "Contact",
    "Pressekontakt", "Contacto"…: the first name, email and phone in the lines after it,
    looked for in the article (`region`) first, then in the whole page; else the one the
    article closes with."""
    for scope in (tree,) if region is None else (region, tree):
        for heading in scope.iter("h2", "h3", "h4", "h5", "h6", "strong", "b", "dt", "p", "span"):
            text = clean_line(heading.text_content())
            label, _, rest = text.partition(":")
            if len(text) > 200 or not (
                CONTACT_HEADING.match(text)
                or (rest and (CONTACT_HEADING.match(label + ":") or CONTACT_LABEL.match(label)))
                or (heading.tag == "p" and CONTACT_SENTENCE.match(text))
            ):
                continue
            if contact := _contact_from(*_text_after(heading)):
                return contact
    return _closing_contact(region)


def _closing_contact(region: Any) -> Contact | None:
    """The contact in the article's last paragraph or list item that gives an email, when
    no heading names one (a press release closes with who to call): only with a name or a
    phone beside the email."""
    if region is None:
        return None
    for block in reversed(region.xpath(".//p|.//li|.//dd|.//address")):
        text = _block_text(block)
        if EMAIL.search(text) or block.xpath(".//a[starts-with(@href, 'mailto:')]"):
            contact = _contact_from(text, [block])
            return contact if contact and (contact.name or contact.phone) else None
    return None


def _text_after(heading: Any, limit: int = 600) -> tuple[str, list[Any]]:
    """The text of a heading's block and what follows it (climbing out of the heading's
    box when it ends, as contact cards often stand in the next one), up to `limit`
    characters; with the elements read."""
    block = heading
    while block.getparent() is not None and block.tag not in BLOCKS - {"br"}:
        block = block.getparent()
    parts, read = [_block_text(block)], [block]
    sibling, climbs = block.getnext(), 0
    while sum(map(len, parts)) < limit:
        if sibling is None:
            parent = block.getparent()
            if climbs == 2 or parent is None or parent.tag in ("body", "main", "article"):
                break
            block, sibling, climbs = parent, parent.getnext(), climbs + 1
            continue
        if sibling.tag in ("h1", "h2", "h3") and parts[1:]:
            break
        parts.append(_block_text(sibling))
        read.append(sibling)
        sibling = sibling.getnext()
    return "\n".join(parts)[:limit], read


def _contact_from(text: str, elements: list[Any]) -> Contact | None:
    mailto = [
        a.get("href", "")[7:].split("?")[0]
        for element in elements
        for a in element.iter("a")
        if a.get("href", "").lower().startswith("mailto:")
    ]
    email = mailto[0] if mailto else ""
    name, phone = "", ""
    for line in text.splitlines()[:12]:
        segments = re.split(r"\s*[,;|•·]\s*|\s+[–—]\s+", line)
        for segment in segments:
            email = email or (AT_SIGN.sub("@", m.group(0)) if (m := EMAIL.search(segment)) else "")
            if not phone and (m := PHONE.search(segment)) and _is_phone(m.group(0)):
                phone = m.group(0).strip()
            if not name and not CONTACT_HEADING.match(segment):
                name = _name_in(segment)
    if not email and not phone:
        return None
    return Contact(name=name, email=email, phone=phone)


def _name_in(segment: str) -> str:
    """The person's name a contact line gives: the value after a label ("Contact: Ann
    Lee"), the line itself, or the capitalised words closing a sentence ("… contact
    opnemen met Sanne de Vries"); "" when there is none."""
    label, _, value = segment.rpartition(":")
    candidate = re.sub(r"\([^)]*\)|" + EMAIL.pattern, "", value if label else segment).strip()
    if _looks_like_name(candidate):
        return candidate
    words = candidate.split()
    run = 0
    while run < min(len(words), 4) and (
        words[-run - 1][0].isupper() or words[-run - 1].lower() in NAME_PARTICLES
    ):
        run += 1
    while run and words[-run].lower() in NAME_PARTICLES:
        run -= 1
    prose = sum(word.islower() for word in words[: len(words) - run])
    tail = " ".join(words[len(words) - run :])
    return tail if prose >= 3 and _looks_like_name(tail) else ""


def _is_phone(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    return digits >= 7 and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip())


def _looks_like_name(text: str) -> bool:
    words = text.split()
    return (
        2 <= len(words) <= 5
        and len(text) <= 60
        and not any(ch.isdigit() or ch in "@/()" for ch in text)
        and all(w[0].isupper() or w.lower() in NAME_PARTICLES for w in words)
        and not ROLE_WORDS.search(text)
    )


def _parse(data: bytes, url: str, charset: str | None) -> Any:
    import lxml.html

    if not data.strip():
        raise SourceError(f"{url}: empty page")
    if b"\x00" in data[:4096]:
        raise SourceError(f"{url}: binary data, not a page")
    parser = lxml.html.HTMLParser(encoding=charset) if charset else None
    try:
        tree = lxml.html.document_fromstring(data, parser=parser, base_url=url)
    except (ValueError, LookupError) as exc:
        raise SourceError(f"{url}: not a readable page: {exc}") from None
    for bad in tree.xpath("//script[not(@type='application/ld+json')]|//style|//noscript"):
        bad.drop_tree()
    for img in tree.xpath("//img[@width and @height]"):
        if _pixels(img.get("width")) <= ICON_MAX and _pixels(img.get("height")) <= ICON_MAX:
            img.drop_tree()
    tree.make_links_absolute(url, resolve_base_href=True, handle_failures="discard")
    return tree


def _region(tree: Any, selector: str | None, url: str) -> Any:
    """The element holding the article: the source's selector, else <article>, <main> or
    role=main; None when the page marks none."""
    if selector:
        found = tree.cssselect(selector)
        if not found:
            raise SourceError(f"{url}: article_selector {selector!r} matches nothing")
        return found[0]
    for path in ("//article", "//main", "//*[@role='main']", ARTICLE_ITEM):
        if found := tree.xpath(path):
            return found[0]
    return None


def _body(tree: Any, region: Any, block: Any, url: str, selector: str | None) -> Any:
    """The article's text as an element: the selector's element as it is, else what
    trafilatura keeps of the page, or of its `block` when it marks no article (its title
    heading left out: items have their title; a <time> within a sentence kept as text,
    as trafilatura drops every <time>)."""
    import lxml.html
    import trafilatura

    if selector:
        body = copy.deepcopy(region)
    else:
        page = _marked(tree, block) if region is None else copy.deepcopy(tree)
        _drop_eyebrows(page)
        for time in page.iter("time"):
            parent = time.getparent()
            if parent.tag in ("p", "li", "td") and len(parent.text_content()) >= PARAGRAPH_MIN:
                time.tag = "span"
        extracted = trafilatura.extract(
            page,
            url=url,
            output_format="html",
            include_links=True,
            include_images=True,
            include_tables=True,
            include_formatting=True,
            include_comments=False,
            favor_precision=True,
        )
        if not extracted:
            raise SourceError(f"{url}: no article text found on the page")
        body = lxml.html.document_fromstring(extracted).find("body")
        titles = {clean_line(h1.text_content()) for h1 in tree.iter("h1")}
        for heading in list(body.iter("h1", "h2")):
            if clean_line(heading.text_content()) in titles:
                heading.drop_tree()
    linked = sum(len(clean_line(a.text_content())) for a in body.iter("a"))
    if len(clean_line(body.text_content())) - linked < TEXT_MIN:
        raise SourceError(f"{url}: no article text found on the page")
    for heading in body.iter("h1"):
        heading.tag = "h2"
    for paragraph in list(body.iter("p")):
        if COUNTER.match(paragraph.text_content()):
            paragraph.drop_tree()
    return body


def _drop_eyebrows(page: Any) -> None:
    """Leave out the short lines standing just before the page's title (a kicker such as
    "Press release", a date line, a category): labels, not the article's text."""
    for title in page.iter("h1"):
        sibling = title.getprevious()
        while (
            sibling is not None
            and sibling.tag in ("p", "span", "div")
            and len(clean_line(sibling.text_content())) < EYEBROW_MAX
            and not sibling.xpath(".//img")
        ):
            previous = sibling.getprevious()
            sibling.drop_tree()
            sibling = previous


def _keep_lead(body: Any, scope: Any) -> None:
    """Put back the article's lead paragraph (standfirst, ingress, chapô: a paragraph
    marked lead, intro, summary…) when trafilatura left it out, as it does when the lead
    stands outside the block it takes for the text; only one before the text, outside
    teasers and other furniture."""
    if scope is None:
        return
    text = " ".join(_block_text(body).split())
    for element in scope.iter("p", "div"):
        if any(child.tag in BLOCKS for child in element):
            continue
        lead = " ".join(_block_text(element).split())
        if len(lead) >= PARAGRAPH_MIN and lead in text:
            return
        parent = element.getparent()
        classes = f"{element.get('class') or ''} {parent.get('class') or ''}"
        marked = {element.get("itemprop"), parent.get("itemprop")}
        if (
            (LEAD_CLASS.search(classes) or "description" in marked)
            and len(lead) >= PARAGRAPH_MIN
            and not _in_furniture(element, scope)
        ):
            paragraph = copy.deepcopy(element)
            paragraph.tag, paragraph.tail, body.text = "p", body.text, None
            body.insert(0, paragraph)
            return


def _pixels(value: str | None) -> int:
    digits = re.match(r"\s*(\d+)", value or "")
    return int(digits.group(1)) if digits else ICON_MAX + 1


def _best_block(tree: Any) -> Any:
    """On a page that marks no article (no <article>, <main>, role=main): the block holding
    most paragraph text (or its parent, when that holds more); None without paragraphs."""
    scores: dict[Any, int] = {}
    for paragraph in tree.iter("p"):
        text = len(clean_line(paragraph.text_content()))
        parent = paragraph.getparent()
        if text >= PARAGRAPH_MIN and parent is not None:
            scores[parent] = scores.get(parent, 0) + text
    if not scores:
        return None
    best = max(scores, key=lambda element: scores[element])
    parent = best.getparent()
    if parent is not None and scores.get(parent, 0) >= PARAGRAPH_MIN * 2:
        best = parent
    return best


def _with_title(tree: Any, block: Any) -> Any:
    """On a page that marks no article: the smallest element holding both its best `block`
    of text and the heading that repeats the page's title (og:title, <title>), so that
    the article's files, photo caption and contact beside its text are in reach."""
    if block is None:
        return None
    titles = {_meta(tree, "og:title", "twitter:title") or ""}
    titles |= {part.strip() for part in re.split(r"\s[|–—-]\s", tree.findtext(".//title") or "")}
    heading = next(
        (h for h in tree.iter("h1", "h2", "h3") if clean_line(h.text_content()) in titles - {""}),
        None,
    )
    around = [block, *block.iterancestors()]
    for ancestor in heading.iterancestors() if heading is not None else ():
        if any(ancestor is element for element in around):
            return block if ancestor.tag in ("body", "html") else ancestor
    return block


def _marked(tree: Any, block: Any) -> Any:
    """A copy of a page that marks no article with its best `block` marked as one, so that
    trafilatura keeps its headings and lists (on an unmarked page it falls back to bare
    paragraphs)."""
    import lxml.html

    if block is None:
        return copy.deepcopy(tree)
    page = lxml.html.document_fromstring(
        "<html><head></head><body><article></article></body></html>"
    )
    head = tree.find("head")
    if head is not None:
        page.replace(page.find("head"), copy.deepcopy(head))
    page.find("body/article").append(copy.deepcopy(block))
    return page


def _inner_html(element: Any) -> str:
    import lxml.html

    return (element.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in element
    )


def _block_text(element: Any) -> str:
    """Text of an element with a line break around each block and <br>."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if not isinstance(node.tag, str) or ADDRESS_CLASS.search(node.get("class") or ""):
            parts.append(node.tail or "")
            return
        block = node.tag in BLOCKS
        if block:
            parts.append("\n")
        parts.append(node.text or "")
        for child in node:
            walk(child)
        if block:
            parts.append("\n")
        elif node.tag in ("td", "th"):
            parts.append(" ")
        parts.append(node.tail or "")

    parts.append(element.text or "")
    for child in element:
        walk(child)
    return re.sub(r"[ \t]*\n\s*", "\n", "".join(parts)).strip()


def _meta(tree: Any, *names: str) -> str | None:
    for name in names:
        for attribute in ("property", "name", "itemprop"):
            for meta in tree.xpath(f"//meta[@{attribute}=$n]", n=name):
                if value := (meta.get("content") or "").strip():
                    return value
    return None


def _lead_image(
    tree: Any, region: Any, url: str
) -> tuple[str | None, str | None, str | None, str | None, set[str]]:
    """(url, alt, caption, credit, keys) of the lead photo: og:image (unless it is a
    default share image or a logo: no photo), else the article's
    first figure, else the first sizeable image after the title; its alt from og:image:alt
    or the <img>, caption and credit from its figure; the keys of all its addresses (to
    leave it out of the text)."""
    image_url = _meta(tree, "og:image", "og:image:url", "twitter:image")
    scope = region if region is not None else tree
    first = next((i for i in scope.xpath(".//figure//img") if _sources(i)), None)
    first = first if first is not None else _image_after_title(tree, region)
    img = first
    if image_url and SITE_IMAGE.search(_file_name(image_url)):
        image_url = None
    if image_url:
        image_url = urljoin(url, image_url)
        key = _image_key(image_url)
        img = next(
            (i for i in tree.iter("img") if key in {_image_key(src) for src in _sources(i)}), first
        )
    elif first is not None:
        image_url = urljoin(url, _sources(first)[0])
    if not image_url:
        return None, None, None, None, set()
    if urlsplit(image_url).scheme not in ("http", "https"):
        return None, None, None, None, set()
    alt = _meta(tree, "og:image:alt", "twitter:image:alt")
    if not alt and img is not None:
        alt = clean_line(img.get("alt") or "") or None
    sources = _sources(img) if img is not None else []
    keys = {_image_key(image_url), *(_image_key(src) for src in sources)}
    caption, credit = _figure_caption(img)
    return image_url, alt, caption, credit, keys - {""}


def _image_after_title(tree: Any, region: Any) -> Any:
    """The first image after the page's title that is no icon (small, SVG or GIF, or a
    document link's) and stands outside menus, headers, footers and sidebars (a photo
    field outside any <figure>); None if none."""
    for img in tree.xpath("//h1[1]/following::img"):
        small = any(
            img.get(side) and _pixels(img.get(side)) < PHOTO_MIN for side in ("width", "height")
        )
        sources = _sources(img)
        if small or not sources or _in_furniture(img, region):
            continue
        icon = PurePosixPath(urlsplit(sources[0]).path).suffix.lower() in (".svg", ".gif")
        link = next(img.iterancestors("a"), None)
        if not icon and not (link is not None and document_type(link.get("href") or "")):
            return img
    return None


def _sources(img: Any) -> list[str]:
    """The addresses an <img> may show: src (unless a data: placeholder), the lazy-loading
    attributes, srcset and its <picture>'s sources."""
    found = [img.get(name) for name in ("data-src", "data-lazy-src", "data-original", "src")]
    sets = [img.get("srcset"), img.get("data-srcset")]
    parent = img.getparent()
    if parent is not None and parent.tag == "picture":
        sets += [source.get("srcset") for source in parent.iter("source")]
    found += [part.split()[0] for text in sets if text for part in text.split(",") if part.split()]
    return [src.strip() for src in found if src and not src.strip().startswith("data:")]


def _figure_caption(img: Any) -> tuple[str | None, str | None]:
    """Caption and credit of the figure around an image (or of the box holding it and its
    caption): a credit element (class credit, copyright…, <small>, <cite>) or a credit
    line ("Photo: …", "Fot. …", "©") kept apart from the text."""
    figure = _figure_of(img)
    if figure is None:
        return None, None
    credits = []
    for element in figure.iter():
        if element.tag in ("small", "cite") or CREDIT_CLASS.search(element.get("class") or ""):
            if text := clean_line(element.text_content()):
                credits.append(text)
            element.drop_tree()
    caption_element = next(iter(figure.xpath(CAPTION_PATH)), None)
    if caption_element is None and figure.tag != "figure":
        caption_element = figure
    caption = _block_text(caption_element) if caption_element is not None else ""
    if match := CREDIT_START.search(caption):
        credits.append(caption[match.start() :].strip().strip("() "))
        caption = caption[: match.start()]
    text, credit = caption_and_credit(caption)
    return text, " ".join([*credits, credit or ""]).strip() or None


def _figure_of(img: Any) -> Any:
    """The <figure> around an image, else the nearest small box (four levels up at most)
    that holds a caption or credit beside it, or only the image and some plain text (no
    heading, no link), or only the
    image with a caption or credit box just after it (Drupal's image and credit fields);
    None when it has neither."""
    if img is None:
        return None
    for ancestor in img.iterancestors("figure"):
        return ancestor
    box = img.getparent()
    for _ in range(4):
        if box is None or box.tag in ("body", "main", "article"):
            return None
        if len(box.text_content()) > CAPTION_BOX_MAX:
            return None
        if _captioned(box, img) or (
            clean_line(box.text_content())
            and len(box.xpath(".//img")) == 1
            and not box.xpath(".//h1|.//h2|.//h3|.//a[normalize-space()]")
        ):
            return box
        following = box.getnext()
        if (
            not clean_line(box.text_content())
            and following is not None
            and len(following.text_content()) <= CAPTION_BOX_MAX
            and _captioned(following, img)
        ):
            pair = box.makeelement("div", {})
            pair.extend([copy.deepcopy(box), copy.deepcopy(following)])
            return pair
        box = box.getparent()
    return None


def _captioned(box: Any, img: Any) -> bool:
    """Whether a box is or holds a caption or credit element."""
    return any(
        e is not img and (CREDIT_CLASS.search(e.get("class") or "") or _is_caption(e))
        for e in box.iter()
    )


def _is_caption(element: Any) -> bool:
    if element.tag == "figcaption":
        return True
    classes = element.get("class") or ""
    return "caption" in classes or "legend" in classes or element.get("itemprop") == "caption"


def _file_name(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).name


def _image_key(src: str | None) -> str:
    """What two addresses of one photo share: its file name without a size suffix
    (`marsh-1024x683.jpg` and `marsh.jpg?itok=…` are one photo)."""
    stem = PurePosixPath(urlsplit((src or "").strip()).path).stem.lower()
    return re.sub(r"[-_]\d+x\d+$|[-_](?:scaled|large|medium|small|thumb)$", "", stem)


def _drop_image(body: Any, keys: set[str], captions: set[str]) -> None:
    """Leave the lead photo (any of its addresses' `keys`) out of the text, with its caption
    and credit lines (they are shown apart)."""
    for img in list(body.iter("img")):
        if _image_key(img.get("src")) in keys:
            figure = img.getparent() if img.getparent().tag == "figure" else img
            figure.drop_tree()

    def only_captions(text: str | None) -> bool:
        rest = clean_line(text or "")
        for caption in sorted(captions, key=len, reverse=True):
            rest = rest.replace(caption, " ")
        return bool(text and text.strip()) and not rest.strip()

    for element in list(body.iter("p", "figcaption", "small", "span", "div")):
        if only_captions(element.text_content()) and element.getparent() is not None:
            element.drop_tree()
    if only_captions(body.text):
        body.text = None
    for element in body.iter():
        if only_captions(element.tail):
            element.tail = None


def _link_types(tree: Any) -> dict[str, str]:
    """The `type` each link of the page declares, by its (absolute) address."""
    return {a.get("href"): a.get("type") for a in tree.iter("a") if a.get("type") and a.get("href")}


def _language(tree: Any) -> str | None:
    value = (
        tree.get("lang")
        or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
        or tree.get("xml:lang")
        or next(iter(tree.xpath("//meta[@http-equiv='content-language']/@content")), None)
        or _meta(tree, "og:locale")
    )
    primary, _, region = (value or "").strip().replace("_", "-").partition("-")
    tag = primary.lower() + (f"-{region.upper()}" if region else "")
    return tag[:35] or None


def _page_time(tree: Any, metas: tuple[str, ...], key: str, scope: Any) -> datetime | None:
    """A time the page states: its meta tags, JSON-LD, then the first <time datetime> in
    `scope` (the article, else the page)."""
    candidates = [_meta(tree, *metas), *_json_ld(tree, key)]
    if scope is not None:
        candidates += scope.xpath(".//time/@datetime")[:1]
    for value in candidates:
        if when := _iso(value):
            return when
    return None


def _json_ld(tree: Any, key: str) -> list[str]:
    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get(key), str):
                found.append(node[key])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for script in tree.xpath("//script[@type='application/ld+json']"):
        try:
            visit(json.loads(script.text or ""))
        except ValueError:
            continue
    return found


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _htmldate(tree: Any) -> datetime | None:
    """The publication date htmldate finds in the page's markup, at midnight UTC."""
    from htmldate import find_date

    try:
        found = find_date(copy.deepcopy(tree), original_date=True, extensive_search=False)
    except (ValueError, TypeError):
        return None
    return _iso(found) if found else None


def _era_date(scope: Any) -> datetime | None:
    """A Japanese official page's date in the Reiwa era ("令和8年12月1日", year 1 = 2019),
    which htmldate does not read, at midnight UTC."""
    found = REIWA.search(scope.text_content())
    if not found:
        return None
    year = 2018 + (1 if found.group(1) == "元" else int(found.group(1)))
    try:
        return datetime(year, int(found.group(2)), int(found.group(3)), tzinfo=UTC)
    except ValueError:
        return None
