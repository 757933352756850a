"""`fdf anonymize` end to end on real photos: folders, fail-closed errors, resume, gan mode."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image
from anonymizer.inference.regions import face_region, union_mask
from pipelines.cli import main

DATA = Path(__file__).parent / "data" / "anonymize"


@pytest.fixture
def photo_tree(tmp_path):
    """inputs/: sub/astronaut.png, sub/deeper/einstein.jpg, text.jpg, cut.jpg, notes.txt."""
    root = tmp_path / "inputs"
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.open(DATA / "astronaut.jpg").convert("RGB").save(root / "sub" / "astronaut.png")
    shutil.copy(DATA / "einstein.jpg", root / "sub" / "deeper" / "einstein.jpg")
    (root / "text.jpg").write_text("not a photo")
    data = (DATA / "astronaut.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    (root / "notes.txt").write_text("ignored")
    return root


def test_folder_fail_closed_mirrored_and_resumable(photo_tree, tmp_path, capsys):
    out = tmp_path / "out"
    boxes = tmp_path / "boxes.json"
    rc = main(
        [
            "-q",
            "anonymize",
            str(photo_tree),
            "--out",
            str(out),
            "--mode",
            "blur",
            "--json",
            "--boxes-json",
            str(boxes),
            "--preview",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 1  # two bad files
    report = json.loads(captured.out)
    assert report["counts"] == {"done": 2, "skipped": 0, "failed": 2}
    assert "text.jpg" in captured.err and "cut.jpg" in captured.err
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "_previews/sub/astronaut_png.jpg",
        "_previews/sub/deeper/einstein_jpg.jpg",
        "sub/astronaut.png",
        "sub/deeper/einstein.jpg",
    ]  # nothing for the bad files
    # PNG output: pixels away from the faces are bit-for-bit the input's.
    found = json.loads(boxes.read_text())
    src = photo_tree / "sub" / "astronaut.png"
    faces = found[str(src)]
    assert len(faces) == 1
    original, result = read_image(src).pixels, read_image(out / "sub" / "astronaut.png").pixels
    regions = [face_region(f["bbox"], original.shape, 0.15, 0.1) for f in faces]
    outside = ~union_mask(regions, original.shape)
    assert np.array_equal(original[outside], result[outside])
    x0, y0, x1, y1 = (int(v) for v in faces[0]["bbox"])
    assert (np.abs(original[y0:y1, x0:x1].astype(int) - result[y0:y1, x0:x1]).max(axis=2) > 2).mean() > 0.9
    # Rerun: existing outputs are skipped, the bad files fail again.
    rc = main(["-q", "anonymize", str(photo_tree), "--out", str(out), "--mode", "blur", "--json"])
    assert rc == 1
    assert json.loads(capsys.readouterr().out)["counts"] == {"done": 0, "skipped": 2, "failed": 2}


def test_output_inside_input_is_refused(photo_tree, capsys):
    rc = main(["anonymize", str(photo_tree), "--out", str(photo_tree / "anon"), "--mode", "blur"])
    assert rc == 2
    assert "inside input folder" in capsys.readouterr().err
    assert not (photo_tree / "anon").exists()


def test_bad_option_values_are_user_errors(photo_tree, tmp_path, capsys):
    assert main(["anonymize", str(photo_tree), "--out", str(tmp_path / "o"), "--threshold", "1.5"]) == 2
    assert "threshold" in capsys.readouterr().err
    assert main(["anonymize", str(photo_tree), "--out", str(tmp_path / "o"), "--dilation", "-1"]) == 2
    capsys.readouterr()
    assert main(["anonymize", str(photo_tree), "--out", str(tmp_path / "o"), "--verify-threshold", "5"]) == 2
    assert "verify_threshold" in capsys.readouterr().err
    assert main(["anonymize", str(photo_tree), "--out", str(tmp_path / "o"), "--encoded-check-rounds", "-1"]) == 2
    assert "encoded_check_rounds" in capsys.readouterr().err


def test_gan_mode_with_a_generator_checkpoint(random_checkpoint, tmp_path, capsys):
    src = tmp_path / "in" / "astronaut.png"
    src.parent.mkdir()
    Image.open(DATA / "astronaut.jpg").convert("RGB").save(src)
    out = tmp_path / "out"
    rc = main(
        [
            "-q",
            "anonymize",
            str(src),
            "--out",
            str(out),
            "--checkpoint",
            str(random_checkpoint),
            "--json",
            "--boxes-json",
            str(tmp_path / "b.json"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    faces = json.loads((tmp_path / "b.json").read_text())[str(src)]
    assert len(faces) == 1 and len(faces[0]["keypoints"]) == 7
    original, result = read_image(src).pixels, read_image(out / "astronaut.png").pixels
    region = face_region(faces[0]["bbox"], original.shape, 0.15, 0.1)
    outside = ~union_mask([region], original.shape)
    assert np.array_equal(original[outside], result[outside])
    # The face box is replaced outright (gan mode keeps hair and background around the face).
    x0, y0, x1, y1 = (int(round(v)) for v in faces[0]["bbox"])
    assert (np.abs(original[y0:y1, x0:x1].astype(int) - result[y0:y1, x0:x1]).max(axis=2) > 2).mean() > 0.9
    # Same seed -> same output; another seed -> another face.
    a = ImageAnonymizer(AnonymizeConfig(checkpoint=str(random_checkpoint), seed=5)).anonymize_loaded(read_image(src))
    b = ImageAnonymizer(AnonymizeConfig(checkpoint=str(random_checkpoint), seed=5)).anonymize_loaded(read_image(src))
    c = ImageAnonymizer(AnonymizeConfig(checkpoint=str(random_checkpoint), seed=6)).anonymize_loaded(read_image(src))
    assert np.array_equal(a.pixels, b.pixels) and not np.array_equal(a.pixels, c.pixels)


def test_gan_failure_writes_nothing(tmp_path, capsys):
    src = tmp_path / "astronaut.jpg"
    shutil.copy(DATA / "astronaut.jpg", src)
    out = tmp_path / "out"
    rc = main(["-q", "anonymize", str(src), "--out", str(out), "--checkpoint", str(tmp_path / "missing.safetensors")])
    assert rc == 1
    assert "not found" in capsys.readouterr().err
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_a_file_is_never_written_over_itself(tmp_path, capsys):
    src = tmp_path / "astronaut.jpg"
    shutil.copy(DATA / "astronaut.jpg", src)
    before = src.read_bytes()
    rc = main(["-q", "anonymize", str(src), "--out", str(tmp_path), "--mode", "blur"])
    assert rc == 1
    assert "would overwrite an input" in capsys.readouterr().err
    assert src.read_bytes() == before
    assert main(["-q", "anonymize", str(tmp_path), "--out", str(tmp_path), "--mode", "blur"]) == 2
    assert src.read_bytes() == before


def test_compositing_flags_reach_the_config():
    from pipelines.cli import build_parser
    from pipelines.cli.anonymize import _configs

    parse = build_parser().parse_args
    config, _ = _configs(parse(["anonymize", "x.jpg", "--out", "o"]))
    assert config.face_mask == "outline" and config.colour_match is True and config.tone_match is True
    config, _ = _configs(parse(["anonymize", "x.jpg", "--out", "o", "--face-mask", "box", "--no-colour-match"]))
    assert config.face_mask == "box" and config.colour_match is False
    config, _ = _configs(parse(["anonymize", "x.jpg", "--out", "o", "--no-tone-match"]))
    assert config.colour_match is True and config.tone_match is False
