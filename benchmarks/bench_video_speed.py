"""Video speed beside deface, in one run: frames/s of whole files (decode, detect, replace,
encode), ours in each mode against deface's blur on the same clip and machine, interleaved.

    python benchmarks/bench_video_speed.py ../shared/data/videos/book.mkv [--frames 700] [--rounds 2] \
        [--methods deface,blur,gan,gan-every-frame,gan-unchecked] [--privacy]

The clip is repeated (stream copy, ffmpeg's concat demuxer) to at least ``--frames`` frames, so
start-up costs little. Each round runs every method once, in the order given, so a change of
load on the shared machine hits them alike; the ratio to deface is taken within each round.
Methods: ``deface`` (deface 1.5's ``video_detect``: CenterFace at 0.2, blurred ellipse, x264),
``blur`` (``fdf anonymize --mode blur``), ``gan`` (the default: generated faces with the identity
check on each track's key frames and on the encoded file), ``gan-every-frame`` (the check on
every face-frame, as before ``VideoConfig.check_every``), ``gan-unchecked`` (``--no-verify``).
``--privacy`` also judges each output of the last round with the privacy evaluation (dlib and
SFace, every 10th frame), and measures its flicker (anonymizer.video.flicker: change between
consecutive frames inside the faces CenterFace finds in the original, against the original's).
Rows go to benchmarks/results/video_speed_rows.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parents[1]
ROWS = ROOT / "benchmarks" / "results" / "video_speed_rows.jsonl"
METHODS = ("deface", "blur", "gan", "gan-every-frame", "gan-unchecked")


def repeated_clip(clip: Path, frames: int, work: Path) -> tuple[Path, int]:
    """``clip`` concatenated with itself (stream copy) to at least ``frames`` frames."""
    per_copy = imageio_ffmpeg.count_frames_and_secs(str(clip))[0]
    copies = -(-frames // per_copy)
    listing = work / "concat.txt"
    listing.write_text("".join(f"file '{clip.resolve()}'\n" for _ in range(copies)))
    out = work / f"repeated{clip.suffix}"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
            str(out),
        ],
        check=True,
    )
    return out, imageio_ffmpeg.count_frames_and_secs(str(out))[0]


def decoded(path: Path):
    """RGB frames of ``path``."""
    import numpy as np

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    w, h = reader.__next__()["size"]
    for raw in reader:
        yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def runners(methods: list[str]) -> dict:
    """name -> function(src, dst) returning a stats dict, models loaded."""
    from anonymizer.inference import AnonymizeConfig, ImageAnonymizer
    from anonymizer.video import VideoConfig, anonymize_video

    out = {}
    for name in methods:
        if name == "deface":
            from deface.centerface import CenterFace
            from deface.deface import video_detect

            centerface = CenterFace(in_shape=None)

            def run(src, dst, centerface=centerface):
                video_detect(
                    str(src),
                    str(dst),
                    centerface,
                    0.2,
                    False,
                    False,
                    False,
                    "blur",
                    1.3,
                    True,
                    False,
                    {"codec": "libx264"},
                )
                return {}
        else:
            mode = "blur" if name == "blur" else "gan"
            anon = ImageAnonymizer(AnonymizeConfig(mode=mode, verify_identity=name != "gan-unchecked"))
            config = VideoConfig(check_every=1) if name == "gan-every-frame" else VideoConfig()

            def run(src, dst, anon=anon, config=config):
                r = anonymize_video(src, dst, anon, config)
                return {"repaired": r.repaired, "regenerated": r.regenerated, "blurred": r.blurred}

        out[name] = run
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--frames", type=int, default=700)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--privacy", action="store_true")
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if unknown := [m for m in methods if m not in METHODS]:
        ap.error(f"unknown methods {unknown}; choose from {','.join(METHODS)}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip, frames = repeated_clip(args.clip, args.frames, work)
        run = runners(methods)
        seconds: dict[str, list[float]] = {m: [] for m in methods}
        extra: dict[str, dict] = {}
        for r in range(args.rounds):
            for m in methods:
                dst = work / f"{m}-{r}.mp4"
                t0 = time.perf_counter()
                extra[m] = run[m](clip, dst)
                seconds[m].append(time.perf_counter() - t0)
                print(f"round {r + 1} {m}: {frames / seconds[m][-1]:.2f} frames/s", flush=True)
        row = {
            "clip": args.clip.name,
            "frames": frames,
            "size": None,
            "rounds": args.rounds,
            "cores": os.cpu_count(),
            "load_avg": round(os.getloadavg()[0], 1),
            "machine": f"{platform.machine()} {platform.processor()}".strip(),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "methods": {},
        }
        for m in methods:
            fps = [frames / s for s in seconds[m]]
            entry = {
                "frames_per_s": round(statistics.median(fps), 2),
                "per_round": [round(f, 2) for f in fps],
                **extra[m],
            }
            if "deface" in methods:
                entry["x_deface"] = round(
                    statistics.median([seconds["deface"][k] / seconds[m][k] for k in range(args.rounds)]), 2
                )
            row["methods"][m] = entry
        if args.privacy:
            from anonymizer.inference import DetectConfig, find_faces
            from anonymizer.privacy import PrivacyConfig, PrivacyEvaluator
            from anonymizer.video.flicker import measure_flicker

            evaluator = PrivacyEvaluator(PrivacyConfig(frame_step=10))
            boxes = {
                k: [f.bbox for f in find_faces(frame, DetectConfig(threshold=0.5))]
                for k, frame in enumerate(decoded(clip))
            }
            for m in methods:
                flicker = measure_flicker(clip, work / f"{m}-{args.rounds - 1}.mp4", boxes)
                row["methods"][m]["flicker"] = {
                    "ratio": round(flicker.ratio, 3) if flicker.ratio else None,
                    "output_change": round(flicker.output_change, 2),
                    "original_change": round(flicker.original_change, 2),
                    "frame_pairs": flicker.frame_pairs,
                }
                verdict = evaluator.compare_videos(clip, work / f"{m}-{args.rounds - 1}.mp4", m)
                row["methods"][m]["privacy"] = {
                    "sampled_frames": verdict.frames_sampled,
                    "face_appearances": verdict.described,
                    "dlib_leaks": verdict.leaks,
                    "judges": dict(getattr(verdict, "judges", {}) or {}),
                }
    print(json.dumps(row, indent=1))
    with ROWS.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
