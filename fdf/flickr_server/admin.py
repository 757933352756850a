"""The /_admin/ actions (catalog mutations, fault changes, counters) and a client for them.

A test or a separate process changes a running server with, for example::

    admin_request(base_url, "set_license", photo_id="46000000001", license=6)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict
from urllib.parse import urlencode

from ..errors import FdfError
from .catalog import CatalogError
from .faults import FaultConfigError


class AdminError(FdfError):
    """An admin request was refused; ``status`` is the HTTP status the server answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _need(params: dict, name: str) -> str:
    value = str(params.get(name, "")).strip()
    if not value:
        raise AdminError(f"missing parameter {name!r}")
    return value


def _photo_id(state, params: dict) -> str:
    photo_id = _need(params, "photo_id")
    if photo_id not in state.catalog:
        raise AdminError(f"no photo {photo_id!r} in the catalog", status=404)
    return photo_id


def _truthy(value, default: bool = True) -> bool:
    if value is None or value == "":
        return default
    return str(value).lower() in ("1", "true", "yes")


ACTIONS = (
    "stats",
    "log",
    "photo",
    "faults",
    "reset_stats",
    "delete",
    "make_private",
    "make_public",
    "set_license",
    "add_tag",
    "set_image_fault",
    "set_faults",
)


def run_admin_action(state, action: str, params: dict) -> dict:
    """Do one admin action against a server's state; the dict is merged into the JSON answer."""
    catalog = state.catalog
    try:
        if action == "stats":
            return {"stats": state.stats.snapshot()}
        if action == "log":
            return {"log": state.stats.log()}
        if action == "photo":
            record = catalog[_photo_id(state, params)].to_record()
            record.pop("image_base64", None)
            return {"photo": record}
        if action == "faults":
            return {"faults": asdict(state.faults)}
        if action == "reset_stats":
            state.stats.reset()
            return {}
        if action == "delete":
            catalog.delete(_photo_id(state, params))
        elif action == "make_private":
            catalog.make_private(_photo_id(state, params), _truthy(params.get("private")))
        elif action == "make_public":
            catalog.make_private(_photo_id(state, params), False)
        elif action == "set_license":
            catalog.set_license(_photo_id(state, params), _need(params, "license"))
        elif action == "add_tag":
            catalog.add_tag(_photo_id(state, params), _need(params, "tag"))
        elif action == "set_image_fault":
            state.set_image_fault(_photo_id(state, params), str(params.get("kind", "")).strip() or None)
        elif action == "set_faults":
            state.faults.update(**{k: v for k, v in params.items()})
        else:
            raise AdminError(f"unknown admin action {action!r}; known: {', '.join(ACTIONS)}", status=404)
    except (CatalogError, FaultConfigError) as exc:
        raise AdminError(str(exc)) from None
    return {}


def admin_request(base_url: str, action: str, timeout: float = 10.0, **params) -> dict:
    """Call ``/_admin/{action}`` on a running server (POST for changes, GET for reads).

    Returns the JSON answer; AdminError with the server's message when it refuses.
    """
    url = f"{base_url.rstrip('/')}/_admin/{action}"
    if action in ("stats", "log", "photo", "faults"):
        req = urllib.request.Request(url + ("?" + urlencode(params) if params else ""))
    else:
        body = json.dumps({k: v for k, v in params.items()}).encode()
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", str(exc))
        except ValueError:
            message = str(exc)
        raise AdminError(message, status=exc.code) from None
    except urllib.error.URLError as exc:
        raise AdminError(f"cannot reach the fake Flickr server at {base_url}: {exc.reason}", status=0) from None
