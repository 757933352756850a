"""The independent judges: YuNet finds faces, SFace tells people apart, on real photos and frames."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymizer.judges import SAME_PERSON, JudgeModelError, SFaceRecognizer, YuNetDetector, cosine_similarity
from anonymizer.judges.modelfiles import MODEL_DIR, SFACE, YUNET, model_bytes
from anonymizer.judges.sface import TEMPLATE, align_face, landmarks_from_68, similarity_transform
from fdf.boxes import same_place

DATA = Path(__file__).parent / "data"
JUDGES = DATA / "judges"


def rgb(path: Path) -> np.ndarray:
    return cv2.imread(str(path))[:, :, ::-1].copy()


@pytest.fixture(scope="module")
def yunet():
    return YuNetDetector()


@pytest.fixture(scope="module")
def sface():
    return SFaceRecognizer()


def describe(yunet, sface, name: str) -> np.ndarray:
    image = rgb(JUDGES / name)
    (face,) = yunet.detect(image)
    return sface.embed(image, face.landmarks)


def test_yunet_finds_the_annotated_afw_faces(yunet):
    entries = json.loads((DATA / "annotate" / "afw_annotations.json").read_text())
    for entry in entries:
        found = yunet.detect(rgb(DATA / "annotate" / entry["file"]))
        for face in entry["faces"]:
            hits = [f for f in found if same_place(f.bbox, face["bbox_xyxy"])]
            assert hits, f"{entry['file']}: no YuNet face at {face['bbox_xyxy']}"
            points = hits[0].landmarks
            x0, y0, x1, y1 = face["bbox_xyxy"]
            # five points inside (or just beside, in profile) the annotated box, eyes above the mouth
            assert ((points[:, 0] > x0 - 0.2 * (x1 - x0)) & (points[:, 0] < x1 + 0.2 * (x1 - x0))).all()
            assert points[:2, 1].mean() < points[3:, 1].mean()
            assert hits[0].score >= 0.9


def test_same_signer_in_two_clips_matches_and_another_does_not(yunet, sface):
    again, no = describe(yunet, sface, "again_frame25.jpg"), describe(yunet, sface, "no_frame25.jpg")
    book, school = describe(yunet, sface, "book_frame25.jpg"), describe(yunet, sface, "school_frame25.jpg")
    assert cosine_similarity(again, no) >= SAME_PERSON
    assert cosine_similarity(book, school) >= SAME_PERSON
    for a in (again, no):
        for b in (book, school):
            assert cosine_similarity(a, b) < SAME_PERSON
    assert abs(np.linalg.norm(again) - 1) < 1e-5


def test_alignment_matches_opencv_aligncrop(yunet):
    # Our warp to the ArcFace template is what FaceRecognizerSF.alignCrop does (its feature()
    # fails on OpenCV 5, so only the crop is compared).
    image = rgb(JUDGES / "again_frame25.jpg")
    (face,) = yunet.detect(image)
    try:
        recogniser = cv2.FaceRecognizerSF.create(str(MODEL_DIR / SFACE), "")
    except cv2.error as exc:  # an OpenCV build that cannot load the graph: nothing to compare with
        pytest.skip(f"OpenCV {cv2.__version__} cannot load SFace: {exc}")
    x0, y0, x1, y1 = face.bbox
    row = np.concatenate([[x0, y0, x1 - x0, y1 - y0], face.landmarks.ravel(), [face.score]]).astype(np.float32)[None]
    theirs = recogniser.alignCrop(np.ascontiguousarray(image[:, :, ::-1]), row)[:, :, ::-1]
    ours = align_face(image, face.landmarks)
    assert np.abs(theirs.astype(int) - ours.astype(int)).mean() < 1.0


def test_similarity_transform_recovers_a_known_warp():
    angle, scale, shift = np.deg2rad(20), 1.7, np.array([5.0, -3.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = TEMPLATE.astype(np.float64)
    dst = src @ rot.T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], rot, atol=1e-4) and np.allclose(m[:, 2], shift, atol=1e-3)


def test_five_points_from_dlib_68():
    shape = np.zeros((68, 2), np.float32)
    shape[36:42] = [10, 20]
    shape[42:48] = [30, 20]
    shape[30], shape[48], shape[54] = [20, 30], [12, 40], [28, 40]
    assert np.allclose(landmarks_from_68(shape), [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]])


def test_batched_descriptors_equal_single_ones(yunet, sface):
    image = rgb(JUDGES / "book_frame25.jpg")
    (face,) = yunet.detect(image)
    one = sface.embed(image, face.landmarks)
    many = sface.embed_many(image, [face.landmarks, face.landmarks + 3])
    assert many.shape == (2, 128) and cosine_similarity(one, many[0]) > 0.9999


def test_missing_and_corrupt_model_files_say_so(tmp_path):
    with pytest.raises(JudgeModelError, match="cannot read judge model"):
        SFaceRecognizer(model_path=str(tmp_path / "absent.onnx"))
    bad = tmp_path / "sface.onnx"
    bad.write_bytes(model_bytes(SFACE)[:100_000])  # a truncated download
    with pytest.raises(JudgeModelError, match="corrupt or replaced"):
        SFaceRecognizer(model_path=str(bad))
    bad.write_bytes(b"not a model")
    with pytest.raises(JudgeModelError, match="corrupt or replaced"):
        YuNetDetector(model_path=str(bad))
    assert len(model_bytes(YUNET)) > 100_000
