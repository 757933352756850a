"""gan mode's compositing settings measured on afw-dev: how visible the edge is, and what it costs.

    python benchmarks/sweep_compositing.py /work/shared/data/afw-dev \
        [--settings box,outline,...] [--checkpoint GEN] [--json-out rows.json] [--out benchmarks/results/compositing.md]

Every photo is detected once (the anonymizer's own detection, keypoints and landmarks); each
setting then renders the same faces with the bundled generator (or ``--checkpoint``), the
identity check off, so that (c) measures the compositing and not the check's repairs. Per setting:

* (a) **border score**: along the blend boundary of each face's drawn weights (the box feather, or
  the outline mask), the colour step between a thin ring just inside it (weight 1) and one just
  outside it (weight 0): per 16 angular sectors around the face, the CIE Lab distance between the
  rings' mean colours, averaged over the sectors; the same in the original at the same place is
  subtracted. 0: the edge is as invisible as the photo's own content there; higher: a visible step.
  Beside it, the **texture step**: the same with each ring's mean gradient magnitude of L* (Sobel)
  in place of its mean colour. A blurry square on sharp foliage has little colour step and a large
  texture step; the colour score alone rated the pasted box better than the outline.
* (b) **found**: of the annotated faces CenterFace finds in the original (threshold 0.5, as
  anonymizer.privacy), the share it still finds at the same place in the output;
* (c) **re-id**: of the annotated faces dlib describes in the original, the share whose output
  face at the same place is within 0.6 of the original's descriptor (anonymizer.privacy's rule:
  described from CenterFace's box, none counted when no face is found there).

Rows go to a markdown table; ``--previews DIR`` also writes each photo of ``--preview-photos``,
original beside output, per setting.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image
from anonymizer.privacy import PrivacyConfig, PrivacyEvaluator
from fdf.annotate.identity import embedding_distance
from fdf.atomic import atomic_write_text
from fdf.boxes import same_place

log = logging.getLogger("sweep_compositing")

#: Settings by name: overrides of AnonymizeConfig (identity check always off).
SETTINGS: dict[str, dict] = {
    "box": dict(face_mask="box", colour_match=False),
    "box+colour": dict(face_mask="box", colour_match=True),
    "outline": dict(face_mask="outline", colour_match=False),
    "outline+colour": dict(face_mask="outline", colour_match=True),
    "feather0.05": dict(face_mask="outline", mask_feather=0.05),
    "feather0.15": dict(face_mask="outline", mask_feather=0.15),
    "feather0.2": dict(face_mask="outline", mask_feather=0.2),
    "margin0": dict(face_mask="outline", mask_margin=0.0),
    "margin0.025": dict(face_mask="outline", mask_margin=0.025),
    "margin0.1": dict(face_mask="outline", mask_margin=0.1),
    "forehead0.15": dict(face_mask="outline", mask_forehead=0.15),
    "forehead0.5": dict(face_mask="outline", mask_forehead=0.5),
    "nobox": dict(face_mask="outline", mask_box=False),
    "hole0.25": dict(face_mask="outline", dilation=0.25),
    "hole0.55": dict(face_mask="outline", dilation=0.55),
}
SECTORS = 16
#: Ring width each side of the boundary: a few pixels, more on large faces (fraction of the face).
RING = 0.03
PREVIEW_PHOTOS = ("37096733", "1372188757", "4174638819", "2339510439", "3893740955")


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _rings(weights: np.ndarray, ring_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(inner, outer) boolean rings: weight-1 pixels within ``ring_px`` of the rest, and weight-0
    pixels within ``ring_px`` of any weight above 0."""
    solid = (weights >= 1.0).astype(np.uint8)
    touched = (weights > 0).astype(np.uint8)
    inner = (cv2.distanceTransform(solid, cv2.DIST_L2, 3) <= ring_px) & (solid > 0)
    outer = (cv2.distanceTransform(1 - touched, cv2.DIST_L2, 3) <= ring_px) & (touched == 0)
    return inner, outer


def _gradient(lab: np.ndarray) -> np.ndarray:
    """Gradient magnitude of L* (h x w x 1), the texture a ring holds."""
    gx = cv2.Sobel(lab[:, :, 0], cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lab[:, :, 0], cv2.CV_32F, 0, 1, ksize=3)
    return np.hypot(gx, gy)[:, :, None]


