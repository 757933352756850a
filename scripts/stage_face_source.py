"""Stage one fetched face collection as a folder source with its licence sidecar.

    python scripts/stage_face_source.py SRC --out STAGE [--sources manifests/training_face_sources.yaml]

SRC is a folder, or a bare git directory as the library's ``fetch`` leaves it (its images are
taken from HEAD with ``git archive``). Known collections (UTKFace, All-Age-Faces, MTFL; see the
YAML) get their images folder and a ``LICENSE.json`` saying whose terms apply; any other folder
must carry its own ``LICENSE.json``. The staged copy is ``STAGE/<name>/``, written under a
temporary name and renamed when complete, so an interrupted run leaves nothing that looks whole.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

log = logging.getLogger("stage_face_source")
ROOT = Path(__file__).resolve().parent.parent


class StageError(Exception):
    pass


def find_known(src: Path, known: dict) -> tuple[str, dict] | None:
    text = str(src).lower()
    for name, entry in known.items():
        if entry["match"].lower() in text:
            return name, entry
    return None


def is_bare_git(src: Path) -> bool:
    return (src / "HEAD").is_file() and (src / "objects").is_dir() and not (src / ".git").exists()


def extract_from_git(src: Path, inner: str, dest: Path) -> None:
    """Write HEAD's ``inner`` folder of a bare repository into ``dest`` (flattened to its contents)."""
    with tempfile.TemporaryFile() as tar_file:
        subprocess.run(
            ["git", "--git-dir", str(src), "archive", "--format=tar", "HEAD", "--", inner], stdout=tar_file, check=True
        )
        tar_file.seek(0)
        with tarfile.open(fileobj=tar_file) as tar:
            tar.extractall(dest / "_tree", filter="data")
    shutil.move(str(dest / "_tree" / inner), str(dest / "images"))
    shutil.rmtree(dest / "_tree")


def stage(src: Path, out: Path, known: dict) -> Path:
    src = src.resolve()
    if not src.exists():
        raise StageError(f"{src}: no such folder")
    hit = find_known(src, known)
    if hit is None:
        if not (src / "LICENSE.json").is_file():
            raise StageError(
                f"{src}: not a known collection ({', '.join(known)}) and has no LICENSE.json; "
                "add one (see fdf/sources/local_folder.py) so every face keeps its licence"
            )
        name, inner, sidecar = src.name, ".", None
    else:
        name, entry = hit
        inner, sidecar = entry["images"], entry["sidecar"]
    final = out / name
    if final.is_dir():
        log.info("%s: already staged at %s", src, final)
        return final
    work = out / f".{name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if is_bare_git(src):
        extract_from_git(src, inner, work)
    else:
        if not (src / inner).is_dir():
            raise StageError(f"{src}: expected the images in {inner!r}")
        shutil.copytree(src / inner, work / "images", ignore=shutil.ignore_patterns(".*"))
    if sidecar is not None:
        (work / "LICENSE.json").write_text(json.dumps(sidecar, indent=2) + "\n")
    elif (work / "images" / "LICENSE.json").exists():
        shutil.move(str(work / "images" / "LICENSE.json"), str(work / "LICENSE.json"))
    work.rename(final)
    log.info("%s: staged %s as %s", src, name, final)
    return final


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="staging folder (one subfolder per collection)")
    parser.add_argument("--sources", type=Path, default=ROOT / "manifests" / "training_face_sources.yaml")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        stage(args.src, args.out, yaml.safe_load(args.sources.read_text()))
    except (StageError, subprocess.CalledProcessError, OSError) as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
