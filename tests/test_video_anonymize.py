"""Video anonymization end to end with the bundled ffmpeg: audio and frame rate kept, no bare frame."""

import json
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from anonymizer.inference import AnonymizeConfig, DetectConfig, Generated, ImageAnonymizer, Masked, find_faces
from anonymizer.inference.image import Verified
from anonymizer.video import VideoConfig, anonymize_video, probe_video
from pipelines.cli import main

DATA = Path(__file__).parent / "data" / "anonymize"
CLIP = DATA / "again_320x240.mp4"  # 24 frames, 30 fps, one signer facing the camera


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory) -> Path:
    """The shared clip plus a generated 440 Hz sine tone as an AAC track."""
    out = tmp_path_factory.mktemp("clip") / "signer.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(CLIP),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=0.8",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-shortest",
            str(out),
        ],
        check=True,
    )
    info = probe_video(out)
    assert info.audio_codec == "aac"
    return out


def frames_of(path: Path) -> list[np.ndarray]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]


class DropDetections(ImageAnonymizer):
    """The real anonymizer, except that the detector 'misses' every face on some frames."""

    def __init__(self, config, drop: set[int]):
        super().__init__(config)
        self.drop, self.calls = drop, 0

    def detect(self, rgb, upscale_small=None):
        faces = super().detect(rgb, upscale_small)
        index, self.calls = self.calls, self.calls + 1
        return [] if index in self.drop else faces


def test_audio_fps_and_frames_kept_and_every_face_hidden(clip_with_audio, tmp_path):
    out = tmp_path / "out.mp4"
    drop = {5, 6, 7, 8}
    anon = DropDetections(AnonymizeConfig(mode="blur"), drop)
    result = anonymize_video(clip_with_audio, out, anon, VideoConfig(crf=18, preset="ultrafast"))
    assert result.frames == 24 and result.faces == 1  # one track through the dropped frames
    src_info, out_info = probe_video(clip_with_audio), probe_video(out)
    assert out_info.audio_codec == "aac" and out_info.fps == src_info.fps == 30.0
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == imageio_ffmpeg.count_frames_and_secs(str(CLIP))[0]
    originals, outputs = frames_of(clip_with_audio), frames_of(out)
    assert len(originals) == len(outputs) == 24
    for t, (a, b) in enumerate(zip(originals, outputs)):
        (face,) = find_faces(a, DetectConfig(threshold=0.5))
        x0, y0, x1, y1 = (int(v) for v in face.bbox)
        changed = (np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1]).max(axis=2) > 12).mean()
        assert changed > 0.5, f"frame {t} (dropped: {t in drop}) shows the original face"
    # Far from the face, only video re-encoding noise.
    assert np.abs(originals[0][:, :40].astype(int) - outputs[0][:, :40]).mean() < 4


def test_cli_mkv_output_and_corrupt_video_fails_closed(clip_with_audio, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(clip_with_audio),
            "-c",
            "copy",
            "-metadata",
            "location=+59.9+010.7/",
            str(folder / "clip.mkv"),
        ],
        check=True,
    )
    (folder / "broken.mp4").write_text("not a video")
    out = tmp_path / "out"
    rc = main(["-q", "anonymize", str(folder), "--out", str(out), "--mode", "pixelate", "--json", "--crf", "30"])
    assert rc == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"done": 1, "skipped": 0, "failed": 1}
    assert sorted(p.name for p in out.iterdir()) == ["clip.mkv"]
    info = probe_video(out / "clip.mkv")
    assert info.audio_codec == "aac" and info.fps == 30.0
    assert not any("location" in k.lower() for k in info.metadata)
    assert "location" in {k.lower() for k in probe_video(folder / "clip.mkv").metadata}  # the input had it


class RecordSeeds(ImageAnonymizer):
    """The real anonymizer, recording the generator seeds each frame is rendered with."""

    def __init__(self, config):
        super().__init__(config)
        self.seeds = []

    def render(self, pixels, rgb, faces, seeds, **options):
        self.seeds.append(list(seeds))
        return super().render(pixels, rgb, faces, seeds, **options)


def test_gan_mode_video_keeps_one_seed_per_track(random_checkpoint, tmp_path):
    anon = RecordSeeds(AnonymizeConfig(mode="gan", checkpoint=str(random_checkpoint)))
    result = anonymize_video(CLIP, tmp_path / "gan.mp4", anon, VideoConfig(preset="ultrafast"))
    assert result.frames == 24
    assert len(anon.seeds) == 24 and all(s == anon.seeds[0] for s in anon.seeds) and len(anon.seeds[0]) == 1
    first_in, first_out = frames_of(CLIP)[0], frames_of(tmp_path / "gan.mp4")[0]
    (face,) = find_faces(first_in, DetectConfig(threshold=0.5))
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    assert (np.abs(first_in[y0:y1, x0:x1].astype(int) - first_out[y0:y1, x0:x1]).max(axis=2) > 12).mean() > 0.5