def _sector_step(values: np.ndarray, inner: np.ndarray, outer: np.ndarray, centre) -> float | None:
    """Mean over angular sectors of the distance between the rings' mean ``values`` (h x w x c)."""
    ys, xs = np.mgrid[0 : values.shape[0], 0 : values.shape[1]]
    sector = ((np.arctan2(ys - centre[1], xs - centre[0]) + np.pi) / (2 * np.pi) * SECTORS).astype(int) % SECTORS
    steps = []
    for s in range(SECTORS):
        a, b = inner & (sector == s), outer & (sector == s)
        if a.sum() >= 3 and b.sum() >= 3:
            steps.append(float(np.linalg.norm(values[a].mean(0) - values[b].mean(0))))
    return float(np.mean(steps)) if steps else None


def border_score(original: np.ndarray, output: np.ndarray, region, face_px: float) -> float | None:
    """Colour step across the blend boundary of ``region`` in ``output`` minus the same in
    ``original`` (RGB uint8, whole photos; module doc). None when no sector has both rings."""
    scores = border_scores(original, output, region, face_px)
    return None if scores is None else scores[0]


def border_scores(original: np.ndarray, output: np.ndarray, region, face_px: float) -> tuple[float, float] | None:
    """(colour step, texture step) across the blend boundary, each output minus original (module doc)."""
    from anonymizer.inference.regions import blend_weights

    ring = max(2.0, RING * face_px)
    pad = int(ring) + 2
    h, w = original.shape[:2]
    px0, py0, px1, py1 = region.paste
    x0, y0, x1, y1 = max(0, px0 - pad), max(0, py0 - pad), min(w, px1 + pad), min(h, py1 + pad)
    weights = np.zeros((y1 - y0, x1 - x0), np.float32)
    weights[py0 - y0 : py1 - y0, px0 - x0 : px1 - x0] = blend_weights(region)
    inner, outer = _rings(weights, ring)
    if not inner.any() or not outer.any():
        return None
    ys, xs = np.nonzero(weights >= 1.0)
    centre = (xs.mean(), ys.mean())
    lab_out, lab_orig = _lab(output[y0:y1, x0:x1]), _lab(original[y0:y1, x0:x1])
    a = _sector_step(lab_out, inner, outer, centre)
    b = _sector_step(lab_orig, inner, outer, centre)
    if a is None or b is None:
        return None
    ta = _sector_step(_gradient(lab_out), inner, outer, centre)
    tb = _sector_step(_gradient(lab_orig), inner, outer, centre)
    return a - b, ta - tb


@dataclass
class Photo:
    name: str
    rgb: np.ndarray
    pixels: np.ndarray
    faces: list  # the anonymizer's detections (with keypoints and landmarks)
    originals: list  # privacy evaluator's faces of the original at the annotated boxes
    found: list = field(default_factory=list)  # per original face: CenterFace found it in the original


def load_photos(data: Path, limit: int | None, evaluator: PrivacyEvaluator, anon: ImageAnonymizer) -> list[Photo]:
    rows = json.loads((data / "annotations.json").read_text())[:limit]
    photos = []
    for row in tqdm(rows, desc="originals", unit="photo", disable=None):
        image = read_image(data / row["file"])
        boxes = [f["bbox_xyxy"] for f in row["faces"]]
        originals = evaluator.original_faces(image.rgb, boxes)
        detected = evaluator.analyzer.analyze(image.rgb)
        found = [any(same_place(o.bbox, d.bbox) for d in detected) for o in originals]
        photos.append(Photo(Path(row["file"]).stem, image.rgb, image.pixels, anon.detect(image.rgb), originals, found))
    return photos


def measure(photo: Photo, output: np.ndarray, regions, evaluator: PrivacyEvaluator) -> dict:
    """Per-photo counts and border scores of one setting's output."""
    out_faces = evaluator.output_analyzer.analyze(output)
    found = retained = described = leaks = 0
    for face, was_found in zip(photo.originals, photo.found):
        here = [o for o in out_faces if same_place(face.bbox, o.bbox)]
        if was_found:
            found += 1
            retained += bool(here)
        if face.embedding is None:
            continue
        described += 1
        dists = [embedding_distance(face.embedding, o.embedding) for o in here if o.embedding is not None]
        leaks += bool(dists) and min(dists) < 0.6
    scores = []
    for face, region in zip(photo.faces, regions):
        if region is None or face.size < 16 or region.core[2] <= region.core[0]:  # no edge to see
            continue
        score = border_scores(photo.rgb, output, region, max(face.bbox[2] - face.bbox[0], face.bbox[3] - face.bbox[1]))
        if score is not None:
            scores.append(score)
    return dict(found=found, retained=retained, described=described, leaks=leaks, scores=scores)


