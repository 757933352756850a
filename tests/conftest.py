"""Shared fixtures: a real fake-Flickr HTTP server on 127.0.0.1 and the bundled demo catalog.

Usage::

    def test_search(flickr_server, demo_catalog):
        srv = flickr_server(demo_catalog)                      # started; stopped at teardown
        srv = flickr_server(synthetic_catalog(n=5000), faults=Faults(rest_every=3),
                            api_keys={FLICKR_TEST_KEY: FLICKR_TEST_SECRET})
        api = flickr_api(srv)                                   # flickrapi client bound to srv
"""

from __future__ import annotations

import json

import flickrapi
import pytest

from fdf.flickr_server import Catalog, Faults, FlickrServer
from fdf.flickr_server import demo_catalog as bundled_demo_catalog

FLICKR_TEST_KEY = "0123456789abcdef0123456789abcdef"  # Flickr-shaped: 32 hex digits
FLICKR_TEST_SECRET = "fedcba9876543210"


def flickr_api(server: FlickrServer, key: str = FLICKR_TEST_KEY, secret: str = FLICKR_TEST_SECRET):
    """A flickrapi client (parsed JSON, no token cache) that talks to ``server``."""
    api = flickrapi.FlickrAPI(key, secret, format="parsed-json", store_token=False)
    api.REST_URL = server.rest_url
    return api


@pytest.fixture
def demo_catalog() -> Catalog:
    """A fresh catalog of the 30 bundled demo photos (mutations do not leak between tests)."""
    return bundled_demo_catalog()


@pytest.fixture
def flickr_server():
    """Factory: ``flickr_server(catalog=None, faults=None, api_keys=None, **kwargs)`` starts a
    FlickrServer (default catalog: the demo photos; ``api_keys`` None accepts any key) and
    stops it when the test ends."""
    started: list[FlickrServer] = []

    def start(
        catalog: Catalog | None = None, faults: Faults | None = None, api_keys: dict[str, str] | None = None, **kwargs
    ) -> FlickrServer:
        server = FlickrServer(
            catalog if catalog is not None else bundled_demo_catalog(), api_keys=api_keys, faults=faults, **kwargs
        )
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def flickr_client():
    """The :func:`flickr_api` factory: ``flickr_client(server, key=..., secret=...)``."""
    return flickr_api


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    """A randomly initialised generator saved the way anonymizer.generator loads checkpoints."""
    import torch
    from safetensors.torch import save_file

    from anonymizer.generator.networks import Generator, NetworkConfig
    from anonymizer.generator.runner import EMA_PREFIX

    torch.manual_seed(0)
    config = NetworkConfig(resolution=32, base_channels=8, max_channels=32, z_dim=16, w_dim=32)
    gen = Generator(config)
    for module in gen.modules():
        if hasattr(module, "style"):  # zero-initialised for training; random here so the latent matters
            torch.nn.init.normal_(module.style.weight, std=0.5)
    path = tmp_path_factory.mktemp("ckpt") / "random.safetensors"
    save_file(
        {EMA_PREFIX + k: v.contiguous() for k, v in gen.state_dict().items()},
        str(path),
        metadata={"network": json.dumps(config.to_dict())},
    )
    return path
