"""The REST methods the fake Flickr answers, each returning Flickr's JSON shape as a dict.

Numbers come back as Flickr sends them: some as strings (license, dateupload, views),
others as integers (farm, ispublic, total, sizes' width/height).
"""

from __future__ import annotations

from collections.abc import Callable

from ..licenses import license_table
from .catalog import Catalog, CatalogPhoto, clean_tag, is_machine_tag
from .search import SearchParamError, search
from .sizes import SIZE_BY_EXTRA, available_sizes, image_path, page_url, size_dims


class ApiError(Exception):
    """A Flickr API failure: answered as {"stat":"fail","code":..,"message":..} with HTTP 200."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _photo_or_fail(catalog: Catalog, params: dict, message: str) -> CatalogPhoto:
    photo_id = str(params.get("photo_id", "")).strip()
    if not photo_id:
        raise ApiError(1, "Photo not found")
    photo = catalog.get(photo_id)
    if photo is None or not photo.visible:
        raise ApiError(1, message.format(id=photo_id))
    return photo


def photo_summary(photo: CatalogPhoto, extras: set[str], base_url: str) -> dict:
    """One entry of a search result's ``photo`` list, with the requested extras."""
    d: dict = {
        "id": photo.id,
        "owner": photo.owner,
        "secret": photo.secret,
        "server": photo.server,
        "farm": photo.farm,
        "title": photo.title,
        "ispublic": int(photo.public),
        "isfriend": 0,
        "isfamily": 0,
    }
    if "license" in extras:
        d["license"] = str(photo.license)
    if "description" in extras:
        d["description"] = {"_content": photo.description}
    if "date_upload" in extras:
        d["dateupload"] = str(photo.date_upload)
    if "last_update" in extras:
        d["lastupdate"] = str(photo.last_update)
    if "date_taken" in extras:
        d.update(datetaken=photo.date_taken, datetakengranularity=0, datetakenunknown="0")
    if "owner_name" in extras:
        d["ownername"] = photo.owner_name
    if "icon_server" in extras:
        d.update(iconserver="0", iconfarm=0)
    if "original_format" in extras:
        d.update(originalsecret=photo.original_secret, originalformat=photo.original_format)
    if "geo" in extras:
        d.update(latitude=0, longitude=0, accuracy=0, context=0)
    if "tags" in extras:
        d["tags"] = " ".join(photo.clean_tags)
    if "machine_tags" in extras:
        d["machine_tags"] = " ".join(photo.machine_tags)
    if "o_dims" in extras:
        d.update(o_width=str(photo.width), o_height=str(photo.height))
    if "views" in extras:
        d["views"] = str(photo.views)
    if "media" in extras:
        d.update(media=photo.media, media_status="ready")
    if "path_alias" in extras:
        d["pathalias"] = None
    for extra in sorted(e for e in extras if e.startswith("url_")):
        size = SIZE_BY_EXTRA.get(extra[4:])
        dims = size_dims(photo, size) if size else None
        if dims:
            key = extra[4:]
            d[f"url_{key}"] = base_url + image_path(photo, size)
            d[f"height_{key}"], d[f"width_{key}"] = dims[1], dims[0]
    return d


def photos_search(catalog: Catalog, params: dict, base_url: str) -> dict:
    try:
        result = search(catalog.photos(), params)
    except SearchParamError as exc:
        raise ApiError(exc.code, str(exc)) from None
    extras = {e.strip().lower() for e in str(params.get("extras", "")).split(",") if e.strip()}
    return {
        "photos": {
            "page": result.page,
            "pages": result.pages,
            "perpage": result.perpage,
            "total": result.total,
            "photo": [photo_summary(p, extras, base_url) for p in result.photos],
        },
        "stat": "ok",
    }


def licenses_get_info(catalog: Catalog, params: dict, base_url: str) -> dict:
    rows = [{"id": lic.id, "name": lic.name, "url": lic.url} for lic in license_table().values()]
    return {"licenses": {"license": rows}, "stat": "ok"}


def photos_get_info(catalog: Catalog, params: dict, base_url: str) -> dict:
    photo = _photo_or_fail(catalog, params, 'Photo "{id}" not found (invalid ID)')
    tags = []
    for i, raw in enumerate(photo.tags):
        tags.append(
            {
                "id": f"{photo.owner.split('@')[0]}-{photo.id}-{i + 1}",
                "author": photo.owner,
                "authorname": photo.owner_name,
                "raw": raw,
                "_content": raw.lower() if is_machine_tag(raw) else clean_tag(raw),
                "machine_tag": int(is_machine_tag(raw)),
            }
        )
    info = {
        "id": photo.id,
        "secret": photo.secret,
        "server": photo.server,
        "farm": photo.farm,
        "dateuploaded": str(photo.date_upload),
        "isfavorite": 0,
        "license": str(photo.license),
        "safety_level": "0",
        "rotation": 0,
        "originalsecret": photo.original_secret,
        "originalformat": photo.original_format,
        "owner": {
            "nsid": photo.owner,
            "username": photo.owner_name,
            "realname": photo.real_name,
            "location": "",
            "iconserver": "0",
            "iconfarm": 0,
            "path_alias": None,
        },
        "title": {"_content": photo.title},
        "description": {"_content": photo.description},
        "visibility": {"ispublic": int(photo.public), "isfriend": 0, "isfamily": 0},
        "dates": {
            "posted": str(photo.date_upload),
            "taken": photo.date_taken,
            "takengranularity": 0,
            "takenunknown": "0",
            "lastupdate": str(photo.last_update),
        },
        "views": str(photo.views),
        "usage": {"candownload": 1, "canblog": 0, "canprint": 0, "canshare": 1},
        "comments": {"_content": "0"},
        "notes": {"note": []},
        "people": {"haspeople": 0},
        "tags": {"tag": tags},
        "urls": {"url": [{"type": "photopage", "_content": page_url(photo)}]},
        "media": photo.media,
    }
    return {"photo": info, "stat": "ok"}


def photos_get_sizes(catalog: Catalog, params: dict, base_url: str) -> dict:
    photo = _photo_or_fail(catalog, params, "Photo not found")
    sizes = [
        {
            "label": size.label,
            "width": w,
            "height": h,
            "source": base_url + image_path(photo, size),
            "url": f"{page_url(photo)}sizes/{size.extra}/",
            "media": photo.media,
        }
        for size, w, h in available_sizes(photo)
    ]
    return {"sizes": {"canblog": 0, "canprint": 0, "candownload": 1, "size": sizes}, "stat": "ok"}


def test_echo(catalog: Catalog, params: dict, base_url: str) -> dict:
    echoed = {k: {"_content": str(v)} for k, v in params.items() if not k.startswith("oauth_")}
    return {**echoed, "stat": "ok"}


METHODS: dict[str, Callable[[Catalog, dict, str], dict]] = {
    "flickr.photos.search": photos_search,
    "flickr.photos.licenses.getInfo": licenses_get_info,
    "flickr.photos.getInfo": photos_get_info,
    "flickr.photos.getSizes": photos_get_sizes,
    "flickr.test.echo": test_echo,
}


def call_method(catalog: Catalog, params: dict, base_url: str) -> dict:
    """Dispatch one API call; ApiError for Flickr-level failures (unknown method: 112)."""
    name = str(params.get("method", "")).strip()
    handler = METHODS.get(name)
    if handler is None:
        raise ApiError(112, f'Method "{name}" not found')
    return handler(catalog, params, base_url)
