"""Dataset commands at FDF's scale: synthetic face shards, each command timed with its peak memory.

    python benchmarks/bench_scale.py --faces 100000 [--work DIR] [--keep] [--only select,audit]

Writes ``--faces`` synthetic faces with the project's own shard writer (``write_face_files``,
1,000 faces a shard, ``_status/`` markers, ``_dataset.json``) plus a download table (photo
sha256 and tags, as select and audit read them), then runs as real ``fdf`` processes: select,
audit, credits, card, report, export --format fdf (of the selected faces), import (of that
export), remove --owner of the owner with most photos (in nearly every shard: every shard is
rewritten) and remove-few: remove --owner of an owner with 3 faces (last, since they rewrite
shards). Each
row: wall seconds and the peak RSS of the process tree (sampled every 0.1 s). Rows are appended
to ``benchmarks/results/scale_rows.jsonl``; ``--table`` prints them as Markdown.

What is synthetic, and how it follows real data:

* descriptors: Gaussian with the mean and covariance of 1,500 dlib descriptors measured on real
  128 px face crops (``benchmarks/data/face_statistics.npz``; no face is stored), one centre
  per identity (80% of the variance) plus per-face noise (20%: same-person distances ~0.36);
  1 + Geometric(0.6) faces per identity;
* dHash: each bit set with its frequency on 9,465 real crops (11% to 82%), independent bits;
  1% of faces are a re-upload of another photo's face (the same hash with 0-3 bits flipped);
* 1 + Poisson(0.3) faces a photo, Zipf-like owners (photos per owner ~ 1/rank), FDF's licence mix
  (CC BY-NC-SA, BY-NC, BY-NC-ND, BY, BY-SA, BY-ND, public domain), 10% untitled, 0.5% of photos
  byte-identical to another (same sha256), 0.2% tagged no_cv;
* pose, expression, quality: yaw N(0, 30), pitch N(0, 12), roll N(0, 8) degrees, mouth open
  ~Exp(0.08), crop side log-normal around 190 px (~85% pass FDF's 128 px gate);
* crops: 128 x 128 PNGs of ~8.5 KB from a pool of 256 (real crops are ~30 KB: stages bound by
  image bytes, export, import and remove's shard rewrites, would read and write ~3.5x more).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fdf.shards import list_shards, write_dataset_json, write_status  # noqa: E402
from fdf.shards.schema import FACE_SCHEMA  # noqa: E402
from fdf.shards.writer import status_path, write_face_files  # noqa: E402

STATS = ROOT / "benchmarks" / "data" / "face_statistics.npz"
ROWS = ROOT / "benchmarks" / "results" / "scale_rows.jsonl"
FACES_PER_SHARD = 1000
LICENSES = np.array([1, 2, 3, 4, 5, 6, 9, 10])  # ids as Flickr numbers them
LICENSE_P = np.array([0.22, 0.16, 0.12, 0.22, 0.12, 0.08, 0.04, 0.04])
LICENSE_NAMES = {
    1: ("CC BY-NC-SA 2.0", "https://creativecommons.org/licenses/by-nc-sa/2.0/"),
    2: ("CC BY-NC 2.0", "https://creativecommons.org/licenses/by-nc/2.0/"),
    3: ("CC BY-NC-ND 2.0", "https://creativecommons.org/licenses/by-nc-nd/2.0/"),
    4: ("CC BY 2.0", "https://creativecommons.org/licenses/by/2.0/"),
    5: ("CC BY-SA 2.0", "https://creativecommons.org/licenses/by-sa/2.0/"),
    6: ("CC BY-ND 2.0", "https://creativecommons.org/licenses/by-nd/2.0/"),
    9: ("CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
    10: ("Public Domain Mark 1.0", "https://creativecommons.org/publicdomain/mark/1.0/"),
}
STEPS = ("select", "audit", "credits", "card", "report", "export", "import", "remove", "remove-few")


# ---------------------------------------------------------------- synthetic data


def crop_pool(rng: np.random.Generator, size: int = 256, side: int = 128) -> list[bytes]:
    """PNG crops: smooth shading plus blocky noise, ~8.5 KB each."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    pool = []
    for _ in range(size):
        a, b, c = rng.uniform(40, 200, 3)
        base = a + (b - a) * xx + (c - a) * yy * np.sin(3 * xx + rng.uniform(0, 6))
        noise = np.kron(rng.normal(0, 8, (side // 8, side // 8, 3)), np.ones((8, 8, 1)))
        img = np.clip(base[..., None] + noise, 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG", compress_level=6)
        pool.append(buf.getvalue())
    return pool


def faces_table(n: int, rng: np.random.Generator, stats, pool: list[bytes], resolutions: list[int]) -> dict:
    """Column arrays for ``n`` faces (one row per face; resolutions are added when shards are cut)."""
    faces_per_photo = 1 + rng.poisson(0.3, n)
    photo_of = np.repeat(np.arange(n), faces_per_photo)[:n]
    n_photos = int(photo_of[-1]) + 1
    face_index = np.arange(n) - np.searchsorted(photo_of, photo_of)
    photo_ids = (40_000_000_000 + np.arange(n_photos) * 7919 % 9_000_000_000 + np.arange(n_photos)).astype(str)
    n_owners = max(1, n_photos // 8)
    owner_weight = 1.0 / np.arange(1, n_owners + 1)
    owner_of_photo = rng.choice(n_owners, n_photos, p=owner_weight / owner_weight.sum())
    licence_of_photo = rng.choice(LICENSES, n_photos, p=LICENSE_P)
    # identities: a new one, or a repeat of a recent one (1 + Geometric(0.6) faces each on average)
    identity = np.cumsum(rng.random(n) < 0.6) - 1
    identity = rng.permutation(identity.max() + 1)[identity]
    mean, cov = stats["descriptor_mean"].astype(np.float64), stats["descriptor_cov"].astype(np.float64)
    chol = np.linalg.cholesky(cov + 1e-9 * np.eye(len(cov)))
    centres = (rng.standard_normal((identity.max() + 1, len(mean))) @ (chol.T * np.sqrt(0.8))).astype(np.float32)
    embedding = mean.astype(np.float32) + centres[identity]
    embedding += (rng.standard_normal(embedding.shape) @ (chol.T * np.sqrt(0.2))).astype(np.float32)
    p = stats["dhash_bit_p"].astype(np.float64)
    bits = rng.random((n, 64)) < p
    dhash = (bits.astype(np.uint64) << np.arange(64, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
    copies = np.flatnonzero(rng.random(n) < 0.01)
    source = rng.integers(0, n, len(copies))
    flips = np.zeros(len(copies), dtype=np.uint64)
    for _ in range(3):
        flips |= np.where(
            rng.random(len(copies)) < 0.5,
            np.uint64(1) << rng.integers(0, 64, len(copies)).astype(np.uint64),
            np.uint64(0),
        )
    dhash[copies] = dhash[source] ^ flips
    side = np.exp(rng.normal(np.log(190), 0.35, n))
    cx, cy = rng.uniform(300, 700, n), rng.uniform(300, 500, n)
    crop_photo = np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1).astype(np.float32)
    face_size = side / 2.2
    titled = rng.random(n_photos) > 0.1
    return {
        "n_photos": n_photos,
        "photo_of": photo_of,
        "face_index": face_index,
        "photo_ids": photo_ids,
        "owner_of_photo": owner_of_photo,
        "licence_of_photo": licence_of_photo,
        "titled": titled,
        "embedding": embedding,
        "dhash": dhash,
        "crop_photo": crop_photo,
        "face_size": face_size.astype(np.float32),
        "yaw": np.clip(rng.normal(0, 30, n), -89, 89).astype(np.float32),
        "pitch": np.clip(rng.normal(0, 12, n), -89, 89).astype(np.float32),
        "roll": rng.normal(0, 8, n).astype(np.float32),
        "mouth_open": rng.exponential(0.08, n).astype(np.float32),
        "eye_open": rng.uniform(0.15, 0.35, n).astype(np.float32),
        "smile": rng.uniform(0, 1, n).astype(np.float32),
        "sharpness": np.exp(rng.normal(np.log(200), 0.6, n)).astype(np.float32),
        "landmark_fit": rng.uniform(0.03, 0.2, n).astype(np.float32),
        "score": rng.uniform(0.5, 1.0, n).astype(np.float32),
        "image": rng.integers(0, len(pool), n),
    }


def _lists(flat: np.ndarray, width: int) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.arange(0, len(flat) + 1, width, dtype=np.int32)), pa.array(flat))


def _nested(values: np.ndarray) -> pa.Array:
    """n x a x b float32 -> list<list<float>>."""
    n, a, b = values.shape
    inner = _lists(values.reshape(-1).astype(np.float32), b)
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * a + 1, a, dtype=np.int32)), inner)


def shard_table(cols: dict, rows: np.ndarray, res: int, pool: list[bytes], rng: np.random.Generator) -> pa.Table:
    """The face rows ``rows`` at resolution ``res`` as a face-shard table."""
    n = len(rows)
    photo = cols["photo_of"][rows]
    pid = cols["photo_ids"][photo]
    owner = cols["owner_of_photo"][photo]
    lic = cols["licence_of_photo"][photo]
    crop = cols["crop_photo"][rows]
    box = np.tile(np.array([0.27, 0.27, 0.73, 0.73], dtype=np.float32) * res, (n, 1))
    keypoints = np.concatenate([rng.uniform(0.2, 0.8, (n, 7, 2)) * res, np.ones((n, 7, 1))], axis=2)
    landmarks = rng.uniform(0.25, 0.75, (n, 68, 2)) * res
    centre, half = (crop[:, :2] + crop[:, 2:]) / 2, (crop[:, 2:3] - crop[:, 0:1]) / 4.4
    bbox_photo = np.concatenate([centre - half, centre + half], axis=1)
    titled = cols["titled"][photo]
    face_ids = [f"{p}_{i}" for p, i in zip(pid, cols["face_index"][rows])]
    images = [{"bytes": pool[k], "path": f"{f}_{res}.png"} for f, k in zip(face_ids, cols["image"][rows])]
    data = {
        "face_id": pa.array(face_ids, pa.string()),
        "photo_id": pa.array(pid.tolist(), pa.string()),
        "face_index": pa.array(cols["face_index"][rows].astype(np.int16)),
        "split": pa.array(np.where(np.char.endswith(pid.astype(str), "7"), "validation", "train").tolist()),
        "resolution": pa.array(np.full(n, res, dtype=np.int16)),
        "image": pa.array(images, FACE_SCHEMA.field("image").type),
        "bbox": _lists(box.reshape(-1), 4),
        "keypoints": _nested(keypoints),
        "landmarks68": _nested(landmarks),
        "bbox_photo": _lists(bbox_photo.reshape(-1).astype(np.float32), 4),
        "crop_photo": _lists(crop.reshape(-1), 4),
        "detector": pa.array(["centerface"] * n),
        "embedding": _lists(cols["embedding"][rows].reshape(-1), 128),
        "dhash": pa.array(cols["dhash"][rows], pa.uint64()),
        "photo_width": pa.array(np.full(n, 1024, dtype=np.int32)),
        "photo_height": pa.array(np.full(n, 768, dtype=np.int32)),
        "source": pa.array(["flickr"] * n),
        "license_id": pa.array(lic.astype(np.int16)),
        "license_name": pa.array([LICENSE_NAMES[int(x)][0] for x in lic]),
        "license_url": pa.array([LICENSE_NAMES[int(x)][1] for x in lic]),
        "owner_nsid": pa.array([f"{10000 + o}@N0{o % 8}" for o in owner]),
        "owner_name": pa.array([f"Photographer {o}" for o in owner]),
        "title": pa.array([f"Photo {p}" if t else "" for p, t in zip(pid, titled)]),
        "photo_url": pa.array(
            [f"https://www.flickr.com/photos/{10000 + o}@N0{o % 8}/{p}/" for o, p in zip(owner, pid)]
        ),
        "date_taken": pa.array(np.full(n, 1_500_000_000, dtype="datetime64[s]")),
        "date_uploaded": pa.array(np.full(n, 1_500_100_000, dtype="datetime64[s]"), pa.timestamp("s", tz="UTC")),
    }
    for name in (
        "score",
        "yaw",
        "pitch",
        "roll",
        "mouth_open",
        "eye_open",
        "smile",
        "face_size",
        "sharpness",
        "landmark_fit",
    ):
        data[name] = pa.array(cols[name][rows])
    data["exposure"] = pa.array(np.full(n, 0.5, dtype=np.float32))
    return pa.table({name: data[name] for name in FACE_SCHEMA.names})


def write_dataset(
    work: Path, n: int, seed: int, resolutions: list[int], faces_per_shard: int = FACES_PER_SHARD
) -> Path:
    """Synthetic faces under ``work/faces`` and their download table under ``work/download``."""
    rng = np.random.default_rng(seed)
    stats = dict(np.load(STATS))
    pool = crop_pool(rng)
    cols = faces_table(n, rng, stats, pool, resolutions)
    faces, download = work / "faces", work / "download"
    faces.mkdir(parents=True)
    download.mkdir(parents=True)
    started = time.perf_counter()
    # Shards hold whole photos, in photo order, as annotate writes them.
    first_face = np.searchsorted(cols["photo_of"], np.arange(cols["n_photos"] + 1))  # of each photo; n at the end
    start, k = 0, 0
    while start < n:
        stop = min(n, start + faces_per_shard)
        stop = int(first_face[cols["photo_of"][stop - 1] + 1])  # the shard ends with a whole photo
        rows = np.arange(start, stop)
        table = pa.concat_tables([shard_table(cols, rows, r, pool, rng) for r in resolutions])
        name = f"part-{k:05d}.parquet"
        write_face_files(table.sort_by([("face_id", "ascending"), ("resolution", "ascending")]), faces, name)
        photos, counts = np.unique(cols["photo_of"][rows], return_counts=True)
        write_status(
            [
                {"photo_id": cols["photo_ids"][p], "status": "ok", "error": None, "faces": int(c), "shard": name}
                for p, c in zip(photos, counts)
            ],
            status_path(faces, name),
        )
        if k % 100 == 0:
            print(f"  shard {k}: {stop} faces, {time.perf_counter() - started:.0f} s", flush=True)
        start, k = stop, k + 1
    _write_download(download, cols, rng)
    counts = {
        "rows": n * len(resolutions),
        "faces": n,
        "photos_with_faces": cols["n_photos"],
        "by_resolution": {str(r): n for r in resolutions},
    }
    write_dataset_json(faces, {"stage": "annotate", "download_dir": str(download), "synthetic": True}, counts)
    return faces


def _write_download(download: Path, cols: dict, rng: np.random.Generator) -> None:
    import pyarrow.parquet as pq

    n = cols["n_photos"]
    sha = np.array([f"{i:064x}" for i in range(n)], dtype=object)
    same = np.flatnonzero(rng.random(n) < 0.005)
    sha[same] = sha[rng.integers(0, n, len(same))]
    tags = [["portrait", "no_cv"] if rng.random() < 0.002 else ["portrait"] for _ in range(n)]
    for k, start in enumerate(range(0, n, 50_000)):
        s = slice(start, min(n, start + 50_000))
        table = pa.table(
            {
                "photo_id": pa.array(cols["photo_ids"][s].tolist()),
                "status": ["ok"] * (s.stop - s.start),
                "sha256": pa.array(sha[s].tolist()),
                "tags": pa.array(tags[s], pa.list_(pa.string())),
            }
        )
        pq.write_table(table, download / f"part-{k:05d}.parquet")


# ---------------------------------------------------------------- measurement


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_measured(cmd: list[str]) -> dict:
    """Wall seconds, CPU seconds (user + system of the whole process tree), peak tree RSS (MB),
    exit status and output of ``cmd``. On a shared machine the wall time grows with the load;
    the CPU seconds much less (cache and memory-bandwidth contention still count)."""
    import resource

    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_rss_mb": round(peak[0] / 2**20),
        "rc": proc.returncode,
        "stdout": out,
        "stderr": err[-1500:] if proc.returncode else "",
    }


