"""A Flickr-compatible HTTP server for tests and the offline demo.

It answers ``flickr.photos.search``, ``flickr.photos.getInfo``, ``flickr.photos.getSizes``,
``flickr.photos.licenses.getInfo`` (and ``flickr.test.echo``) at ``/services/rest/`` in
Flickr's JSON (or XML) shapes, serves image bytes like live.staticflickr.com, injects
faults on demand, and counts requests::

    from fdf.flickr_server import FlickrServer, demo_catalog
    with FlickrServer(demo_catalog(), api_keys={"key": "secret"}) as srv:
        flickr = flickrapi.FlickrAPI("key", "secret", format="parsed-json", store_token=False)
        flickr.REST_URL = srv.rest_url
"""

from .admin import AdminError, admin_request
from .builders import catalog_from_files, synthetic_catalog
from .catalog import Catalog, CatalogError, CatalogPhoto, clean_tag
from .demo_photos import demo_catalog
from .faults import IMAGE_FAULT_KINDS, REST_FAULT_KINDS, FaultConfigError, Faults
from .server import FlickrServer, ServerError

__all__ = [
    "AdminError",
    "Catalog",
    "CatalogError",
    "CatalogPhoto",
    "FaultConfigError",
    "Faults",
    "FlickrServer",
    "IMAGE_FAULT_KINDS",
    "REST_FAULT_KINDS",
    "ServerError",
    "admin_request",
    "catalog_from_files",
    "clean_tag",
    "demo_catalog",
    "synthetic_catalog",
]
