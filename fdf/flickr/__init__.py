"""Flickr API access: a rate-limited, retrying client and the photo search source."""

from .client import FlickrApiError, FlickrAuthError, FlickrClient, FlickrConfig, FlickrUnavailableError
from .ratelimit import RateLimiter
from .search import SearchQuery, SearchResult, search_photos

__all__ = [
    "FlickrApiError",
    "FlickrAuthError",
    "FlickrClient",
    "FlickrConfig",
    "FlickrUnavailableError",
    "RateLimiter",
    "SearchQuery",
    "SearchResult",
    "search_photos",
]
