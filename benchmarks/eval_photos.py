"""Issue 14's acceptance on whole photos: every afw-dev and dlib-faces photo, plus one frame of
each signer clip, anonymized per mode and judged by two detectors, two recognisers and realism.

    python benchmarks/eval_photos.py [--modes gan,gan-unchecked,blur] [--checkpoint GEN] \
        [--data ../shared/data] [--gallery manifests/people_gallery.json] [--limit N] \
        [--json-out benchmarks/results/photos/NAME.json]

Photo sets: ``afw-dev`` (annotations.json boxes), ``dlib-faces`` (testing.xml + training.xml boxes;
its photos without an annotation are judged on CenterFace's faces at 0.5) and ``signers`` (frame
``--frame`` of each clip listed in the gallery JSON; each judged also against the person's other
clips). Modes: ``gan`` (the default config, identity check on), ``gan-unchecked`` (check off),
``blur``, ``pixelate``, ``mask``. Reported per mode (see anonymizer.photo_evaluation): CenterFace
and YuNet retention, re-identification by dlib and SFace (own original; gallery), median detail
ratio at 128 px, SFace Fréchet distance and its ratio to blur's, median border excess (colour,
gradient), and issue 14's acceptance for the gan modes.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_anonymize import load_photo_set  # noqa: E402

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image  # noqa: E402
from anonymizer.inference.outcome import Blurred  # noqa: E402
from anonymizer.judges.gallery import read_people  # noqa: E402
from anonymizer.photo_evaluation import Photo, acceptance, compare_modes, evaluate_photos  # noqa: E402
from anonymizer.privacy import PrivacyConfig, PrivacyEvaluator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODES = {
    "gan": {"mode": "gan"},
    "gan-unchecked": {"mode": "gan", "verify_identity": False},
    "gan-nobox": {"mode": "gan", "mask_box": False},  # the blend mask without the face box's corners
    "blur": {"mode": "blur"},
    "pixelate": {"mode": "pixelate"},
    "mask": {"mode": "mask"},
    # Every face drawn as gan mode's blur fallback draws it, under the outline or over the box: the
    # fallback alone, on all the faces rather than the few that reach it.
    "fallback-outline": {"mode": "gan", "fallback_mask": "outline"},
    "fallback-box": {"mode": "gan", "fallback_mask": "box"},
}
FALLBACK_MODES = ("fallback-outline", "fallback-box")


class AllFallback:
    """Every detected face drawn as gan mode's blur fallback (:class:`Blurred` through
    ``render(fixed=...)``: no generation, no identity check)."""

    def __init__(self, config: AnonymizeConfig):
        self.anonymizer = ImageAnonymizer(config)

    def anonymize_rgb(self, rgb):
        faces = self.anonymizer.detect(rgb)
        return self.anonymizer.render(rgb, rgb, faces, [0] * len(faces), fixed=[Blurred()] * len(faces))


log = logging.getLogger("eval_photos")


def photo_sets(data: Path, gallery: Path, frame: int) -> list[Photo]:
    """afw-dev, dlib-faces and one frame per gallery clip, in that order."""
    photos = []
    afw, _ = load_photo_set([data / "afw-dev"])
    photos += [
        Photo(f"afw-dev/{e['file'].name}", lambda p=e["file"]: read_image(p).rgb, e["boxes"], "afw-dev") for e in afw
    ]
    folder = data / "dlib-faces"
    annotated, _ = load_photo_set([folder / "testing.xml", folder / "training.xml"])
    seen = {e["file"].name for e in annotated}
    photos += [
        Photo(f"dlib-faces/{e['file'].name}", lambda p=e["file"]: read_image(p).rgb, e["boxes"], "dlib-faces")
        for e in sorted(annotated, key=lambda e: e["file"].name)
    ]
    photos += [
        Photo(f"dlib-faces/{p.name}", lambda p=p: read_image(p).rgb, None, "dlib-faces")
        for p in sorted(folder.glob("*.jpg"))
        if p.name not in seen
    ]
    people, root = read_people(gallery)
    for clip in sorted(f for files in people.values() for f in files):
        photos.append(Photo(f"{clip}#{frame}", lambda c=root / clip: clip_frame(c, frame), None, "signers"))
    return photos


def clip_frame(path: Path, index: int):
    """Frame ``index`` of a clip (RGB uint8)."""
    import imageio_ffmpeg
    import numpy as np

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
        w, h = meta["size"]
        for i, raw in enumerate(reader):
            if i == index:
                return np.frombuffer(raw, np.uint8).reshape(h, w, 3).copy()
    finally:
        reader.close()
    raise SystemExit(f"{path} has no frame {index}")


def git_state() -> dict:
    """The commit measured, and whether the anonymizer's code differed from it."""

    def run(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {
        "commit": run("rev-parse", "HEAD"),
        "uncommitted_anonymizer_changes": run("status", "--short", "anonymizer"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default="gan,gan-unchecked,blur", help=f"comma-separated, of {','.join(MODES)}")
    ap.add_argument("--checkpoint", default=None, help="generator weights for the gan modes (default: bundled)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--gallery", type=Path, default=ROOT / "manifests" / "people_gallery.json")
    ap.add_argument("--frame", type=int, default=40, help="which frame of each signer clip")
    ap.add_argument("--limit", type=int, default=None, help="first N photos of each set only")
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--truncation", type=float, default=None, help="gan modes' truncation (default: the config's)")
    ap.add_argument(
        "--seed",
        type=int,
        default=None,
        help="gan modes' base seed (default: the config's); another seed shows the noise",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        ap.error(f"--modes: choose from {','.join(MODES)}")
    photos = photo_sets(args.data, args.gallery, args.frame)
    if args.limit:
        photos = [p for p in photos if sum(q.set == p.set for q in photos[: photos.index(p)]) < args.limit]
    log.info(
        "%d photos: %s", len(photos), {s: sum(p.set == s for p in photos) for s in dict.fromkeys(p.set for p in photos)}
    )
    evaluator = PrivacyEvaluator(PrivacyConfig(gallery=str(args.gallery)))
    results = {}
    for mode in modes:
        gan = MODES[mode]["mode"] == "gan"
        extra = {"truncation": args.truncation} if gan and args.truncation is not None else {}
        if gan and args.seed is not None:
            extra["seed"] = args.seed
        config = AnonymizeConfig(checkpoint=args.checkpoint if gan else None, **MODES[mode], **extra)
        log.info("mode %s", mode)
        anonymizer = AllFallback(config) if mode in FALLBACK_MODES else ImageAnonymizer(config)
        results[mode] = evaluate_photos(photos, anonymizer, evaluator)
    report = compare_modes(results, reference="blur")
    for mode in modes:
        if MODES[mode]["mode"] == "gan" and mode not in FALLBACK_MODES:
            report[mode]["acceptance"] = acceptance(report[mode])
    out = {
        "modes": report,
        "checkpoint": args.checkpoint or "bundled",
        "truncation": args.truncation,
        "seed": args.seed,
        "frame": args.frame,
        "photos": len(photos),
        "git": git_state(),
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
        "faces": {mode: r.faces for mode, r in results.items()},
    }
    print(table(report))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(out, indent=1))


def table(report: dict) -> str:
    """A markdown table of the headline numbers."""

    def pct(v):
        return "-" if v is None else f"{v:.1%}"

    def num(v, f="{:.2f}"):
        return "-" if v is None else f.format(v)

    lines = [
        "| mode | faces | CenterFace kept | YuNet kept | dlib re-id own | SFace re-id own | dlib re-id gallery | "
        "SFace re-id gallery | detail @128 | FD-SFace (/ blur) | border colour / gradient | regenerated / blurred |",
        "|---|" + "---|" * 11,
    ]
    for mode, r in report.items():
        fd = "-" if "fd_sface" not in r else f"{r['fd_sface']:.3f} ({num(r.get('fd_sface_over_blur'))})"
        lines.append(
            f"| {mode} | {r['faces']} | {pct(r['centerface_retention'])} ({r['centerface_found']}) | "
            f"{pct(r['yunet_retention'])} ({r['yunet_found']}) | {pct(r['dlib_reid_rate'])} | {pct(r['sface_reid_rate'])} | "
            f"{pct(r['gallery_dlib_reid_rate'])} | {pct(r['gallery_sface_reid_rate'])} | {num(r['detail_ratio_median'])} | "
            f"{fd} | {num(r['border_colour_excess_median'], '{:.1f}')} / {num(r['border_gradient_excess_median'])} | "
            f"{r['regenerated']} / {r['blurred']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
