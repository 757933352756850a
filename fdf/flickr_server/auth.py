"""API keys and OAuth 1.0a HMAC-SHA1 signatures, checked the way Flickr checks them.

flickrapi signs every call (consumer key + secret, no token); plain clients send ``api_key``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import quote, unquote

from .methods import ApiError

_HEX_KEY = re.compile(r"[0-9a-f]{32}")


def parse_oauth_header(header: str | None) -> dict[str, str]:
    """The parameters of an ``Authorization: OAuth k="v", ...`` header (empty if none)."""
    if not header or not header.strip().lower().startswith("oauth "):
        return {}
    pairs = re.findall(r'([\w.-]+)="([^"]*)"', header[6:])
    return {unquote(k): unquote(v) for k, v in pairs}


def _enc(text: str) -> str:
    return quote(str(text), safe="~")


def signature_base_string(http_method: str, url: str, params: list[tuple[str, str]]) -> str:
    """RFC 5849 section 3.4.1: method, base URI and sorted, encoded parameters."""
    pairs = sorted((_enc(k), _enc(v)) for k, v in params if k not in ("oauth_signature", "realm"))
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((http_method.upper(), _enc(url), _enc(normalized)))


def hmac_sha1_signature(base_string: str, consumer_secret: str, token_secret: str = "") -> str:
    key = f"{_enc(consumer_secret)}&{_enc(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def check_key(
    api_keys: dict[str, str] | None,
    params: dict[str, str],
    oauth: dict[str, str],
    signed: tuple[str, str, list[tuple[str, str]]] | None,
    verify_signatures: bool,
) -> None:
    """Raise ApiError 100 for a missing/unknown key, 96 for a bad OAuth signature.

    ``api_keys`` None accepts any non-empty key. ``signed`` is (method, base URI, every
    query/body parameter) for signature checking.
    """
    key = oauth.get("oauth_consumer_key") or params.get("api_key", "")
    if not key:
        raise ApiError(100, "Invalid API Key (Key has invalid format)")
    if api_keys is not None and key not in api_keys:
        # Flickr says "not found" for well-formed keys it does not know.
        detail = "Key not found" if _HEX_KEY.fullmatch(key) else "Key has invalid format"
        raise ApiError(100, f"Invalid API Key ({detail})")
    if not oauth or not verify_signatures or api_keys is None or signed is None:
        return
    if oauth.get("oauth_token"):
        return  # this server issues no user tokens, so it cannot know their secrets
    if oauth.get("oauth_signature_method", "HMAC-SHA1") != "HMAC-SHA1":
        raise ApiError(96, "Invalid signature")
    method, url, request_params = signed
    all_params = request_params + [(k, v) for k, v in oauth.items()]
    expected = hmac_sha1_signature(signature_base_string(method, url, all_params), api_keys[key])
    if not hmac.compare_digest(expected, oauth.get("oauth_signature", "")):
        raise ApiError(96, "Invalid signature")