def owners_to_remove(faces: Path) -> tuple[str, str]:
    """(the owner with most faces: in nearly every shard, the worst case for a takedown; an owner
    with 3 faces, as most owners are), counted over the first 200 shards."""
    import pyarrow.compute as pc

    from fdf.shards import read_shard

    counts: dict = {}
    for shard in list_shards(faces)[:200]:
        for item in pc.value_counts(read_shard(shard, ["owner_nsid"]).column("owner_nsid")).to_pylist():
            counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
    few = sorted(o for o, c in counts.items() if c == 3)
    return max(counts, key=counts.get), few[len(few) // 2] if few else min(counts, key=counts.get)


def commands(work: Path, faces: Path, owners: tuple[str, str]) -> dict[str, list[str]]:
    fdf = [sys.executable, "-m", "fdf"]
    return {
        "select": [*fdf, "select", str(faces), "--out", str(work / "selected"), "--json"],
        "audit": [*fdf, "audit", str(faces), "--report", str(work / "audit.md")],
        "credits": [*fdf, "credits", str(faces), "--out", str(work / "docs")],
        "card": [*fdf, "card", str(faces), "--out", str(work / "docs" / "DATASET.md")],
        "report": [*fdf, "report", str(faces), "--out", str(work / "report")],
        "export": [*fdf, "export", str(work / "selected"), "--format", "fdf", "--out", str(work / "fdf")],
        "import": [*fdf, "import", str(work / "fdf"), "--out", str(work / "imported")],
        "remove": [*fdf, "remove", str(faces), "--owner", owners[0], "--json"],
        "remove-few": [*fdf, "remove", str(faces), "--owner", owners[1], "--json"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--work", type=Path, help="working folder (default /tmp/fdf-scale-N)")
    parser.add_argument("--resolutions", default="128")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="comma-separated steps (default all): " + ",".join(STEPS))
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--reuse", action="store_true", help="reuse the synthetic dataset in --work if there")
    parser.add_argument("--table", action="store_true", help="print the rows recorded so far as Markdown")
    args = parser.parse_args()
    if args.table:
        print_table()
        return 0
    work = args.work or Path(f"/tmp/fdf-scale-{args.faces}")
    faces = work / "faces"
    if not (args.reuse and (faces / "_dataset.json").exists()):
        shutil.rmtree(work, ignore_errors=True)
        t = time.perf_counter()
        write_dataset(work, args.faces, args.seed, [int(r) for r in args.resolutions.split(",")])
        print(
            f"wrote {args.faces} faces in {time.perf_counter() - t:.0f} s "
            f"({sum(p.stat().st_size for p in list_shards(faces)) / 2**20:.0f} MB)",
            flush=True,
        )
    steps = args.only.split(",") if args.only else list(STEPS)
    cmds = commands(work, faces, owners_to_remove(faces))
    for step in steps:
        for leftover in ("selected", "report", "fdf", "imported", "docs") if step == "select" else ():
            shutil.rmtree(work / leftover, ignore_errors=True)
        result = run_measured(cmds[step])
        row = {
            "faces": args.faces,
            "step": step,
            "seconds": result["seconds"],
            "cpu_seconds": result["cpu_seconds"],
            "peak_rss_mb": result["peak_rss_mb"],
            "rc": result["rc"],
            "layout": "data/",
            "cores": os.cpu_count(),
            "load_avg": round(os.getloadavg()[0], 1),
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
        if step == "select" and result["rc"] == 0:
            row["kept"] = json.loads(result["stdout"]).get("faces_kept")
        print(json.dumps(row), flush=True)
        if result["rc"]:
            print(result["stderr"], file=sys.stderr)
        with ROWS.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def print_table() -> None:
    rows = [json.loads(line) for line in ROWS.read_text().splitlines() if line.strip()]
    print("| faces | step | layout | wall (s) | CPU (s) | peak RSS (MB) | exit | load avg | date |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['faces']:,} | {r['step']} | {r.get('layout', 'top')} | {r['seconds']} | {r.get('cpu_seconds', '')} | "
            f"{r['peak_rss_mb']} | {r['rc']} | {r['load_avg']} | {r['date']} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
