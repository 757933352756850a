"""Video at speed (issue 15): the identity check on each track's key frames, the face detector on
every few frames with scene cuts detected at once, and every frame still anonymized."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from anonymizer.inference import AnonymizeConfig, Blurred, DetectConfig, Generated, ImageAnonymizer, find_faces
from anonymizer.video import VideoConfig, VideoConfigError, anonymize_video
from anonymizer.video.repair import FrameRecord, unchecked_alike
from anonymizer.video.track_checks import TrackChecks
from tests.test_video_anonymize import CLIP, frames_of


def test_a_track_is_checked_at_key_frames_and_every_frame_once_close():
    checks = TrackChecks(every=4, threshold=0.6, margin=0.1)
    seed = 100
    plans = []
    for frame in range(10):
        plan = checks.plan(frame, [7])
        plans.append(plan[0])
        # The check passes far from the threshold until frame 8, where it comes close.
        checks.learn(
            frame,
            [7],
            plan,
            [Generated(checks.seed_for(7, seed))],
            [0.9 if frame < 8 else 0.65],
            [checks.seed_for(7, seed)],
        )
    assert [p is None for p in plans] == [True, False, False, False, True, False, False, False, True, True]
    assert plans[1] == Generated(seed) and checks.checked == 4 and checks.drawn_unchecked == 6

    # A track regenerated with another seed keeps it, and is checked every frame from then on.
    checks.learn(10, [3], [None], [Generated(555)], [0.8], [checks.seed_for(3, 200)])
    assert checks.seed_for(3, 200) == 555 and checks.plan(11, [3]) == [None]
    # Blurred: drawn blurred between checks, checked every frame (it was escalated).
    checks.learn(12, [4], [None], [Blurred()], [None], [300])
    assert checks.seed_for(4, 300) == 300 and checks.plan(13, [4]) == [None]
    with pytest.raises(ValueError):
        TrackChecks(every=0, threshold=0.6, margin=0.1)


def test_a_leak_in_the_encoded_file_takes_its_tracks_unchecked_frames_along():
    face = object()
    records = {}
    for f in range(25):
        checked = f % 8 == 0
        drawn = [Generated(1), Generated(2)] if f < 20 else [Blurred(), Generated(2)]
        records[f] = FrameRecord([face, face], [7, 9], [0, 0], drawn, [np.zeros(128) if checked else None, None])
    got = unchecked_alike({(8, 0)}, records, every=8)
    # Track 7's unchecked frames within 8 of the leak, drawn alike: not its checked frames 0 and
    # 16, not track 9, not frames drawn otherwise.
    assert got == {(f, 0) for f in range(0, 17) if f not in (0, 8, 16)}
    assert unchecked_alike({(8, 0)}, records, every=1) == set()
    got = unchecked_alike({(16, 0)}, records, every=8)
    assert (20, 0) not in got and (19, 0) in got  # frame 20 on was blurred already


def scene_cut_clip(tmp_path):
    """CLIP, then CLIP moved 120 px to the right (the face with it): one cut at frame 24."""
    out = tmp_path / "cut.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-i",
            str(CLIP),
            "-i",
            str(CLIP),
            "-filter_complex",
            "[1:v]crop=200:240:0:0,pad=320:240:120:0[f];[0:v][f]concat=n=2:v=1[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "12",
            str(out),
        ],
        check=True,
    )
    return out


class CountDetections(ImageAnonymizer):
    def __init__(self, config):
        super().__init__(config)
        self.calls = 0

    def detect(self, rgb, upscale_small=None):
        self.calls += 1
        return super().detect(rgb, upscale_small)


def test_detector_every_few_frames_and_at_a_cut_and_every_frame_still_hidden(tmp_path):
    src = scene_cut_clip(tmp_path)
    anon = CountDetections(AnonymizeConfig(mode="mask"))
    result = anonymize_video(src, tmp_path / "out.mp4", anon, VideoConfig(preset="ultrafast", detect_every=10))
    assert result.frames == 48
    # Frames 0, 10, 20, 30, 40, and the cut at 24.
    assert anon.calls == result.video["detections"] == 6
    originals, outputs = frames_of(src), frames_of(tmp_path / "out.mp4")
    for k, (before, after) in enumerate(zip(originals, outputs)):
        (face,) = find_faces(before, DetectConfig(threshold=0.5))
        x0, y0, x1, y1 = (int(v) for v in face.bbox)
        changed = np.abs(before[y0:y1, x0:x1].astype(int) - after[y0:y1, x0:x1]).max(axis=2) > 12
        assert changed.mean() > 0.8, f"frame {k}: face not hidden"
    with pytest.raises(VideoConfigError):
        VideoConfig(detect_every=0)


def test_gan_mode_checks_key_frames_only_unless_asked_for_every_frame(random_checkpoint, tmp_path):
    anon = ImageAnonymizer(AnonymizeConfig(mode="gan", checkpoint=str(random_checkpoint)))
    fast = anonymize_video(CLIP, tmp_path / "fast.mp4", anon, VideoConfig(preset="ultrafast"))
    every = anonymize_video(CLIP, tmp_path / "every.mp4", anon, VideoConfig(preset="ultrafast", check_every=1))
    every, fast = every.video, fast.video
    face_frames = every["checked"] + every["drawn_unchecked"]
    assert every["drawn_unchecked"] == 0 and face_frames >= 24
    assert fast["checked"] + fast["drawn_unchecked"] == face_frames and fast["checked"] < face_frames / 2
    with pytest.raises(VideoConfigError):
        VideoConfig(check_every=0)
