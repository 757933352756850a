"""``fdf anonymize`` (photos, folders, videos) and ``fdf evaluate-privacy``."""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "anonymize",
        help="replace every face in photos, folders and videos; write them without metadata",
        description="Anonymize faces. Folders are walked recursively and mirrored under --out. "
        "A file that cannot be read or anonymized gets no output and makes the exit status 1; "
        "rerunning skips outputs that exist.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="photo, video or folder (or give --input-url)")
    p.add_argument(
        "--out",
        default=None,
        help="output folder (must not be inside an input folder); with "
        "--input-url, the output file or ffmpeg output URL; required unless --print-config",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="anonymize config, YAML or TOML (sections anonymize: and video:; see "
        "manifests/anonymize_video.yaml); the flags below override it",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (--config, its base and the flags) as YAML and exit",
    )
    p.add_argument(
        "--input-url",
        default=None,
        metavar="URL",
        help="live input for ffmpeg instead of INPUTs: a camera (/dev/video0 with --input-format v4l2), "
        "rtsp:// or http:// stream, named pipe, - for standard input, or a lavfi source; anonymized "
        "as frames arrive",
    )
    p.add_argument("--input-format", default=None, help="--input-url: ffmpeg's -f for the input (v4l2, lavfi, ...)")
    p.add_argument(
        "--output-format",
        default=None,
        help="--input-url: ffmpeg's -f for the output (e.g. mpegts for udp://; default: from --out)",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="--input-url: read a file or lavfi source at its own frame rate, as a camera delivers",
    )
    p.add_argument("--max-frames", type=int, default=None, help="--input-url: stop after this many frames")
    p.add_argument(
        "--max-queue",
        type=int,
        default=None,
        help="--input-url: frames that may wait for the anonymizer; when more arrive the oldest is "
        "dropped, so latency stays bounded (0: never drop, the input waits, as for a file; default: 4 "
        "for a camera, a network stream or --realtime, else never drop)",
    )
    p.add_argument(
        "--lookahead",
        type=int,
        default=None,
        help="video frames held back to fill in missed detections (default 8; 0 for the least latency "
        "with --input-url)",
    )
    p.add_argument("--fps", type=float, default=None, help="--input-url: output frame rate when the input gives none")
    p.add_argument(
        "--preview-window",
        action="store_true",
        help="--input-url: show the anonymized frames in a window (needs a display)",
    )
    p.add_argument(
        "--mode",
        choices=["gan", "blur", "pixelate", "mask"],
        default=None,
        help="gan: generated faces (default); blur, pixelate, mask",
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="detector score threshold (default 0.25: recall first)"
    )
    p.add_argument(
        "--min-size", type=float, default=None, help="ignore faces smaller than this many pixels (default 8)"
    )
    p.add_argument(
        "--max-side", type=int, default=None, help="detect on a copy at most this large (default 1600; 0: full size)"
    )
    p.add_argument(
        "--dilation",
        type=float,
        default=None,
        help="grow each face region by this fraction of the face box per side (default: in gan mode the "
        "generator's trained hole size, else 0.15)",
    )
    p.add_argument("--checkpoint", default=None, help="generator checkpoint for gan mode (default: bundled weights)")
    p.add_argument(
        "--device",
        default=None,
        help="cpu (default), auto, cuda or cuda:N: the generator's torch device and CenterFace's "
        "onnxruntime provider; auto takes CUDA for each where it is there (onnxruntime-gpu, a CUDA "
        "torch), else the CPU",
    )
    p.add_argument("--seed", type=int, default=None, help="base seed of generated faces (default 0)")
    p.add_argument(
        "--truncation",
        type=float,
        default=None,
        help="gan mode: pull each generated face towards the generator's mean style, 0-1 (default 0.85; 1: off; "
        "lower: fewer broken faces, less variety)",
    )
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="gan mode: skip the identity check (by default a generated face dlib still matches "
        "to the original is regenerated, then blurred; a video's encoded file is judged again and "
        "faces that still match there are blurred, then masked)",
    )
    p.add_argument(
        "--verify-threshold",
        type=float,
        default=None,
        help="gan mode: dlib distance under which a generated face counts as the original person "
        "(default 0.6, dlib's same-person distance, taken as the minimum over several ways of boxing "
        "the face)",
    )
    p.add_argument(
        "--no-sface-check",
        action="store_true",
        help="gan mode: judge generated faces with dlib alone (by default SFace, a second recogniser, "
        "must not recognise the person either)",
    )
    p.add_argument(
        "--face-mask",
        choices=["outline", "box"],
        default=None,
        help="gan mode: show the generated face under a soft mask that follows the face, keeping hair "
        "and background (outline, default), or paste the whole dilated box (box). The face box is "
        "replaced outright either way; blur, pixelate and mask always replace the box",
    )
    p.add_argument(
        "--fallback-mask",
        choices=["auto", "outline", "box"],
        default=None,
        help="gan mode: draw the blur that replaces a face still recognised after its retries under "
        "the face's own mask (outline) or over the whole dilated box (box); auto (default): outline "
        "on photos, box on video frames",
    )
    p.add_argument(
        "--no-colour-match",
        action="store_true",
        help="gan mode: do not correct the generated face's colour and light to the photo at its edge",
    )
    p.add_argument(
        "--no-tone-match",
        action="store_true",
        help="gan mode: do not move the generated face's median tone to the photo's (it keeps the generator's light)",
    )
    p.add_argument("--jpeg-quality", type=int, default=None, help="quality of JPEG outputs, 1-100 (default 95)")
    p.add_argument("--codec", default=None, help="video encoder (ffmpeg name; default libx264)")
    p.add_argument("--crf", type=int, default=None, help="video quality, lower is better (x264/x265/VP9; default 18)")
    p.add_argument(
        "--encoded-check-rounds",
        type=int,
        default=None,
        help="gan mode, videos: judge the encoded file and re-encode what still matches, at most this "
        "many times (0: judge only the frames before encoding)",
    )
    p.add_argument("--hold-frames", type=int, default=None, help="frames a lost face stays anonymized (default 15)")
    p.add_argument("--no-audio", action="store_true", help="drop the audio of videos (default: keep it)")
    p.add_argument(
        "--boxes-json", default=None, metavar="PATH", help="write the faces found per file to this JSON file"
    )
    p.add_argument(
        "--boxes-in",
        default=None,
        metavar="PATH",
        help="JSON of your own face boxes per photo: faces to replace instead of (or beside) the "
        "detector's, and faces to leave untouched (format: README, anonymizer/inference/boxes_in.py)",
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="also write side-by-side previews to OUT/_previews/ (they show the ORIGINAL faces)",
    )
    p.add_argument("--overwrite", action="store_true", help="redo outputs that exist")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_anonymize)

    p = subparsers.add_parser(
        "evaluate-privacy",
        help="count faces still recognisable and metadata left in anonymized files",
        description="Compare each original with its anonymized output (same relative "
        "path): faces still recognised as the same person, and metadata left "
        "in the files. The exit status is 1 when there are any.",
    )
    p.add_argument("originals", help="folder of original photos/videos")
    p.add_argument("anonymized", help="folder written by `fdf anonymize` from them")
    p.add_argument(
        "--threshold", type=float, default=0.6, help="dlib identity distance counted as a leak (default 0.6)"
    )
    p.add_argument("--frame-step", type=int, default=10, help="videos: compare every n-th frame")
    p.add_argument(
        "--gallery",
        default=None,
        metavar="PEOPLE_JSON",
        help="people gallery (e.g. manifests/people_gallery.json): also match each output face against "
        "other photos of the same person, by dlib and SFace",
    )
    p.add_argument(
        "--gallery-root", default=None, help="folder holding the gallery's files (default: as the JSON says)"
    )
    p.add_argument(
        "--sface-threshold",
        type=float,
        default=0.363,
        help="SFace cosine at or above which a face counts as the same person (default 0.363)",
    )
    p.add_argument(
        "--dlib-only", action="store_true", help="skip the second judges (YuNet retention, SFace re-identification)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_evaluate_privacy)


def anonymize_overrides(args) -> dict:
    """The anonymize flags as dotted keys of the anonymize config (None: not given)."""
    from fdf.config_file import NULL

    return {
        "anonymize.mode": args.mode,
        "anonymize.detect.threshold": args.threshold,
        "anonymize.detect.min_size": args.min_size,
        "anonymize.detect.max_side": NULL if args.max_side == 0 else args.max_side,  # 0: full size (None)
        "anonymize.dilation": args.dilation,
        "anonymize.checkpoint": args.checkpoint,
        "anonymize.seed": args.seed,
        "anonymize.truncation": args.truncation,
        "anonymize.jpeg_quality": args.jpeg_quality,
        "anonymize.verify_identity": False if args.no_verify else None,
        "anonymize.verify_threshold": args.verify_threshold,
        "anonymize.second_recogniser": False if args.no_sface_check else None,
        "anonymize.face_mask": args.face_mask,
        "anonymize.fallback_mask": args.fallback_mask,
        "anonymize.colour_match": False if args.no_colour_match else None,
        "anonymize.tone_match": False if args.no_tone_match else None,
        "video.codec": args.codec,
        "video.crf": args.crf,
        "video.keep_audio": False if args.no_audio else None,
        "video.encoded_check_rounds": args.encoded_check_rounds,
        "video.lookahead": args.lookahead,
        "video.tracker.hold_frames": args.hold_frames,
    }


def _settings(args):
    """The resolved AnonymizeSettings: --config (or the defaults), then the flags."""
    from anonymizer.settings import load_anonymize_settings

    return load_anonymize_settings(args.config, anonymize_overrides(args))


def _configs(args):
    """The photo and video configs of the command line, on the device it names."""
    from dataclasses import replace

    from anonymizer.inference.device import use_device

    settings = _settings(args)
    config = replace(settings.anonymize, device=use_device(args.device or settings.anonymize.device))
    return config, settings.video


def run_live(args, config, video) -> int:
    from anonymizer.inference import ImageAnonymizer
    from anonymizer.video.live import LiveConfig, anonymize_live

    live = LiveConfig(
        input_format=args.input_format,
        output_format=args.output_format,
        realtime=args.realtime,
        max_frames=args.max_frames,
        max_queue="auto" if args.max_queue is None else (args.max_queue or None),
        fps=args.fps,
        preview=args.preview_window,
    )
    result = anonymize_live(args.input_url, args.out, ImageAnonymizer(config), video, live)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        lat = result.latency_ms
        print(
            f"anonymized {result.frames_out} frames of {result.frames_in} read ({result.frames_dropped} dropped "
            f"to keep up) in {result.seconds:.1f} s; latency p50 {lat.get('p50')} ms, p95 {lat.get('p95')} ms"
        )
    return 0


def run_anonymize(args) -> int:
    from anonymizer.files import anonymize_paths
    from fdf.errors import FdfError

    if args.print_config:
        from .config import print_config

        return print_config(_settings(args))
    if not args.out:
        raise FdfError("--out is required (the output folder, file or URL)")
    if bool(args.inputs) == bool(args.input_url):
        raise FdfError(
            "give INPUT photos, videos or folders, or --input-url, not both"
            if args.inputs
            else "nothing to anonymize: give INPUT photos, videos or folders, or --input-url URL"
        )
    if args.max_queue is not None and args.max_queue < 0:
        raise FdfError(f"--max-queue must be >= 0, got {args.max_queue}")
    config, video = _configs(args)
    if args.input_url:
        return run_live(args, config, video)
    report = anonymize_paths(
        args.inputs,
        args.out,
        config,
        video,
        overwrite=args.overwrite,
        boxes_json=args.boxes_json,
        preview=args.preview,
        boxes_in=args.boxes_in,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        counts = report.counts()
        faces = sum(r.faces or 0 for r in report.results)
        kept = sum(r.kept for r in report.results)
        print(
            f"anonymized {counts['done']} files ({faces} faces or face tracks"
            + (f"; {kept} left untouched as --boxes-in asked" if kept else "")
            + f"), skipped {counts['skipped']} existing, failed {counts['failed']}"
        )
    for r in report.failed:
        print(f"failed (no output written): {r.error}", file=sys.stderr)
    return 0 if report.ok else 1


def run_evaluate_privacy(args) -> int:
    from anonymizer.privacy import PrivacyConfig, evaluate_privacy

    if args.frame_step < 1:
        from fdf.errors import FdfError

        raise FdfError(f"--frame-step must be >= 1, got {args.frame_step}")
    if args.dlib_only and args.gallery:
        from fdf.errors import FdfError

        raise FdfError("--gallery needs the second judges; drop --dlib-only")
    config = PrivacyConfig(
        threshold=args.threshold,
        frame_step=args.frame_step,
        second_judges=not args.dlib_only,
        sface_threshold=args.sface_threshold,
        gallery=args.gallery,
        gallery_root=args.gallery_root,
    )
    report = evaluate_privacy(args.originals, args.anonymized, config)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for key, value in report.totals().items():
            if isinstance(value, dict):
                print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items() if v is not None))
            else:
                print(f"{key}: {value}")
    return 0 if report.clean else 1
