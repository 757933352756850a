"""Anonymizer beside deface: faces anonymized, identity leaks and speed, photos and a video clip.

    python benchmarks/bench_anonymize.py /work/shared/data/afw-dev /work/shared/data/videos/CLIP \
        [--checkpoint GEN.safetensors] [--random-generator] [--methods blur,pixelate,deface] \
        [--json-out results.json]
    python benchmarks/bench_anonymize.py ../shared/data/dlib-faces/testing.xml ../shared/data/dlib-faces/training.xml \
        --methods blur,pixelate,mask,deface

Photo set (hand-annotated boxes), the first positional argument: a folder with AFW's
``annotations.json`` (``faces[].bbox_xyxy``), or dlib imglab XML (``<image file=...><box top= left=
width= height= [ignore='1']>``): one or more ``.xml`` files (every positional ``.xml`` joins the
photo set) or a folder holding them. Boxes marked ignore='1' are skipped (counted in the output);
an image listed in several XML files has its boxes merged, a face once (boxes at IoU >= 0.5 are
one face, so the ``*_with_face_landmarks.xml`` copies in a folder add nothing). Other positionals are video clips.

Photos: each photo is decoded once; each method runs on the same
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
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from anonymizer.inference import (
    AnonymizeConfig,
    ImageAnonymizer,
    LoadedImage,
    read_image,
)
from anonymizer.privacy import PrivacyConfig, PrivacyEvaluator
from anonymizer.video import VideoConfig, anonymize_video
from fdf.boxes import iou

METHODS = ("blur", "pixelate", "mask", "gan", "gan-unchecked", "deface")  # rows: "ours <mode>", "deface blur"
SAME_FACE_IOU = 0.5  # boxes of one image from several XML files: this IoU or more is one face
SIZE_BUCKETS = ((0, 20, "< 20 px"), (20, 40, "20-39 px"), (40, float("inf"), ">= 40 px"))  # annotated box width


def read_imglab(xml_path: Path) -> list[dict]:
    """dlib imglab XML -> ``[{"file": Path, "boxes": [[x0, y0, x1, y1], ...], "ignored": [...]}]``.

    A ``<box top left width height>`` becomes ``[left, top, left + width, top + height]`` in
    pixels (exclusive right/bottom, as AFW's ``bbox_xyxy``); boxes with ``ignore='1'`` go to
    ``ignored`` instead. Image paths are relative to the XML file's folder.
    """
    root = ET.parse(xml_path).getroot()
    entries = []
    for image in root.iter("image"):
        entry = {"file": xml_path.parent / image.get("file"), "boxes": [], "ignored": []}
        for box in image.findall("box"):
            top, left = float(box.get("top")), float(box.get("left"))
            width, height = float(box.get("width")), float(box.get("height"))
            skip = box.get("ignore", "0").strip() not in ("", "0")
            entry["ignored" if skip else "boxes"].append([left, top, left + width, top + height])
        entries.append(entry)
    return entries


def load_photo_set(paths: list[Path]) -> tuple[list[dict], str]:
    """Photos with annotated boxes (xyxy pixels) from an AFW folder or imglab XML files/folder.

    Returns ``(entries, description)``; each entry ``{"file": Path, "boxes": [...], "ignored": n}``
    (``ignored``: boxes marked ignore='1', left out). An image in several XML files gets the union
    of their boxes, boxes at IoU >= SAME_FACE_IOU counted once (the first file's box kept).
    """
    if len(paths) == 1 and paths[0].is_dir() and (paths[0] / "annotations.json").exists():
        folder = paths[0]
        entries = [
            {"file": folder / e["file"], "boxes": [list(f["bbox_xyxy"]) for f in e["faces"]], "ignored": 0}
            for e in json.loads((folder / "annotations.json").read_text())
        ]
        return entries, f"{folder.name}/annotations.json"
    xml_files = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.xml"))
            if not found:
                raise SystemExit(f"{path}: neither annotations.json nor imglab .xml files")
            xml_files += found
        elif path.suffix.lower() == ".xml":
            xml_files.append(path)
        else:
            raise SystemExit(
                f"{path}: not a photo set (folder with annotations.json, imglab .xml, or a folder of them)"
            )
    merged: dict[Path, dict] = {}
    for xml_path in xml_files:
        for entry in read_imglab(xml_path):
            m = merged.setdefault(entry["file"].resolve(), {"file": entry["file"], "boxes": [], "ignored": []})
            for kind in ("boxes", "ignored"):
                # the same face in a second file (e.g. *_with_face_landmarks.xml, a box moved by a few px) counts once
                m[kind] += [b for b in entry[kind] if not any(iou(b, seen) >= SAME_FACE_IOU for seen in m[kind])]
    entries = [
        {
            "file": m["file"],
            "ignored": len(m["ignored"]),
            "boxes": [b for b in m["boxes"] if not any(iou(b, ig) >= SAME_FACE_IOU for ig in m["ignored"])],
        }
        for m in merged.values()
    ]
    return entries, " + ".join(f"{p.parent.name}/{p.name}" for p in xml_files)


def clip_box(box, width: int, height: int) -> list[float] | None:
    """An annotated box cut to the image (imglab boxes may reach outside it); None if nothing is left."""
    x0, y0, x1, y1 = max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3])
    return [x0, y0, x1, y1] if x1 - x0 >= 1 and y1 - y0 >= 1 else None


def changed_fraction(original: np.ndarray, out: np.ndarray, box, change_level: int) -> float:
    """Share of the box's pixels changed by more than ``change_level`` (the rule of anonymizer.privacy)."""
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    a, b = original[y0:y1, x0:x1].astype(np.int16), out[y0:y1, x0:x1].astype(np.int16)
    return float((np.abs(a - b).max(axis=2) > change_level).mean()) if a.size else 0.0


def size_bucket(box) -> str:
    width = box[2] - box[0]
    return next(name for lo, hi, name in SIZE_BUCKETS if lo <= width < hi)


def deface_image(centerface, rgb: np.ndarray) -> np.ndarray:
    """deface's own image path (v1.5 defaults: threshold 0.2, mask scale 1.3, blurred ellipse)."""
    from deface.deface import anonymize_frame

    frame = rgb.copy()
    dets, _ = centerface(frame, threshold=0.2)
    anonymize_frame(
        dets, frame, mask_scale=1.3, replacewith="blur", ellipse=True, draw_scores=False, replaceimg=None, mosaicsize=20
    )
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
    save_file(
        {EMA_PREFIX + k: v.contiguous() for k, v in gen.state_dict().items()},
        str(path),
        metadata={"network": json.dumps(config.to_dict())},
    )
    return path


def load_scaled(path: Path, scale: float) -> tuple[LoadedImage, float]:
    """The photo, shrunk by ``scale`` (area-averaged, as a smaller camera image would be) when under 1.

    Returns the image and the factor actually applied to box coordinates (1.0 when not scaled).
    """
    image = read_image(path)
    if scale == 1.0:
        return image, 1.0
    h, w = image.rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    rgb = np.asarray(
        Image.fromarray(image.rgb).resize(size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC)
    )
    return LoadedImage(pixels=rgb, rgb=rgb, source_format=image.source_format, icc_profile=image.icc_profile), size[
        0
    ] / w


def bench_photos(
    entries: list[dict], methods: dict, evaluator: PrivacyEvaluator, scale: float = 1.0
) -> tuple[dict, list]:
    """Every method on every photo; per-method totals, per-size-bucket counts and per-face changed fractions.

    ``scale`` < 1 shrinks every photo and its boxes first (small faces from a set of larger ones).
    """
    stats = {
        name: {
            "seconds": 0.0,
            "faces": 0,
            "anonymized": 0,
            "described": 0,
            "leaks": 0,
            "found_in_output": 0,
            "by_size": {b: {"faces": 0, "anonymized": 0} for *_, b in SIZE_BUCKETS},
        }
        for name in methods
    }
    per_face = []
    level = evaluator.config.change_level
    for entry in entries:
        image, f = load_scaled(entry["file"], scale)
        h, w = image.rgb.shape[:2]
        boxes = [b for b in (clip_box([v * f for v in b], w, h) for b in entry["boxes"]) if b is not None]
        faces = [
            {"file": entry["file"].name, "box": [round(v, 1) for v in b], "width": round(b[2] - b[0], 1), "changed": {}}
            for b in boxes
        ]
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
            s["found_in_output"] += verdict.refound
            for face, box in zip(faces, boxes):
                frac = changed_fraction(image.rgb, out, box, level)
                face["changed"][name] = round(frac, 3)
                bucket = s["by_size"][size_bucket(box)]
                bucket["faces"] += 1
                bucket["anonymized"] += frac >= 0.5
        per_face += faces
    for s in stats.values():
        s["photos"] = len(entries)
        s["ignored_boxes"] = sum(e["ignored"] for e in entries)
        s["images_per_s"] = round(s["photos"] / s["seconds"], 2)
        s["fraction_anonymized"] = round(s["anonymized"] / s["faces"], 4) if s["faces"] else None
    return stats, per_face


def bench_video(clip: Path, ours: dict, evaluator: PrivacyEvaluator, workdir: Path, with_deface: bool = True) -> dict:
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
    if with_deface:
        dst = workdir / f"deface{clip.suffix}"
        t0 = time.perf_counter()
        video_detect(
            str(clip),
            str(dst),
            CenterFace(in_shape=None),
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
        out["deface blur"] = {"seconds": time.perf_counter() - t0, "path": dst}
    for r in out.values():
        verdict = evaluator.compare_videos(clip, r.pop("path"), clip.name)
        r.update(
            frames=frames,
            frames_per_s=round(frames / r["seconds"], 2),
            sampled_frames=verdict.frames_sampled,
            face_appearances=verdict.described,
            found_in_output=verdict.refound,
            leaks=verdict.leaks,
            frames_with_leak=verdict.frames_with_leak,
        )
    return out


def markdown(results: dict) -> str:
    """Tables for benchmarks/results/anonymize.md."""
    lines = []
    if results.get("photo_set"):
        ignored = next(iter(results["photos"].values()), {}).get("ignored_boxes", 0)
        scale = f", photos and boxes scaled by {results['scale']}" if results.get("scale", 1.0) != 1.0 else ""
        lines += [f"Photo set: {results['photo_set']} ({ignored} boxes marked ignore='1' skipped{scale})", ""]
    lines += [
        "| method | photos | annotated faces | anonymized | fraction | described by dlib | still found in output | leaks (< 0.6) | images/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in results["photos"].items():
        frac = "-" if s["fraction_anonymized"] is None else f"{s['fraction_anonymized']:.3f}"
        lines.append(
            f"| {name} | {s['photos']} | {s['faces']} | {s['anonymized']} | {frac} | "
            f"{s['described']} | {s.get('found_in_output', 0)} | {s['leaks']} | {s['images_per_s']:.2f} |"
        )
    if results["photos"] and all("by_size" in s for s in results["photos"].values()):
        buckets = [b for *_, b in SIZE_BUCKETS]
        first = next(iter(results["photos"].values()))["by_size"]
        lines += [
            "",
            "Anonymized by annotated box width (faces in the bucket in brackets):",
            "",
            "| method | " + " | ".join(f"{b} ({first[b]['faces']})" for b in buckets) + " |",
            "|---|" + "---|" * len(buckets),
        ]
        for name, s in results["photos"].items():
            lines.append(f"| {name} | " + " | ".join(str(s["by_size"][b]["anonymized"]) for b in buckets) + " |")
    for clip, rows in results["videos"].items():
        lines += [
            "",
            f"Clip `{clip}`:",
            "",
            "| method | frames | frames/s | sampled frames | face appearances | still found | leaks (< 0.6) | frames with a leak |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in rows.items():
            lines.append(
                f"| {name} | {r['frames']} | {r['frames_per_s']:.2f} | {r['sampled_frames']} | {r['face_appearances']} | "
                f"{r.get('found_in_output', 0)} | {r['leaks']} | {r['frames_with_leak']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "photos", type=Path, nargs="?", help="AFW folder (annotations.json), imglab .xml, or a folder of .xml files"
    )
    ap.add_argument(
        "more", type=Path, nargs="*", help="further imglab .xml files (joined to the photo set), then video clips"
    )
    ap.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated subset of {','.join(METHODS)} (default: blur,pixelate,deface, "
        "plus gan with --checkpoint/--random-generator; gan without either: bundled weights)",
    )
    ap.add_argument("--checkpoint", default=None, help="generator weights for gan mode")
    ap.add_argument("--random-generator", action="store_true", help="time gan mode with an untrained generator")
    ap.add_argument(
        "--verify-threshold",
        type=float,
        default=None,
        help="gan mode's identity check threshold (default: the anonymizer's)",
    )
    ap.add_argument("--limit", type=int, default=None, help="first N photos only")
    ap.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="shrink every photo and its boxes by this factor first (e.g. 0.5: smaller faces)",
    )
    ap.add_argument("--frame-step", type=int, default=5)
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--from-json", type=Path, default=None, help="only print the tables of an earlier run")
    args = ap.parse_args()
    if args.from_json:
        print(markdown(json.loads(args.from_json.read_text())))
        return
    if args.photos is None:
        ap.error("the photo set (first positional argument) is required")
    if args.methods is None:
        chosen = ["blur", "pixelate"] + (["gan"] if args.checkpoint or args.random_generator else []) + ["deface"]
    else:
        chosen = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in chosen if m not in METHODS]
        if unknown or not chosen:
            ap.error(f"--methods: unknown {', '.join(unknown) or '(empty)'}; choose from {','.join(METHODS)}")
    photo_paths = [args.photos] + [p for p in args.more if p.suffix.lower() == ".xml"]
    clips = [p for p in args.more if p.suffix.lower() != ".xml"]
    entries, photo_set = load_photo_set(photo_paths)
    entries = entries[: args.limit]
    ignored = sum(e["ignored"] for e in entries)
    print(
        f"photo set {photo_set}: {len(entries)} photos, {sum(len(e['boxes']) for e in entries)} annotated boxes, "
        f"{ignored} boxes marked ignore='1' skipped; methods {','.join(chosen)}",
        flush=True,
    )

    from deface.centerface import CenterFace

    evaluator = PrivacyEvaluator(PrivacyConfig(frame_step=args.frame_step))
    ours = {f"ours {m}": ImageAnonymizer(AnonymizeConfig(mode=m)) for m in chosen if m in ("blur", "pixelate", "mask")}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None and args.random_generator:
            checkpoint = str(random_generator_checkpoint(Path(tmp)))
        if "gan" in chosen:
            check = {} if args.verify_threshold is None else {"verify_threshold": args.verify_threshold}
            ours["ours gan"] = ImageAnonymizer(AnonymizeConfig(mode="gan", checkpoint=checkpoint, **check))
        if "gan-unchecked" in chosen:  # the generator alone, without the identity check
            ours["ours gan-unchecked"] = ImageAnonymizer(
                AnonymizeConfig(mode="gan", checkpoint=checkpoint, verify_identity=False)
            )
        methods = {name: (lambda image, a=a: a.anonymize_loaded(image).pixels) for name, a in ours.items()}
        if "deface" in chosen:
            centerface = CenterFace(in_shape=None)
            methods["deface blur"] = lambda image: deface_image(centerface, image.rgb)
        # Warm-up: load every model before timing.
        warm = load_scaled(entries[0]["file"], args.scale)[0]
        for run in methods.values():
            run(warm)
        photos, per_face = bench_photos(entries, methods, evaluator, args.scale)
        results = {
            "photo_set": photo_set,
            "scale": args.scale,
            "methods": chosen,
            "photos": photos,
            "per_face": per_face,
            "videos": {},
            "machine": f"{platform.machine()} {platform.processor()}".strip(),
            "checkpoint": (
                "random (untrained)" if args.random_generator and not args.checkpoint else checkpoint or "bundled"
            )
            if {"gan", "gan-unchecked"} & set(chosen)
            else None,
        }
        for clip in clips:
            video_ours = {k: v for k, v in ours.items() if k not in ("ours pixelate", "ours gan-unchecked")}
            results["videos"][clip.name] = bench_video(clip, video_ours, evaluator, Path(tmp), "deface" in chosen)
    print(json.dumps({k: v for k, v in results.items() if k != "per_face"}, indent=1, default=str))
    print(markdown(results))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
