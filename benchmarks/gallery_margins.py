"""How close replaced signers come to their own gallery, per truncation and seed.

    python benchmarks/gallery_margins.py [--truncations 1,0.85,0.8,0.75,0.7] [--seeds 0,1,2] \
        [--frames 10,40,70] [--checkpoint GEN] [--json-out benchmarks/results/photos/NAME.json]

The whole-photo evaluation (eval_photos.py) judges one frame of each of the 9 signer clips against
the person's other clips: 9 faces, so one match is 11% and says little about a rate of 2%. This
takes several frames of every clip, anonymizes each with several seeds (gan mode, identity check
on, the default config otherwise) and keeps each face's distances: dlib (the same person below
0.6) and SFace cosine (at or above 0.363) to the person's gallery, and dlib to the face it
replaced. Reported per truncation: faces judged, gallery matches by each recogniser, and the
closest and the 5th-percentile distances, the margin a threshold has to give. The unchanged frames
are judged too, as the reference of how close the real person is. Same 5 people throughout: the
seeds and frames add trials, not people.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_photos import clip_frame, git_state  # noqa: E402

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer  # noqa: E402
from anonymizer.judges.gallery import read_people, source_name  # noqa: E402
from anonymizer.privacy import PrivacyConfig, PrivacyEvaluator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DLIB, SFACE = 0.6, 0.363
log = logging.getLogger("gallery_margins")


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def summary(rows: list[dict]) -> dict:
    """Matches and margins of a list of per-face rows."""
    dlib = np.array([r["gallery_dlib"] for r in rows if r["gallery_dlib"] is not None], float)
    sface = np.array([r["gallery_sface"] for r in rows if r["gallery_sface"] is not None], float)
    own = np.array([r["own_dlib"] for r in rows if r["own_dlib"] is not None], float)
    strangers = np.array([d for r in rows for d in r["stranger_dlib"]], float)
    return {
        "faces": len(rows),
        "dlib_judged": len(dlib),
        "dlib_matches": int((dlib < DLIB).sum()),
        "dlib_min": round(float(dlib.min()), 4) if len(dlib) else None,
        "dlib_p5": round(float(np.percentile(dlib, 5)), 4) if len(dlib) else None,
        "sface_judged": len(sface),
        "sface_matches": int((sface >= SFACE).sum()),
        "sface_max": round(float(sface.max()), 4) if len(sface) else None,
        "sface_p95": round(float(np.percentile(sface, 95)), 4) if len(sface) else None,
        "own_dlib_min": round(float(own.min()), 4) if len(own) else None,
        "stranger_dlib_judged": len(strangers),
        "stranger_dlib_matches": int((strangers < DLIB).sum()),
        "regenerated": sum(r["regenerated"] for r in rows),
        "blurred": sum(r["blurred"] for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truncations", type=floats, default=floats("1,0.85,0.8,0.75,0.7"))
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated base seeds")
    ap.add_argument("--frames", default="10,40,70", help="comma-separated frame numbers of each clip")
    ap.add_argument("--checkpoint", default=None, help="generator weights (default: bundled)")
    ap.add_argument("--gallery", type=Path, default=ROOT / "manifests" / "people_gallery.json")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    seeds = [int(v) for v in args.seeds.split(",") if v.strip()]
    frames = [int(v) for v in args.frames.split(",") if v.strip()]
    people, root = read_people(args.gallery)
    clips = sorted(f for files in people.values() for f in files)
    shots = []
    for clip in clips:
        for n in frames:
            try:
                shots.append((f"{clip}#{n}", clip_frame(root / clip, n)))
            except SystemExit as missing:  # a short clip
                log.warning("%s: skipped", missing)
    evaluator = PrivacyEvaluator(PrivacyConfig(gallery=str(args.gallery)))

    gallery = evaluator.gallery
    # each person's template from all their clips, for the stranger comparisons
    everyone = {person: gallery.person_template(person) for person in people}

    def judge(original, output, name: str, regenerated: int = 0, blurred: int = 0) -> list[dict]:
        verdict = evaluator.compare_arrays(original, output, source=name)
        me = gallery.person_of[source_name(name)]
        rows = []
        for i, (own, mine, o, desc) in enumerate(
            zip(verdict.own_dlib, verdict.gallery_dlib, verdict.opinions or [None] * verdict.faces, verdict.output_dlib)
        ):
            strangers = [] if desc is None else [t.dlib_distance(desc) for p, t in everyone.items() if p != me]
            rows.append(
                {
                    "shot": name,
                    "own_dlib": own,
                    "gallery_dlib": mine,
                    "gallery_sface": None if o is None else o.gallery_similarity,
                    "stranger_dlib": [round(d, 4) for d in strangers if d is not None],
                    "regenerated": regenerated if i == 0 else 0,
                    "blurred": blurred if i == 0 else 0,
                }
            )
        return rows

    rows = {"original": [r for name, rgb in shots for r in judge(rgb, rgb, name)]}
    for t in args.truncations:
        key = f"truncation {t:g}"
        rows[key] = []
        for seed in seeds:
            anonymizer = ImageAnonymizer(
                AnonymizeConfig(mode="gan", checkpoint=args.checkpoint, truncation=t, seed=seed)
            )
            for name, rgb in shots:
                result = anonymizer.anonymize_rgb(rgb)
                rows[key] += judge(rgb, result.pixels, name, result.regenerated, result.blurred)
        log.info("%s: %s", key, summary(rows[key]))
    report = {k: summary(v) for k, v in rows.items()}
    print(
        "| setting | faces | dlib gallery matches | closest dlib (5th pct) | dlib matches with strangers' galleries | "
        "SFace gallery matches | highest SFace (95th pct) | closest dlib to own original | regenerated / blurred |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for k, s in report.items():
        print(
            f"| {k} | {s['faces']} | {s['dlib_matches']} of {s['dlib_judged']} | {s['dlib_min']} ({s['dlib_p5']}) | "
            f"{s['stranger_dlib_matches']} of {s['stranger_dlib_judged']} | "
            f"{s['sface_matches']} of {s['sface_judged']} | {s['sface_max']} ({s['sface_p95']}) | {s['own_dlib_min']} | "
            f"{s['regenerated']} / {s['blurred']} |"
        )
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        out = {
            "summary": report,
            "rows": rows,
            "seeds": seeds,
            "frames": frames,
            "checkpoint": args.checkpoint or "bundled",
            "git": git_state(),
        }
        args.json_out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
