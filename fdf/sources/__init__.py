"""Photo sources: each turns one kind of input into a manifest (see :mod:`fdf.manifest`).

* :mod:`.yfcc` — the YFCC100M metadata dump (what FDF was built from), streamed;
* :mod:`.fdf_metainfo` — the FDF release's ``fdf_metainfo.json``, one row per photo with its faces;
* :mod:`.url_list` — a CSV or Parquet list of image URLs with licence columns;
* :mod:`.local_folder` — image files on disk with a licence sidecar;
* :mod:`.summary` — counts per source and licence, and missing attribution, for any manifest.

Every source sets the ``source`` column ('yfcc100m', 'fdf', 'urls', 'folder').
"""
