"""Generated faces carried between frames by the face's motion (issue 15): the similarity fit,
when a face is generated again, and less flicker in a real video."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anonymizer.inference import AnonymizeConfig, DetectConfig, ImageAnonymizer, find_faces
from anonymizer.video import VideoConfig, anonymize_video
from anonymizer.video.carry import CarryConfig, face_motion, similarity
from anonymizer.video.flicker import measure_flicker
from tests.test_video_anonymize import CLIP, frames_of

KP = np.array([[50, 60, 1], [40, 45, 1], [60, 45, 1], [30, 50, 1], [70, 50, 1], [20, 100, 1], [80, 100, 1]], np.float64)


def moved(kp, angle_deg=0.0, scale=1.0, shift=(0.0, 0.0)):
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    out = kp.copy()
    out[:, :2] = kp[:, :2] @ rot.T + np.asarray(shift)
    return out


def test_similarity_recovers_shift_scale_and_rotation():
    m = similarity(KP[:5, :2], moved(KP, 7, 1.1, (5, -3))[:5, :2])
    assert np.allclose(
        m[:, :2],
        1.1
        * np.array(
            [
                [math.cos(math.radians(7)), -math.sin(math.radians(7))],
                [math.sin(math.radians(7)), math.cos(math.radians(7))],
            ]
        ),
        atol=1e-9,
    )
    assert np.allclose(m[:, 2], (5, -3), atol=1e-9)


def test_a_face_is_carried_while_it_only_moves_and_generated_again_when_it_changes():
    config = CarryConfig()
    assert face_motion(KP, moved(KP, 3, 1.05, (4, 2)), 40, config) is not None
    assert face_motion(KP, moved(KP, 20), 40, config) is None  # turned too far in-plane
    assert face_motion(KP, moved(KP, 0, 1.4), 40, config) is None  # came much closer
    changed = KP.copy()
    changed[0, :2] += (8, 6)  # the nose moved against the eyes: the head turned
    assert face_motion(KP, changed, 40, config) is None
    hidden = KP.copy()
    hidden[1:5, 2] = 0  # fewer than three face points seen in both frames
    assert face_motion(KP, hidden, 40, config) is None
    with pytest.raises(ValueError):
        CarryConfig(max_age=-1)


def test_carried_faces_flicker_less_and_generate_less(tmp_path):
    # The bundled generator: an untrained one draws noise, whose every sub-pixel move flickers.
    anon = ImageAnonymizer(AnonymizeConfig(mode="gan", verify_identity=False))
    every = anonymize_video(CLIP, tmp_path / "every.mp4", anon, VideoConfig(preset="ultrafast", carry_frames=0))
    carried = anonymize_video(CLIP, tmp_path / "carried.mp4", anon, VideoConfig(preset="ultrafast"))
    assert every.video["carried"] == 0
    assert carried.video["carried"] > carried.video["generated"] > 0
    boxes = {
        k: [f.bbox for f in find_faces(frame, DetectConfig(threshold=0.5))] for k, frame in enumerate(frames_of(CLIP))
    }
    flicker_every = measure_flicker(CLIP, tmp_path / "every.mp4", boxes)
    flicker_carried = measure_flicker(CLIP, tmp_path / "carried.mp4", boxes)
    # Measured 2.9 against 3.8 (the original's own change: 1); generating every frame with the
    # drawn region jumping between the grown held box and the detected one every other frame was 10.
    assert flicker_carried.ratio < 0.85 * flicker_every.ratio and flicker_carried.ratio < 4
    # Every frame's face is still replaced.
    for before, after in zip(frames_of(CLIP), frames_of(tmp_path / "carried.mp4")):
        (face,) = find_faces(before, DetectConfig(threshold=0.5))
        x0, y0, x1, y1 = (int(v) for v in face.bbox)
        assert (np.abs(before[y0:y1, x0:x1].astype(int) - after[y0:y1, x0:x1]).max(axis=2) > 12).mean() > 0.5
