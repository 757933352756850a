"""The people gallery, and evaluate-privacy's second judges (YuNet, SFace) with and without it."""

import json
import shutil
from pathlib import Path

import pytest

from anonymizer.files import anonymize_paths
from anonymizer.inference import AnonymizeConfig
from anonymizer.judges import Gallery, GalleryError, Judges
from anonymizer.judges.gallery import read_people, source_name
from anonymizer.privacy import PrivacyConfig, evaluate_privacy
from pipelines.cli import main

JUDGES = Path(__file__).parent / "data" / "judges"
PEOPLE = JUDGES / "people.json"


@pytest.fixture(scope="module")
def judges():
    return Judges()


@pytest.fixture(scope="module")
def gallery(judges):
    return Gallery.from_json(PEOPLE, judges=judges)


def test_template_comes_from_the_persons_other_files(gallery, judges):
    from anonymizer.inference import read_image

    template = gallery.template_for("clips/again_frame25.jpg#3")  # a frame of a copy elsewhere: same source
    assert template.person == "signer_a" and len(template.dlib) == len(template.sface) == 1
    dlib_again, sface_again = judges.describe_main_face(read_image(JUDGES / "again_frame25.jpg").rgb)
    _, sface_book = judges.describe_main_face(read_image(JUDGES / "book_frame25.jpg").rgb)
    assert template.dlib_distance(dlib_again) < 0.6
    assert template.sface_similarity(sface_again) >= 0.363
    assert template.sface_similarity(sface_book) < 0.363
    assert gallery.template_for("stranger.jpg") is None
    assert source_name("a/b/no_frame25.jpg#12") == "no_frame25.jpg"


def test_bad_gallery_files_say_what_is_wrong(tmp_path):
    bad = tmp_path / "people.json"
    bad.write_text(json.dumps({"people": {"a": ["x.jpg"], "b": ["x.jpg"]}}))
    with pytest.raises(GalleryError, match="listed for a and b"):
        read_people(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(GalleryError, match="not a people gallery"):
        read_people(bad)
    bad.write_text(json.dumps({"people": {"a": ["absent.jpg"]}}))
    with pytest.raises(GalleryError, match="absent.jpg is missing"):
        Gallery.from_json(bad)


def originals(tmp_path: Path) -> Path:
    folder = tmp_path / "orig"
    folder.mkdir()
    for name in ("again_frame25.jpg", "book_frame25.jpg"):
        shutil.copy(JUDGES / name, folder / name)
    return folder


def test_unchanged_copies_are_found_and_recognised_by_every_judge(tmp_path, capsys):
    orig = originals(tmp_path)
    rc = main(
        [
            "-q",
            "evaluate-privacy",
            str(orig),
            str(orig),
            "--json",
            "--gallery",
            str(PEOPLE),
            "--gallery-root",
            str(JUDGES),
        ]
    )
    assert rc == 1  # every face leaks
    j = json.loads(capsys.readouterr().out)["totals"]["judges"]
    assert j["centerface_found"] == j["yunet_found"] == j["sface_described"] == 2
    assert j["centerface_retention"] == j["yunet_retention"] == 1.0
    assert j["dlib_reid_rate"] == j["sface_reid_rate"] == j["sface_reid_rate_aligned"] == 1.0
    # each face against its person's *other* photo
    assert j["gallery_sface_judged"] == j["gallery_dlib_judged"] == 2
    assert j["gallery_sface_reid_rate"] == j["gallery_sface_original_match_rate"] == 1.0
    assert j["gallery_dlib_reid_rate"] == 1.0


def test_masked_faces_are_gone_for_every_judge(tmp_path):
    orig = originals(tmp_path)
    out = tmp_path / "anon"
    assert anonymize_paths([orig], out, AnonymizeConfig(mode="mask")).ok
    report = evaluate_privacy(orig, out, PrivacyConfig(gallery=str(PEOPLE), gallery_root=str(JUDGES)))
    j = report.totals()["judges"]
    assert j["yunet_found"] == 2 and j["yunet_retention"] == 0.0 and j["centerface_retention"] == 0.0
    assert j["sface_leaks"] == 0 and j["gallery_sface_leaks"] == 0 and j["gallery_dlib_leaks"] == 0
    assert j["gallery_sface_original_match_rate"] == 1.0  # the gallery knew them before
    assert report.files[0].judges["yunet_found"] == 1


def test_per_face_dlib_distances_line_up_with_the_counts():
    """compare_arrays keeps each face's dlib distance to its original and to its gallery, in the
    order of the faces, so the margins under the 0.6 threshold can be read, not only the counts."""
    from anonymizer.inference import ImageAnonymizer, read_image
    from anonymizer.privacy import PrivacyEvaluator

    evaluator = PrivacyEvaluator(PrivacyConfig(gallery=str(PEOPLE), gallery_root=str(JUDGES)))
    rgb = read_image(JUDGES / "again_frame25.jpg").rgb
    same = evaluator.compare_arrays(rgb, rgb, source="again_frame25.jpg")
    assert same.faces == len(same.own_dlib) == len(same.gallery_dlib) == 1
    assert same.own_dlib[0] < 0.01 and same.gallery_dlib[0] < 0.6 and same.judges["gallery_dlib_leaks"] == 1
    masked = ImageAnonymizer(AnonymizeConfig(mode="mask")).anonymize_rgb(rgb).pixels
    gone = evaluator.compare_arrays(rgb, masked, source="again_frame25.jpg")
    assert gone.faces == 1 and gone.own_dlib == [None] and gone.gallery_dlib == [None] and gone.output_dlib == [None]
    assert same.output_dlib[0].shape == (128,)  # the output face's descriptor, to judge against strangers
    stranger = evaluator.compare_arrays(rgb, rgb, source="stranger.jpg")  # nobody's gallery
    assert stranger.own_dlib[0] < 0.01 and stranger.gallery_dlib == [None]