class MissedByCheck(ImageAnonymizer):
    """gan mode whose 'generator' returns the original face and whose check before encoding passes
    every face: a face the frame check misses, as encoder noise makes it miss some (0.60 before
    encoding, 0.57 after). Detection, descriptors, encoding and the check of the encoded file are
    the real code."""

    def __init__(self, config):
        super().__init__(config)
        self._render = lambda rgb, jobs: [
            rgb[j.region.paste[1] : j.region.paste[3], j.region.paste[0] : j.region.paste[2]].copy() for j in jobs
        ]

    def _verified(self, rgb, faces, jobs, patches, *, lossy_qualities=(), generate=None, fallback="box"):
        from anonymizer.inference.verify import describe_views, scene_faces

        scene = scene_faces(rgb)
        return Verified(
            patches,
            [Generated(j.seed) for j in jobs],
            [describe_views(rgb, f.bbox, scene) for f in faces],
            [None] * len(faces),
        )


def test_encoded_file_is_judged_and_faces_that_still_match_are_escalated(random_checkpoint, tmp_path):
    from anonymizer.privacy import PrivacyConfig, PrivacyEvaluator

    evaluator = PrivacyEvaluator(PrivacyConfig(frame_step=1))
    anon = MissedByCheck(AnonymizeConfig(mode="gan", checkpoint=str(random_checkpoint)))
    # carry_frames 0: every face comes from the (fake) renderer above, not carried from a generated one.
    unchecked = anonymize_video(
        CLIP, tmp_path / "unchecked.mp4", anon, VideoConfig(preset="ultrafast", encoded_check_rounds=0, carry_frames=0)
    )
    assert unchecked.repaired == 0
    assert evaluator.compare_videos(CLIP, tmp_path / "unchecked.mp4", "u").leaks >= 20  # the check can fail

    result = anonymize_video(CLIP, tmp_path / "checked.mp4", anon, VideoConfig(preset="ultrafast", carry_frames=0))
    assert result.frames == 24 and result.repaired >= 20
    privacy = evaluator.compare_videos(CLIP, tmp_path / "checked.mp4", "c")
    assert privacy.frames_sampled == 24 and privacy.leaks == 0
    first_in, first_out = frames_of(CLIP)[0], frames_of(tmp_path / "checked.mp4")[0]
    (face,) = find_faces(first_in, DetectConfig(threshold=0.5))
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    assert (np.abs(first_in[y0:y1, x0:x1].astype(int) - first_out[y0:y1, x0:x1]).max(axis=2) > 12).mean() > 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checked.mp4", "unchecked.mp4"]  # no temporaries left


def test_leaks_are_escalated_with_the_near_misses_around_them():
    from anonymizer.video.repair import NEAR_MISS_MARGIN, FrameRecord, to_escalate

    face = find_faces  # any object: to_escalate reads only outcomes
    g1 = Generated(1)
    records = {
        f: FrameRecord([face, face], [7, 9], [0, 0], [g1, Masked()] if f == 12 else [g1, g1], [None, None])
        for f in range(40)
    }
    near = 0.6 + NEAR_MISS_MARGIN / 2
    distances = {(10, 0): 0.55, (11, 0): near, (18, 1): near, (19, 1): near, (30, 0): near, (12, 1): near, (14, 1): 0.9}
    # A leak at frame 10: near misses within 8 frames go with it, whatever their track, except a
    # masked face (nothing left to escalate to); frame 19 and 30 are too far, frame 14's face is not near.
    assert to_escalate(distances, records, 0.6, window=8) == {(10, 0), (11, 0), (18, 1)}
    assert to_escalate(distances, records, 0.6, window=None) == {(10, 0), (11, 0), (18, 1), (19, 1), (30, 0)}
    assert to_escalate({(5, 0): 0.61}, records, 0.6, window=None) == set()


def test_a_leak_at_a_masked_face_escalates_the_face_drawn_over_the_same_place():
    """Seen on a 5-face afw-dev pan: one small face boxed by two overlapping tracks; after the
    first box was masked, the face found there (the second box's drawing) still matched."""
    from anonymizer.inference.detect import FaceBox
    from anonymizer.video.repair import FrameRecord, to_escalate

    masked, overlapping, apart = (
        FaceBox((172, 68, 194, 90), 0.9),
        FaceBox((165, 80, 181, 99), 0.9),
        FaceBox((440, 89, 508, 179), 0.9),
    )
    mask, g5, g6 = Masked(), Generated(5), Generated(6)
    records = {
        0: FrameRecord([masked, overlapping, apart], [1, 2, 3], [0, 0, 0], [mask, g5, g6], [None] * 3),
        1: FrameRecord([masked, apart], [1, 3], [0, 0], [mask, g6], [None] * 2),
        2: FrameRecord([masked, overlapping], [1, 2], [0, 0], [mask, mask], [None] * 2),
    }
    assert to_escalate({(0, 0): 0.49}, records, 0.6, window=8) == {(0, 1)}, "the drawing over it, not the one apart"
    # Nothing else drawn there: the masked face stays the leak, and the file fails closed.
    assert to_escalate({(1, 0): 0.49}, records, 0.6, window=8) == {(1, 0)}
    assert to_escalate({(2, 0): 0.49}, records, 0.6, window=8) == {(2, 0)}
