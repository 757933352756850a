"""Encode an API answer the way Flickr does: JSON, JSONP (jsonFlickrApi(...)) or REST XML.

Flickr's JSON is a mechanical translation of its XML: scalar members are attributes,
``_content`` is element text, dicts are child elements and lists are repeated elements.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape, quoteattr

FORMATS = ("json", "rest", "xmlrpc", "soap", "php_serial")


def _attr(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _element(tag: str, value) -> str:
    if not isinstance(value, dict):
        return f"<{tag}>{escape(_attr(value))}</{tag}>"
    attrs = "".join(
        f" {k}={quoteattr(_attr(v))}" for k, v in value.items() if k != "_content" and not isinstance(v, (dict, list))
    )
    body = escape(_attr(value.get("_content", "")))
    for k, v in value.items():
        if isinstance(v, dict):
            body += _element(k, v)
        elif isinstance(v, list):
            body += "".join(_element(k, item) for item in v)
    return f"<{tag}{attrs}>{body}</{tag}>" if body else f"<{tag}{attrs} />"


def to_xml(payload: dict) -> str:
    """The REST (XML) form of a JSON-shaped answer, including failures."""
    if payload.get("stat") == "fail":
        inner = f"<err code={quoteattr(str(payload['code']))} msg={quoteattr(payload['message'])} />"
    else:
        inner = "".join(_element(k, v) for k, v in payload.items() if k != "stat")
    return (
        f'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat={quoteattr(payload.get("stat", "ok"))}>\n{inner}\n</rsp>\n'
    )


def render(payload: dict, fmt: str, nojsoncallback: bool, callback: str | None = None) -> tuple[bytes, str]:
    """(body, content type) for ``payload`` in the requested format (unknown ones get XML)."""
    if fmt == "json":
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        if nojsoncallback:
            return text.encode("utf-8"), "application/json; charset=utf-8"
        return f"{callback or 'jsonFlickrApi'}({text})".encode(), "text/javascript; charset=utf-8"
    return to_xml(payload).encode("utf-8"), "text/xml; charset=utf-8"
