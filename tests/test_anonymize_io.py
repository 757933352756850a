"""Reading photos (orientation, modes, bit depths, bad files) and metadata-free writing."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anonymizer.inference import AnonymizeConfig, DetectConfig, ImageAnonymizer, find_faces
from anonymizer.media import ImageReadError, metadata_found, read_image, write_image

DATA = Path(__file__).parent / "data" / "anonymize"


def jpeg_with_gps(src: Path, dst: Path, orientation: int | None = None) -> None:
    """A JPEG carrying camera EXIF, a GPS position and XMP, written with Pillow."""
    img = Image.open(src).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "TestCamera"  # Make
    exif[0x0132] = "2024:01:02 03:04:05"  # DateTime
    if orientation:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (59.0, 54.0, 42.0)
    gps[3], gps[4] = "E", (10.0, 45.0, 7.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    img.save(dst, exif=exif, xmp=xmp, quality=92)


def test_gps_exif_and_xmp_are_gone_from_output(tmp_path):
    src = tmp_path / "gps.jpg"
    jpeg_with_gps(DATA / "astronaut.jpg", src)
    assert {"exif", "gps", "xmp"} <= set(metadata_found(src.read_bytes()))  # the input really has them
    image = read_image(src)
    out = ImageAnonymizer(AnonymizeConfig(mode="blur")).anonymize_loaded(image)
    dst = tmp_path / "out.jpg"
    write_image(dst, out.pixels)
    with Image.open(dst) as back:
        assert len(back.getexif()) == 0
        assert not back.getexif().get_ifd(0x8825)
        assert "xmp" not in back.info and "exif" not in back.info
    assert metadata_found(dst.read_bytes()) == []


def test_exif_orientation_applied_before_detection(tmp_path):
    src = tmp_path / "rotated.jpg"
    # Stored sideways with orientation 6 (viewer rotates 90 degrees clockwise to display).
    upright = Image.open(DATA / "astronaut.jpg").convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(src, exif=exif, quality=95)
    image = read_image(src)
    assert image.pixels.shape[:2] == (upright.height, upright.width)
    faces_rot = find_faces(image.rgb, DetectConfig())
    faces_up = find_faces(np.asarray(upright), DetectConfig())
    assert len(faces_rot) == len(faces_up) == 1
    assert np.allclose(faces_rot[0].bbox, faces_up[0].bbox, atol=6)


def test_grayscale_stays_grayscale_and_exact_outside_faces(tmp_path):
    gray = read_image(DATA / "einstein.jpg")
    assert gray.pixels.ndim == 2 and gray.rgb.shape == gray.pixels.shape + (3,)
    result = ImageAnonymizer(AnonymizeConfig(mode="pixelate")).anonymize_loaded(gray)
    assert result.faces, "einstein.jpg has a face"
    write_image(tmp_path / "g.png", result.pixels)
    back = read_image(tmp_path / "g.png")
    assert back.pixels.ndim == 2 and np.array_equal(back.pixels, result.pixels)
    changed = back.pixels != gray.pixels
    from anonymizer.inference.regions import union_mask

    assert not changed[~union_mask(result.regions, gray.pixels.shape)].any()
    assert changed.any()


def test_rgba_16bit_and_cmyk_inputs(tmp_path):
    rgb = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB"))
    alpha = np.full(rgb.shape[:2], 200, np.uint8)
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "a.png")
    Image.fromarray(rgb[:, :, 1].astype(np.uint16) * 257 + 3).save(tmp_path / "g16.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    anon = ImageAnonymizer(AnonymizeConfig(mode="mask"))
    for name, ndim, dtype in (("a.png", 3, np.uint8), ("g16.png", 2, np.uint16), ("c.jpg", 3, np.uint8)):
        image = read_image(tmp_path / name)
        assert image.pixels.dtype == dtype and image.pixels.ndim == ndim, name
        result = anon.anonymize_loaded(image)
        assert len(result.faces) == 1, name
        write_image(tmp_path / f"out-{name}", result.pixels)
        back = read_image(tmp_path / f"out-{name}")
        assert back.pixels.dtype == dtype, name
        x0, y0, x1, y1 = result.regions[0].core
        assert (back.rgb[y0:y1, x0:x1] < 8).all(), name  # masked black
    assert (read_image(tmp_path / "out-a.png").pixels[..., 3] == 200).all()


def test_large_photo_detected_at_working_resolution(tmp_path):
    big = Image.open(DATA / "astronaut.jpg").convert("RGB").resize((1536, 1536), Image.BICUBIC)
    small_faces = find_faces(
        np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB")), DetectConfig(upscale_small=False)
    )
    faces = find_faces(np.asarray(big), DetectConfig(max_side=384, detail_pass=False))
    assert len(faces) == 1
    assert np.allclose(np.asarray(faces[0].bbox) / 4, small_faces[0].bbox, atol=3)
    big.save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="too large"):
        read_image(tmp_path / "big.png", max_pixels=1_000_000)


def test_bad_files_raise_clear_errors(tmp_path):
    (tmp_path / "text.jpg").write_text("this is not a photo\n")
    data = (DATA / "astronaut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(tmp_path / "text.jpg")
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageReadError, match="not a file"):
        read_image(tmp_path / "missing.jpg")


def test_jpeg_output_tolerance_outside_faces(tmp_path):
    """JPEG re-encoding changes pixels slightly everywhere; measure it stays within a small tolerance."""
    image = read_image(DATA / "astronaut.jpg")
    result = ImageAnonymizer(AnonymizeConfig(mode="blur")).anonymize_loaded(image)
    write_image(tmp_path / "o.jpg", result.pixels)
    back = read_image(tmp_path / "o.jpg").rgb.astype(int)
    from anonymizer.inference.regions import union_mask

    outside = ~union_mask(result.regions, image.rgb.shape)
    diff = np.abs(back - image.rgb.astype(int))[outside]
    assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 8


def test_detail_pass_finds_a_small_face_in_a_large_photo():
    """A 21x28 px face in a 1600x1000 photo with a 400 px working resolution: the single pass sees
    it at a quarter size and boxes it badly; the detail pass (twice the working resolution) finds it."""
    from anonymizer.video.tracker import iou

    face_photo = Image.open(DATA / "astronaut.jpg").convert("RGB").resize((128, 128), Image.LANCZOS)
    (small,) = find_faces(np.asarray(face_photo), DetectConfig())
    canvas = np.full((1000, 1600, 3), 120, np.uint8)
    canvas[600:728, 700:828] = np.asarray(face_photo)
    truth = np.asarray(small.bbox) + [700, 600, 700, 600]
    single = find_faces(canvas, DetectConfig(max_side=400, detail_pass=False))
    detailed = find_faces(canvas, DetectConfig(max_side=400, detail_pass=True))
    assert max((iou(f.bbox, truth) for f in single), default=0) < 0.3
    assert max(iou(f.bbox, truth) for f in detailed) > 0.6
