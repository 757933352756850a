"""Anonymizer beside deface: faces anonymized, identity leaks and speed, photos and a video clip.

    python benchmarks/bench_anonymize.py /work/shared/data/afw-dev /work/shared/data/videos/CLIP \
        [--checkpoint GEN.safetensors] [--random-generator] --out benchmarks/results/anonymize.md

Photos (AFW, hand-annotated boxes): each photo is decoded once; each method runs on the same
array; time is detection + replacement (no file I/O), models loaded before timing. A face is
*anonymized* when at least half of the pixels of its annotated box changed by more than 2 levels;
it *leaks* when dlib's descriptor of the output (landmarks re-fitted at the annotated box, or a
face detected there) lies within 0.6 of the original's (see anonymizer.privacy).

Video: whole-file wall time (decode + detect + replace + encode), frames/s; leaks checked on
every ``--frame-step``-th frame, faces found in the original frame by CenterFace at 0.5.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image
from anonymizer.privacy import PrivacyConfig, PrivacyEvaluator
from anonymizer.video import VideoConfig, anonymize_video


def deface_image(centerface, rgb: np.ndarray) -> np.ndarray:
    """deface's own image path (v1.5 defaults: threshold 0.2, mask scale 1.3, blurred ellipse)."""
    from deface.deface import anonymize_frame

    frame = rgb.copy()
    dets, _ = centerface(frame, threshold=0.2)
    anonymize_frame(dets, frame, mask_scale=1.3, replacewith="blur", ellipse=True, draw_scores=False,
                    replaceimg=None, mosaicsize=20)
    return frame


def random_generator_checkpoint(folder: Path) -> Path:
    """An untrained generator (default network size): for speed only, its faces are noise."""
    import torch
    from safetensors.torch import save_file

    from anonymizer.generator.networks import Generator, NetworkConfig
    from anonymizer.generator.runner import EMA_PREFIX

    torch.manual_seed(0)
    config = NetworkConfig()
    gen = Generator(config)
    path = folder / "random-generator.safetensors"
    save_file({EMA_PREFIX + k: v.contiguous() for k, v in gen.state_dict().items()}, str(path),
              metadata={"network": json.dumps(config.to_dict())})
    return path


def bench_photos(afw: Path, methods: dict, evaluator: PrivacyEvaluator, limit: int | None) -> dict:
    entries = json.loads((afw / "annotations.json").read_text())[:limit]
    stats = {name: {"seconds": 0.0, "faces": 0, "anonymized": 0, "described": 0, "leaks": 0} for name in methods}
    for entry in entries:
        image = read_image(afw / entry["file"])
        boxes = [f["bbox_xyxy"] for f in entry["faces"]]
        for name, run in methods.items():
            t0 = time.perf_counter()
            out = run(image)
            stats[name]["seconds"] += time.perf_counter() - t0
            verdict = evaluator.compare_arrays(image.rgb, out, known_boxes=boxes)
            s = stats[name]
            s["faces"] += verdict.faces
            s["anonymized"] += verdict.anonymized
            s["described"] += verdict.described
            s["leaks"] += verdict.leaks
            s["found_in_output"] = s.get("found_in_output", 0) + verdict.refound
    for s in stats.values():
        s["photos"] = len(entries)
        s["images_per_s"] = round(s["photos"] / s["seconds"], 2)
        s["fraction_anonymized"] = round(s["anonymized"] / s["faces"], 4)
    return stats


