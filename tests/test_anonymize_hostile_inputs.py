"""`fdf anonymize` against hostile inputs (issue 17, items 2, 10, 11, 12, 13): an output folder
holding a symlink into the input tree, photos past Pillow's own pixel cap, a CMYK JPEG with a
CMYK profile, 48-bit PNGs, and symlink loops named on the command line or inside a folder."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from anonymizer.files import anonymize_paths
from anonymizer.inference import AnonymizeConfig
from anonymizer.media import metadata_found, read_image, write_image

BLUR = AnonymizeConfig(mode="blur")


def _png(path: Path, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path)
    return path.read_bytes()


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_symlinked_folder_in_out_never_leads_outputs_onto_inputs(tmp_path, overwrite):
    (tmp_path / "in" / "nested").mkdir(parents=True)
    original = _png(tmp_path / "in" / "nested" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "nested").symlink_to(tmp_path / "in" / "nested")  # OUT/nested -> the input tree
    report = anonymize_paths([tmp_path / "in"], out, BLUR, overwrite=overwrite, progress=False)
    assert report.counts() == {"done": 0, "skipped": 0, "failed": 1}
    assert "would overwrite an input" in report.failed[0].error and "resolves to" in report.failed[0].error
    assert (tmp_path / "in" / "nested" / "a.png").read_bytes() == original
    assert sorted(p.name for p in (tmp_path / "in" / "nested").iterdir()) == ["a.png"]  # no temporaries


def test_a_symlinked_file_in_out_pointing_at_an_input_is_refused(tmp_path):
    original = _png(tmp_path / "a.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").symlink_to(tmp_path / "a.png")
    report = anonymize_paths([tmp_path / "a.png"], tmp_path / "out", BLUR, overwrite=True, progress=False)
    assert report.counts()["failed"] == 1
    assert (tmp_path / "a.png").read_bytes() == original


def test_pillows_default_cap_does_not_refuse_a_written_photo(tmp_path, monkeypatch):
    # Pillow refuses past 2 x MAX_IMAGE_PIXELS (179 MP by default). A 40 x 30 photo under a cap
    # lowered to 500 pixels is that case at a small size; the 180 MP one below is the real thing.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    src = tmp_path / "in.png"
    _png(src)
    report = anonymize_paths([src], tmp_path / "out", BLUR, progress=False)
    assert report.ok, report.failed
    assert Image.MAX_IMAGE_PIXELS == 500  # and Pillow's global is left as it was


def test_a_180_megapixel_photo_is_written_and_checked(tmp_path):
    pixels = np.zeros((13_500, 13_400), np.uint8)  # 180.9 MP, over Pillow's 178.9 MP error cap
    pixels[::97, ::89] = 255
    path = tmp_path / "big.png"
    write_image(path, pixels)  # raised DecompressionBombError in metadata_found before
    assert metadata_found(path.read_bytes()) == []
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)  # Pillow's own default still refuses it: the cap is raised only inside our calls


def _fake_cmyk_profile() -> bytes:
    """An ICC header saying CMYK (enough for a viewer to apply it; not one LittleCMS can use)."""
    head = bytearray(128)
    head[0:4] = struct.pack(">I", 128)
    head[12:16], head[16:20], head[20:24], head[36:40] = b"prtr", b"CMYK", b"Lab ", b"acsp"
    return bytes(head) + struct.pack(">I", 0)


def test_a_cmyk_jpegs_profile_is_not_attached_to_the_rgb_output(tmp_path):
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (200, 30, 30)
    rgb[:, 32:] = (20, 160, 40)
    src = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(src, quality=95, icc_profile=_fake_cmyk_profile())
    with Image.open(src) as img:
        assert img.mode == "CMYK" and img.info["icc_profile"][16:20] == b"CMYK"
    report = anonymize_paths([src], tmp_path / "out", BLUR, progress=False)
    assert report.ok, report.failed
    with Image.open(tmp_path / "out" / "cmyk.jpg") as out:
        assert out.mode == "RGB"
        assert "icc_profile" not in out.info  # a CMYK profile on RGB pixels is a broken file
        assert np.abs(np.asarray(out).astype(int)[10, 5] - (200, 30, 30)).max() < 40
    # an RGB photo's own RGB profile is still kept
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=95, icc_profile=srgb)
    anonymize_paths([tmp_path / "rgb.jpg"], tmp_path / "out", BLUR, progress=False)
    with Image.open(tmp_path / "out" / "rgb.jpg") as out:
        assert out.info.get("icc_profile") == srgb


def _png16(path: Path, arr: np.ndarray, chunks: list[tuple[bytes, bytes]] = ()) -> None:
    """A 16-bit colour PNG from RGB(A) ``arr`` (OpenCV writes it), plus extra chunks after IHDR."""
    code = cv2.COLOR_RGB2BGR if arr.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    data = cv2.imencode(".png", cv2.cvtColor(arr, code))[1].tobytes()
    extra = b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)) for kind, body in chunks
    )
    path.write_bytes(data[:33] + extra + data[33:])


def test_48_and_64_bit_pngs_keep_16_bits(tmp_path):
    rng = np.random.default_rng(1)
    for name, channels in (("rgb48.png", 3), ("rgba64.png", 4)):
        arr = rng.integers(0, 65536, (30, 50, channels), dtype=np.uint16)
        arr[..., 0] |= 1  # low bits that 8 bits cannot hold
        _png16(tmp_path / name, arr)
        report = anonymize_paths([tmp_path / name], tmp_path / "out", BLUR, progress=False)
        assert report.ok, report.failed
        back = cv2.imread(str(tmp_path / "out" / name), cv2.IMREAD_UNCHANGED)
        assert back.dtype == np.uint16
        code = cv2.COLOR_BGR2RGB if channels == 3 else cv2.COLOR_BGRA2RGBA
        assert np.array_equal(cv2.cvtColor(back, code), arr)  # no face: every value kept exactly
        assert metadata_found((tmp_path / "out" / name).read_bytes()) == []


def test_a_48_bit_png_keeps_its_profile_and_orientation(tmp_path):
    arr = np.random.default_rng(2).integers(0, 65536, (20, 36, 3), dtype=np.uint16)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    _png16(tmp_path / "p.png", arr, [(b"iCCP", b"p\0\0" + zlib.compress(srgb)), (b"eXIf", exif.tobytes()[6:])])
    loaded = read_image(tmp_path / "p.png")
    assert loaded.pixels.dtype == np.uint16 and np.array_equal(loaded.pixels, np.rot90(arr, k=-1))
    write_image(tmp_path / "o.png", loaded.pixels, loaded.icc_profile)
    with Image.open(tmp_path / "o.png") as out:
        assert out.info.get("icc_profile") == srgb and len(out.getexif()) == 0


def test_a_48_bit_tiff_keeps_16_bits(tmp_path):
    arr = np.random.default_rng(3).integers(0, 65536, (24, 40, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "t.tif"), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    report = anonymize_paths([tmp_path / "t.tif"], tmp_path / "out", BLUR, progress=False)
    assert report.ok, report.failed
    back = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "t.tif"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, arr)


def test_symlink_loops_are_reported_per_input_without_a_traceback(tmp_path):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "self.jpg").symlink_to(tmp_path / "self.jpg")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    _png(tree / "sub" / "a.png")
    (tree / "sub" / "up").symlink_to(tree)  # a folder loop inside an input folder
    good = tmp_path / "good.png"
    _png(good, seed=5)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "anonymize",
            str(tmp_path / "loop1"),
            str(tmp_path / "self.jpg"),
            str(tree),
            str(good),
            "--out",
            str(tmp_path / "out"),
            "--mode",
            "blur",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.count("failed (no output written)") == 2 and "leads nowhere" in res.stderr
    assert "anonymized 2 files" in res.stdout  # tree/sub/a.png once, and good.png
    assert (tmp_path / "out" / "good.png").is_file() and (tmp_path / "out" / "sub" / "a.png").is_file()
    assert not os.path.exists(tmp_path / "out" / "sub" / "up")


def test_a_killed_run_leaves_only_temporaries_the_rerun_removes(tmp_path):
    import signal
    import time

    import imageio_ffmpeg

    clip = tmp_path / "in" / "long.mp4"
    clip.parent.mkdir()
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=30",
            "-pix_fmt",
            "yuv420p",
            str(clip),
        ],
        check=True,
        timeout=120,
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fdf", "anonymize", str(tmp_path / "in"), "--out", str(out), "--mode", "blur"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".long.mp4.*.tmp")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, "finished before it could be killed"
        time.sleep(1.0)  # a few frames into the encode
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    leftovers = list(out.glob(".long.mp4.*.tmp"))
    assert leftovers and not (out / "long.mp4").exists()
    (out / ".notes.tmp").write_text("mine")  # a hidden file of the user's, not one of ours
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert (out / "long.mp4").is_file()
    assert sorted(p.name for p in out.iterdir()) == [".notes.tmp", "long.mp4"]


def test_two_runs_cannot_share_an_output_folder(tmp_path):
    from filelock import FileLock

    from anonymizer.files import OutputPlanError, lock_path

    _png(tmp_path / "a.png")
    (tmp_path / "out").mkdir()
    with FileLock(str(lock_path(tmp_path / "out"))):
        with pytest.raises(OutputPlanError, match="in use by another fdf anonymize"):
            anonymize_paths([tmp_path / "a.png"], tmp_path / "out", BLUR, progress=False)
    assert anonymize_paths([tmp_path / "a.png"], tmp_path / "out", BLUR, progress=False).ok