def run_setting(
    name: str,
    overrides: dict,
    photos: list[Photo],
    evaluator: PrivacyEvaluator,
    checkpoint: str | None,
    previews: Path | None,
    preview_photos,
) -> dict:
    anon = ImageAnonymizer(AnonymizeConfig(verify_identity=False, checkpoint=checkpoint, **overrides))
    totals = dict(found=0, retained=0, described=0, leaks=0, scores=[])
    render_s = 0.0
    for photo in tqdm(photos, desc=name, unit="photo", disable=None):
        start = time.perf_counter()
        result = anon.render(photo.pixels, photo.rgb, photo.faces, list(range(len(photo.faces))))
        render_s += time.perf_counter() - start
        output = result.pixels if result.pixels.ndim == 3 else np.repeat(result.pixels[:, :, None], 3, 2)
        output = output[:, :, :3]
        got = measure(photo, output, result.regions, evaluator)
        for key in ("found", "retained", "described", "leaks"):
            totals[key] += got[key]
        totals["scores"] += got["scores"]
        if previews is not None and photo.name in preview_photos:
            previews.mkdir(parents=True, exist_ok=True)
            pair = Image.fromarray(np.concatenate([photo.rgb, output], axis=1))
            if pair.width > 2400:
                pair = pair.resize((2400, round(pair.height * 2400 / pair.width)), Image.LANCZOS)
            pair.save(previews / f"{name}_{photo.name}.png")
    scores = np.array(totals["scores"]).reshape(-1, 2)
    row = dict(
        setting=name,
        overrides=overrides,
        faces_scored=len(scores),
        border_mean=round(float(scores[:, 0].mean()), 2),
        border_median=round(float(np.median(scores[:, 0])), 2),
        border_abs=round(float(np.abs(scores[:, 0]).mean()), 2),
        texture_mean=round(float(scores[:, 1].mean()), 2),
        texture_abs=round(float(np.abs(scores[:, 1]).mean()), 2),
        found=totals["found"],
        retained=totals["retained"],
        found_pct=round(100 * totals["retained"] / max(totals["found"], 1), 1),
        described=totals["described"],
        leaks=totals["leaks"],
        reid_pct=round(100 * totals["leaks"] / max(totals["described"], 1), 1),
        render_s=round(render_s, 1),
    )
    log.info("%s", row)
    return row


def table(rows: list[dict], data: Path, photos: int, faces: int) -> str:
    lines = [
        "# gan mode compositing on afw-dev",
        "",
        f"`python benchmarks/sweep_compositing.py {data}`: {photos} photos, {faces} faces found by the "
        "anonymizer, bundled generator, identity check off. Border: colour step (CIE Lab) across the "
        "blend boundary minus the original's at the same place (0 = as invisible as the photo's own "
        "content), mean, median and mean of absolute values over faces; texture: the same with the "
        "gradient magnitude of L* (a sharp photo around a blurry patch scores high). "
        "Found: CenterFace (0.5) still finds the face at the "
        "annotated place. Re-id: dlib within 0.6 of the original (anonymizer.privacy's rule). "
        "See the script's docstring.",
        "",
        "| setting | overrides | border mean | border median | border mean abs | texture mean | texture mean abs "
        "| found | re-id | render s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ov = ", ".join(f"{k}={v}" for k, v in r["overrides"].items())
        lines.append(
            f"| {r['setting']} | {ov} | {r['border_mean']} | {r['border_median']} | {r['border_abs']} | "
            f"{r['texture_mean']} | {r['texture_abs']} | "
            f"{r['retained']}/{r['found']} ({r['found_pct']}%) | {r['leaks']}/{r['described']} "
            f"({r['reid_pct']}%) | {r['render_s']} |"
        )
    lines += [
        "",
        f"Machine: {platform.machine()}, shared CPU cores; times include dlib landmarks and colour "
        "matching, not detection.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="gan mode compositing settings on afw-dev.")
    parser.add_argument("data", type=Path, help="afw-dev folder (annotations.json, images/)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of {', '.join(SETTINGS)}")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N photos only")
    parser.add_argument("--out", type=Path, default=None, help="markdown table to write")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--previews", type=Path, default=None, help="write before/after PNGs here")
    parser.add_argument("--preview-photos", default=",".join(PREVIEW_PHOTOS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    names = [s for s in args.settings.split(",") if s]
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}")
    evaluator = PrivacyEvaluator(PrivacyConfig())
    photos = load_photos(args.data, args.limit, evaluator, ImageAnonymizer(AnonymizeConfig(verify_identity=False)))
    rows = [
        run_setting(
            n, SETTINGS[n], photos, evaluator, args.checkpoint, args.previews, set(args.preview_photos.split(","))
        )
        for n in names
    ]
    faces = sum(len(p.faces) for p in photos)
    text = table(rows, args.data, len(photos), faces)
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
    if args.json_out:
        atomic_write_text(args.json_out, json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
