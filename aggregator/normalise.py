"""URL canonicalisation, HTML sanitising and text extraction: the one policy for untrusted markup."""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import nh3

# Query parameters that only track the reader; they never change which article a link names.
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid", "mc_cid",
        "mc_eid", "_ga", "_gl", "oly_anon_id", "oly_enc_id", "vero_id", "spm", "ref_src", "ref_url",
        "amp", "outputtype",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Content whose text must vanish with its tag: it is code or an embedded page, never article text.
_CLEAN_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math"}
_URL_SCHEMES = {"http", "https", "mailto"}
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
# Never text, and PostgreSQL refuses NUL in a string: a feed must not be able to break the store with them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_IMG = re.compile(r"<img\b([^>]*)>")  # exact on nh3 output: ">" is always escaped inside attribute values
_ATTRIBUTE_NAME = re.compile(r'\s([^\s="]+)="[^"]*"')
_BLOCK_END = re.compile(
    r"</?(?:p|div|li|ul|ol|h[1-6]|blockquote|pre|tr|td|th|table|figure|figcaption)\b[^>]*>|<br\s*/?>", re.IGNORECASE
)


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def clean_link(url: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) link with tracking parameters and the fragment removed; None if not a web link."""
    if not url:
        return None
    url = _CONTROL.sub("", url).strip()
    if base:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def canonical_link(url: str | None) -> str | None:
    """The identity of an article across sources: scheme, ``www.``, AMP, trailing slash and order folded."""
    link = clean_link(url)
    if link is None:
        return None
    parts = urlsplit(link)
    host = (parts.hostname or "").removeprefix("www.").removeprefix("amp.")
    if parts.port:
        host = f"{host}:{parts.port}"
    path = re.sub(r"/amp/?$", "/", parts.path)
    path = re.sub(r"/amp/", "/", path)
    path = path.rstrip("/") or "/"
    if path.endswith((".amp", ".amp.html")):
        path = path.removesuffix(".amp").removesuffix(".amp.html")
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return f"{host}{path}{'?' + query if query else ''}"


def sanitise(fragment: str | None, base: str | None = None) -> str:
    """Untrusted HTML to safe HTML: no scripts, handlers, frames, styles or non-web URLs; links absolute."""
    if not fragment:
        return ""
    relative: tuple[Literal["rewrite_with_base"], str] | Literal["pass_through"] = "pass_through"
    if base and urlsplit(base).scheme in _DEFAULT_PORTS:
        relative = ("rewrite_with_base", base)
    safe = nh3.clean(
        _CONTROL.sub("", fragment),
        clean_content_tags=_CLEAN_CONTENT,
        url_schemes=_URL_SCHEMES,
        url_relative=relative,
        link_rel="noopener noreferrer nofollow",
    ).strip()
    # An image without alt text is read out by its file name; alt="" marks it decorative instead.
    return _IMG.sub(_with_alt, safe) if "<img" in safe else safe


def _with_alt(tag: re.Match[str]) -> str:
    names = {name.lower() for name in _ATTRIBUTE_NAME.findall(tag.group(1))}
    return tag.group(0) if "alt" in names else f'<img alt=""{tag.group(1)}>'


def visible_text(safe_html: str) -> str:
    """The text a reader sees in sanitised HTML (tags gone, entities decoded, whitespace collapsed).

    Only for nh3 output: there every ``<`` and ``>`` inside text or attribute values is escaped, so a
    tag never contains ``>`` and a regular expression strips tags exactly.
    """
    if not safe_html:
        return ""
    text = _TAG.sub("", _BLOCK_END.sub("\n", safe_html))
    return _SPACE.sub(" ", html.unescape(text)).strip()


def plain_text(fragment: str | None) -> str:
    """Text of a title-like field that a feed may have written as HTML."""
    if not fragment:
        return ""
    fragment = _CONTROL.sub("", fragment)
    if "<" not in fragment and "&" not in fragment:
        return _SPACE.sub(" ", fragment).strip()
    return visible_text(sanitise(fragment))


#: The combining diacritical marks of Latin, Greek and Cyrillic letters (accents, cedillas, umlauts...);
#: not every nonspacing mark, since Thai and Indic scripts write vowels with those.
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Case and diacritics folded, for matching: "Aplicación" and "APLICACION" become "aplicacion"."""
    if text.isascii():
        return text.casefold()
    return _DIACRITICS.sub("", unicodedata.normalize("NFKD", text)).casefold()


_USERINFO = re.compile(r"(?<=://)[^\s/?#@]*@")


def redact(text: str) -> str:
    """A URL, or any message quoting URLs, with the credentials of every URL in it masked."""
    return _USERINFO.sub("***@", text)
