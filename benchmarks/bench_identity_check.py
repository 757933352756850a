"""Per face on afw-dev: what gan mode's identity check saw against what the privacy evaluation sees.

    python benchmarks/bench_identity_check.py ../shared/data/afw-dev [--threshold 0.6] [--json-out rows.json]

For every annotated face: the evaluation's distance (``anonymizer.privacy``), the check's own
distance on the final output (``anonymizer.inference.verify``), and per photo the faces the
check regenerated and blurred. Prints the totals (BENCHMARKS.md, anonymizer run 5) and the leaks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_anonymize import load_photo_set  # noqa: E402

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image, verify  # noqa: E402
from anonymizer.privacy import PrivacyConfig, PrivacyEvaluator  # noqa: E402
from fdf.annotate.identity import embedding_distance  # noqa: E402
from fdf.boxes import iou, same_place  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos", type=Path)
    ap.add_argument("--threshold", type=float, default=0.6)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--limit", type=int, default=None, help="first N photos only")
    args = ap.parse_args()
    entries = load_photo_set([args.photos])[0][: args.limit]
    anon = ImageAnonymizer(AnonymizeConfig(mode="gan", verify_threshold=args.threshold))
    evaluator = PrivacyEvaluator(PrivacyConfig())
    rows, regenerated, blurred = [], 0, 0
    for entry in entries:
        image = read_image(entry["file"])
        result = anon.anonymize_loaded(image)
        regenerated, blurred = regenerated + result.regenerated, blurred + result.blurred
        outputs = evaluator.output_analyzer.analyze(result.pixels)
        scene_in, scene_out = verify.scene_faces(image.rgb), verify.scene_faces(result.pixels)
        for face in evaluator.original_faces(image.rgb, entry["boxes"]):
            if face.embedding is None:
                continue
            found = [
                embedding_distance(face.embedding, o.embedding)
                for o in outputs
                if o.embedding is not None and same_place(face.bbox, o.bbox)
            ]
            match = max(result.faces, key=lambda f: iou(f.bbox, face.bbox), default=None)
            check = None
            if match is not None and iou(match.bbox, face.bbox) > 0.2:
                views = verify.describe_views(image.rgb, match.bbox, scene_in)
                check = verify.output_distance(result.pixels, match, views, scene_out)
            rows.append(
                {
                    "file": entry["file"].name,
                    "box": [round(v) for v in face.bbox],
                    "evaluation": min(found) if found else None,
                    "check": check,
                }
            )
        print(entry["file"].name, flush=True)
    leaks = [r for r in rows if r["evaluation"] is not None and r["evaluation"] < 0.6]
    print(
        json.dumps(
            {
                "faces": len(rows),
                "leaks": len(leaks),
                "still_found": sum(r["evaluation"] is not None for r in rows),
                "regenerated": regenerated,
                "blurred": blurred,
            }
        )
    )
    for r in leaks:
        print(r)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
