"""`fdf build`: source → manifest → download → annotate → select (→ report), resumable.

Layout of a build folder::

    OUT/manifest.parquet      the photo manifest (written atomically; an existing one is reused)
    OUT/download/             download shards + photos (fdf.download; resumes by its markers)
    OUT/faces/                face shards of every detected face (fdf.annotate; resumes by _status/)
    OUT/selected/             the faces chosen for diversity (fdf.select; deterministic rewrite)
    OUT/report/               HTML + PNG report
    OUT/_build/               config.json, summary.json (written last)

Every stage works through batches and commits each batch atomically with a marker written last,
so a build killed at any point is finished by running the same command again, and the selected
faces equal those of an uninterrupted run (selection sorts by face id and ranks by a seeded hash,
so it does not depend on how earlier stages were batched).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from fdf.annotate.stage import annotate
from fdf.atomic import atomic_write_text
from fdf.errors import ConfigError
from fdf.manifest import read_manifest, write_manifest
from fdf.memory import release_memory
from fdf.parent_death import exit_with_parent
from fdf.select import select_faces
from fdf.shards import list_shards
from fdf.sources.fdf_metainfo import fdf_metainfo_to_manifest
from fdf.sources.local_folder import folder_to_manifest
from fdf.sources.url_list import url_list_to_manifest

from .backends import backend_context, local_workers_config, release_local_workers
from .config import STAGES, BuildConfig, SourceConfig
from .summary import BuildSummary, StageSummary

log = logging.getLogger(__name__)

BUILD_DIR = "_build"


def make_manifest(source: SourceConfig, path: Path, progress: bool = True) -> dict:
    """Write the manifest of ``source`` to ``path``; return counts. Reuses an existing manifest."""
    if path.exists():
        return {"photos": len(read_manifest(path, columns=["photo_id"])), "reused": True}
    if source.kind == "flickr":
        # lazy: fdf.flickr loads in ~0.13 s (flickrapi, requests) and only Flickr sources need it
        from fdf.flickr import FlickrClient, FlickrConfig, SearchQuery, search_photos

        try:
            query = SearchQuery(**source.query)
            client = FlickrClient(FlickrConfig.from_env(**source.flickr))
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"flickr source: {str(exc).strip(chr(39))}") from None
        return search_photos(client, query, out=path, progress=progress).summary()
    df = _file_source_frame(source, progress)
    counts = {"photos": len(df)}
    if source.kind == "fdf_metainfo" and source.flickr:
        # No YFCC dump: image URLs come from flickr.photos.getSizes.
        # lazy: fdf.flickr loads in ~0.13 s (flickrapi, requests) and only Flickr sources need it
        from fdf.flickr import FlickrClient, FlickrConfig
        from fdf.flickr.resolve import resolve_download_urls

        for col in ("width", "height"):  # filled per row by the resolver
            if col not in df:
                df[col] = pd.Series(pd.NA, index=df.index, dtype="Int32")
        df, resolved = resolve_download_urls(
            FlickrClient(FlickrConfig.from_env(**source.flickr)), df, progress=progress
        )
        counts.update(urls_resolved=resolved.resolved, photos_gone=resolved.not_found, url_errors=resolved.failed)
    write_manifest(df, path)
    return counts


def _in_child_process(fn, *args):
    """``fn(*args)`` in a fresh (spawned) process. A Flickr search's transient memory (parsed
    pages, one window of up to 4,000 records) grows with the query; run here, it is handed back
    to the system when the child exits instead of staying in the build process's heap for the
    rest of the build. Exceptions come back as they were raised. The child ends with the build
    process, even one killed with SIGKILL (:func:`fdf.parent_death.exit_with_parent`)."""
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        return pool.submit(fn, *args).result()


def _download_then_stop_workers(*args):
    """``download_manifest(*args)`` on loky workers that end with this (child) process, then stop
    them: the child process exits only after them (else after their 300 s idle timeout)."""
    # lazy: the download runner loads in ~0.1 s (flickrapi, requests) and the source stage's child,
    # which imports this module too, does not need it
    from fdf.download import download_manifest

    with local_workers_config():
        result = download_manifest(*args)
    release_local_workers()
    return result


def _file_source_frame(source: SourceConfig, progress: bool) -> pd.DataFrame:
    opts = dict(source.options)
    if source.kind == "fdf_metainfo":
        return fdf_metainfo_to_manifest(source.path, yfcc_dump=opts.pop("yfcc_dump", None))[0]
    if source.kind == "url_list":
        return url_list_to_manifest(source.path, **opts).manifest
    if source.kind == "folder":
        return folder_to_manifest(source.path, progress=progress)[0]
    return read_manifest(source.path)


def _timed(build: _Build, name: str, run_stage) -> StageSummary:
    started = time.monotonic()
    stage = StageSummary(name)
    run_stage(build, stage)
    # What a stage freed stays in the heap (glibc's and Arrow's pool) otherwise, and the build process
    # lives through every later stage.
    release_memory(f"build: stage {name} done", collect=True)
    stage.seconds = round(time.monotonic() - started, 3)
    build.summary.stages.append(stage)
    log.info("stage %s done in %.1f s", name, stage.seconds)
    return stage


@dataclasses.dataclass
class _Build:
    """What every stage of one build reads: its config, its folders (in ``summary``) and where
    joblib runs (``backend``: bound before the first stage runs)."""

    config: BuildConfig
    out: Path
    summary: BuildSummary
    progress: bool
    backend: object = None


def _source_stage(build: _Build, stage: StageSummary) -> None:
    counts = _in_child_process(make_manifest, build.config.source, Path(build.summary.manifest), build.progress)
    stage.skipped = bool(counts.pop("reused", False))
    stage.counts = {k: v for k, v in counts.items() if isinstance(v, (int, float))}


def _download_stage(build: _Build, stage: StageSummary) -> None:
    # lazy: the download runner loads in ~0.1 s (flickrapi, requests); spawned stage children import this module
    from fdf.download import download_manifest

    args = (build.summary.manifest, build.summary.download_dir, build.config.download, build.progress)
    # On local cores, in a child process like the search: a build process that plans the downloads
    # itself keeps the freed memory through annotation, the build's peak (BENCHMARKS.md, "Memory
    # released at stage boundaries"). Dask's client lives here.
    if build.backend.name == "loky":
        result = _in_child_process(_download_then_stop_workers, *args)
    else:
        result = download_manifest(*args)
    stage.counts = {
        "photos": result.manifest_rows,
        "ok": result.dataset_counts.get("ok", 0),
        "attempted": result.attempted,
        "images_per_s": result.images_per_s,
    }
    stage.failures = {k: v for k, v in result.dataset_counts.items() if k != "ok"}
    stage.skipped = result.attempted == 0


def _annotate_stage(build: _Build, stage: StageSummary) -> None:
    result = annotate(build.summary.download_dir, build.summary.faces_dir, build.config.annotate)
    by_status = result.counts.get("photos_by_status", {})
    stage.counts = {
        "photos": result.photos_total,
        "faces": result.counts.get("faces", 0),
        "photos_with_faces": result.counts.get("photos_with_faces", 0),
    }
    stage.failures = {k: v for k, v in by_status.items() if k != "ok"}
    stage.skipped = result.photos_processed == 0


def _select_stage(build: _Build, stage: StageSummary) -> None:
    summary = build.summary
    if not list_shards(summary.faces_dir):
        log.warning("no faces were found in any photo: nothing to select")
        stage.counts = {"faces_in": 0, "faces_kept": 0, "identities": 0}
        return
    select_config = dataclasses.replace(build.config.select, download_dir=summary.download_dir)  # the caller's is kept
    result = select_faces(summary.faces_dir, summary.selected_dir, select_config, progress=build.progress)
    stage.counts = {"faces_in": result.faces_in, "faces_kept": result.faces_kept, "identities": result.identities}
    stage.failures = result.dropped


def _report_stage(build: _Build, stage: StageSummary) -> None:
    # lazy: fdf.report loads in ~0.4 s (matplotlib) and only builds with a report need it
    from fdf.report import make_report

    result = make_report(build.out, build.summary.report_dir, build_summary=build.summary.to_dict())
    stage.counts = {"figures": len(result.figures)}


#: The stages that run on the joblib backend, in order; select and report run after it is closed.
_BACKEND_STAGES = (("source", _source_stage), ("download", _download_stage), ("annotate", _annotate_stage))


def run_build(config: BuildConfig, out_dir: str | Path, progress: bool = True) -> BuildSummary:
    """Run (or resume) a whole build into ``out_dir``; return its summary (also in _build/summary.json)."""
    # Absolute: Dask workers may run in another working directory (the output is on a shared path).
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _check_same_config(out, config)
    summary = BuildSummary(
        str(out), str(out / "manifest.parquet"), str(out / "download"), str(out / "faces"), str(out / "selected")
    )
    build = _Build(config, out, summary, progress)
    started = time.monotonic()
    last = STAGES.index(config.until)
    with backend_context(config.backend, config.scheduler) as backend:
        build.backend = backend
        for name, run_stage in _BACKEND_STAGES:
            if STAGES.index(name) <= last:
                _timed(build, name, run_stage)
                # loky reuses one pool of workers across stages: download workers would carry their
                # heaps into annotation, and annotate workers their models into select and report.
                if backend.name == "loky" and release_local_workers():
                    log.debug("%s workers stopped", name)
    if STAGES.index("select") <= last:
        _timed(build, "select", _select_stage)
    summary.backend = {
        "name": backend.name,
        "scheduler": backend.scheduler,
        "workers": backend.workers,
        "tasks_by_worker": backend.tasks_by_worker,
        "worker_pids_used": backend.worker_pids_used,
    }
    has_selection = (Path(summary.selected_dir) / "_select.json").exists()
    if config.report and config.until == "report" and has_selection:
        summary.report_dir = str(out / "report")
        _timed(build, "report", _report_stage)
    summary.seconds = round(time.monotonic() - started, 3)
    summary.write(out / BUILD_DIR / "summary.json")
    return summary


def _check_same_config(out: Path, config: BuildConfig) -> None:
    """Record the config; refuse to resume a folder built with a different source or stages."""
    path = out / BUILD_DIR / "config.json"
    current = config.to_dict()
    comparable = _data_settings(current)
    if path.exists():
        before = _data_settings(json.loads(path.read_text(encoding="utf-8")))
        if before != comparable:
            changed = sorted(k for k in set(before) | set(comparable) if before.get(k) != comparable.get(k))
            raise ConfigError(
                f"{out} was built with a different config ({', '.join(changed)} changed); use a new --out folder"
            )
    atomic_write_text(path, json.dumps(current, indent=2) + "\n")


def _data_settings(config: dict) -> dict:
    # Backend, report and how Flickr is reached (endpoint, rate limit) do not change the data,
    # so a build may resume on another backend or against a restarted server.
    out = {k: v for k, v in config.items() if k not in ("backend", "scheduler", "report", "until")}
    out["source"] = {k: v for k, v in out.get("source", {}).items() if k != "flickr"}
    return out