def bench_video(clip: Path, ours: dict, evaluator: PrivacyEvaluator, workdir: Path) -> dict:
    import imageio_ffmpeg
    from deface.centerface import CenterFace
    from deface.deface import video_detect

    frames = imageio_ffmpeg.count_frames_and_secs(str(clip))[0]
    out = {}
    for name, anon in ours.items():
        dst = workdir / f"{name}{clip.suffix if clip.suffix in ('.mkv', '.mov') else '.mp4'}"
        t0 = time.perf_counter()
        anonymize_video(clip, dst, anon, VideoConfig())
        out[name] = {"seconds": time.perf_counter() - t0, "path": dst}
    dst = workdir / f"deface{clip.suffix}"
    t0 = time.perf_counter()
    video_detect(str(clip), str(dst), CenterFace(in_shape=None), 0.2, False, False, False, "blur", 1.3, True,
                 False, {"codec": "libx264"})
    out["deface blur"] = {"seconds": time.perf_counter() - t0, "path": dst}
    for name, r in out.items():
        verdict = evaluator.compare_videos(clip, r.pop("path"), clip.name)
        r.update(frames=frames, frames_per_s=round(frames / r["seconds"], 2), sampled_frames=verdict.frames_sampled,
                 face_appearances=verdict.described, found_in_output=verdict.refound, leaks=verdict.leaks, frames_with_leak=verdict.frames_with_leak)
    return out


def markdown(results: dict) -> str:
    """Tables for benchmarks/results/anonymize.md."""
    lines = ["| method | photos | annotated faces | anonymized | fraction | described by dlib | still found in output | leaks (< 0.6) | images/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, s in results["photos"].items():
        lines.append(f"| {name} | {s['photos']} | {s['faces']} | {s['anonymized']} | {s['fraction_anonymized']:.3f} | "
                     f"{s['described']} | {s.get('found_in_output', 0)} | {s['leaks']} | {s['images_per_s']:.2f} |")
    for clip, rows in results["videos"].items():
        lines += ["", f"Clip `{clip}`:", "",
                  "| method | frames | frames/s | sampled frames | face appearances | still found | leaks (< 0.6) | frames with a leak |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['frames']} | {r['frames_per_s']:.2f} | {r['sampled_frames']} | {r['face_appearances']} | "
                         f"{r.get('found_in_output', 0)} | {r['leaks']} | {r['frames_with_leak']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("afw", type=Path)
    ap.add_argument("clips", type=Path, nargs="*")
    ap.add_argument("--checkpoint", default=None, help="generator weights for gan mode")
    ap.add_argument("--random-generator", action="store_true", help="time gan mode with an untrained generator")
    ap.add_argument("--limit", type=int, default=None, help="first N photos only")
    ap.add_argument("--frame-step", type=int, default=5)
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--from-json", type=Path, default=None, help="only print the tables of an earlier run")
    args = ap.parse_args()
    if args.from_json:
        print(markdown(json.loads(args.from_json.read_text())))
        return

    from deface.centerface import CenterFace

    evaluator = PrivacyEvaluator(PrivacyConfig(frame_step=args.frame_step))
    ours = {"ours blur": ImageAnonymizer(AnonymizeConfig(mode="blur")),
            "ours pixelate": ImageAnonymizer(AnonymizeConfig(mode="pixelate"))}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None and args.random_generator:
            checkpoint = str(random_generator_checkpoint(Path(tmp)))
        if checkpoint is not None:
            ours["ours gan"] = ImageAnonymizer(AnonymizeConfig(mode="gan", checkpoint=checkpoint))
        centerface = CenterFace(in_shape=None)
        methods = {name: (lambda image, a=a: a.anonymize_loaded(image).pixels) for name, a in ours.items()}
        methods["deface blur"] = lambda image: deface_image(centerface, image.rgb)
        # Warm-up: load every model before timing.
        warm = read_image(sorted((args.afw / "images").iterdir())[0])
        for run in methods.values():
            run(warm)
        results = {"photos": bench_photos(args.afw, methods, evaluator, args.limit), "videos": {},
                   "machine": f"{platform.machine()} {platform.processor()}".strip(),
                   "checkpoint": "random (untrained)" if args.random_generator and not args.checkpoint else checkpoint}
        for clip in args.clips:
            video_ours = {k: v for k, v in ours.items() if k != "ours pixelate"}
            results["videos"][clip.name] = bench_video(clip, video_ours, evaluator, Path(tmp))
    print(json.dumps(results, indent=1, default=str))
    print(markdown(results))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
