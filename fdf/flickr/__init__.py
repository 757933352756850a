"""Flickr API access: a rate-limited, retrying client and the photo search source."""

from __future__ import annotations

from ..lazy import lazy_getattr

# Names resolve on first use (PEP 562): the downloader's workers import fdf.flickr.ratelimit
# alone, and an eager package would load flickrapi, requests and pandas into each (~0.7 s).
_EXPORTS = {
    "FlickrApiError": ".client",
    "FlickrAuthError": ".client",
    "FlickrClient": ".client",
    "FlickrConfig": ".client",
    "FlickrUnavailableError": ".client",
    "RateLimiter": ".ratelimit",
    "SearchQuery": ".search",
    "SearchResult": ".search",
    "search_photos": ".search",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
