"""Loading and saving photos: conventions, EXIF, odd modes, and every failure naming its file.

Bad files are generated here in ``tmp_path``; the real photos come from ``data_root()``.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from p3mask.face.image_io import (
    ImageLoadError,
    iter_image_files,
    load_image,
    load_image_with_info,
    save_image,
)
from p3mask.paths import data_root

LFW = "AJ_Cook/AJ_Cook_0001.jpg"


def lfw(rel: str = LFW):
    return data_root() / "lfw" / rel


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` pixels but holds none (cheap "huge" image)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# --- errors, each naming the file --------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match=r"^nothere\.jpg: file not found$"):
        load_image(tmp_path / "nothere.jpg")


def test_text_file_renamed_jpg(tmp_path):
    p = tmp_path / "photo.jpg"
    p.write_text("this is not a picture\n")
    with pytest.raises(ImageLoadError, match=r"^photo\.jpg: not an image \(cannot identify image file\)$") as e:
        load_image(p)
    assert isinstance(e.value, ValueError) and e.value.path == p


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_truncated_jpeg(tmp_path):
    data = lfw().read_bytes()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match=r"^cut\.jpg: corrupt or truncated JPEG"):
        load_image(p)


def test_one_pixel_png(tmp_path):
    p = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(p)
    with pytest.raises(ImageLoadError, match=r"^dot\.png: image too small \(1x1 pixels; need >= 16x16\)$"):
        load_image(p)


@pytest.mark.parametrize(
    ("name", "size", "options", "message"),
    [
        ("huge.png", (12000, 10000), {}, r"^huge\.png: image too large \(120\.0 megapixels; limit 100\)$"),
        ("bomb.png", (30000, 30000), {"max_megapixels": 1000}, r"^bomb\.png: image too large"),  # Pillow's limit
        ("empty.png", (64, 64), {}, r"^empty\.png: corrupt or truncated PNG"),  # a header without pixels
    ],
    ids=["over our limit", "over the Pillow bomb limit", "no pixels"],
)
def test_png_header_alone_is_refused(tmp_path, name, size, options, message):
    p = tmp_path / name
    p.write_bytes(png_header_only(*size))
    with pytest.raises(ImageLoadError, match=message):
        load_image(p, **options)


def test_max_megapixels_argument(tmp_path):
    p = tmp_path / "mid.png"
    Image.new("RGB", (200, 100)).save(p)
    with pytest.raises(ImageLoadError, match=r"image too large \(0\.0 megapixels; limit 0\.01\)"):
        load_image(p, max_megapixels=0.01)
    with pytest.raises(ValueError, match="max_megapixels"):
        load_image(p, max_megapixels=0)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageLoadError, match="is a directory"):
        load_image(tmp_path)


# --- conventions and modes -----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_lfw_jpeg_matches_pillow():
    x = load_image(lfw())
    ref = np.asarray(Image.open(lfw()).convert("RGB"), dtype=np.float32) / 255.0
    assert x.shape == (3, 250, 250) and x.dtype == torch.float32
    assert torch.equal(x, torch.from_numpy(ref).permute(2, 0, 1))


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
@pytest.mark.parametrize(
    "orientation, to_stored",
    [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270),
     (2, Image.Transpose.FLIP_LEFT_RIGHT)],
)
def test_exif_orientation_applied(tmp_path, orientation, to_stored):
    upright = Image.open(lfw()).convert("RGB").crop((0, 0, 250, 200))  # not square: shape shows rotation
    stored = upright.transpose(to_stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = tmp_path / "rotated.png"
    stored.save(p, exif=exif.tobytes())
    x, info = load_image_with_info(p)
    expect = torch.from_numpy(np.asarray(upright, dtype=np.float32) / 255.0).permute(2, 0, 1)
    assert torch.equal(x, expect)
    assert info.size == (250, 200)
    saved = Image.Exif()
    if info.exif:
        saved.load(info.exif)
    assert 0x0112 not in saved


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_greyscale_pgm():
    p = data_root() / "orl" / "s1" / "1.pgm"
    x = load_image(p)
    assert x.shape == (3, 112, 92)
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    ref = np.asarray(Image.open(p), dtype=np.float32) / 255.0
    assert torch.equal(x[0], torch.from_numpy(ref))


def test_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :10, 3] = 0  # transparent -> white
    rgba[:, 10:20, 3] = 255  # opaque -> (200, 0, 0)
    rgba[:, 20:, 3] = 51  # 20% -> 0.2 * colour + 0.8 * white
    p = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(p)
    x = load_image(p)
    assert torch.allclose(x[:, :, :10], torch.ones(3, 20, 10))
    assert torch.allclose(x[:, 0, 15], torch.tensor([200 / 255, 0.0, 0.0]))
    assert torch.allclose(x[:, 0, 25], torch.tensor([0.2 * 200 / 255 + 0.8, 0.8, 0.8]), atol=1e-6)


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (20, 20), 1)
    im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(0, (0, 0, 10, 20))
    p = tmp_path / "pal.gif"
    im.save(p, transparency=0)
    x = load_image(p)
    assert torch.equal(x[:, :, :10], torch.ones(3, 20, 10))  # transparent index -> white
    assert torch.equal(x[:, :, 10:], torch.tensor([0.0, 1.0, 0.0])[:, None, None].expand(3, 20, 10))


def test_sixteen_bit_greyscale(tmp_path):
    a = np.zeros((16, 16), np.uint16)
    a[:, 8:] = 65535
    a[0, 0] = 32768
    p = tmp_path / "deep.png"
    Image.fromarray(a).save(p)
    x = load_image(p)
    assert x.shape == (3, 16, 16)
    assert x[0, 1, 8] == 1.0 and x[0, 1, 0] == 0.0
    assert abs(float(x[1, 0, 0]) - 32768 / 65535) < 1e-6


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_cmyk_jpeg(tmp_path):
    rgb = Image.open(lfw()).convert("RGB")
    p = tmp_path / "cmyk.jpg"
    rgb.convert("CMYK").save(p, quality=98)
    x = load_image(p)
    ref = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)
    assert x.shape == ref.shape and (x - ref).abs().mean() < 0.02


# --- saving ----------------------------------------------------------------------------------------

def test_png_round_trip_exact(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 17, 23), generator=g).float() / 255
    out = save_image(x, tmp_path / "a.png")
    assert torch.equal(load_image(out), x)
    assert [f.name for f in tmp_path.iterdir()] == ["a.png"]  # no temporary left behind


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_save_like_keeps_format_exif_icc(tmp_path):
    src = tmp_path / "src.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x8298] = "Jane Doe"  # Copyright: kept
    icc = b"fake-icc-profile-bytes"
    Image.open(lfw()).save(src, exif=exif.tobytes(), icc_profile=icc, quality=95)
    x, info = load_image_with_info(src)
    assert info.format == "JPEG" and info.icc_profile == icc
    out = save_image(x, tmp_path / "out.jpeg", like=info)
    back = Image.open(out)
    assert back.format == "JPEG" and back.info.get("icc_profile") == icc
    assert back.getexif().get(0x8298) == "Jane Doe" and 0x0112 not in back.getexif()
    assert torch.allclose(load_image(out), x, atol=0.1)  # upright and close (JPEG is lossy)
    assert (load_image(out) - x).abs().mean() < 0.01


def test_save_refuses_source_and_bad_args(tmp_path):
    src = tmp_path / "src.png"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(src)
    x, info = load_image_with_info(src)
    with pytest.raises(ValueError, match="refusing to overwrite the source"):
        save_image(x, src, like=info)
    with pytest.raises(FileExistsError, match="already exists"):
        save_image(x * 0.5, src, like=info, overwrite_source=True)  # overwrite_source alone is not enough
    save_image(x * 0.5, src, like=info, overwrite_source=True, overwrite=True)
    assert load_image(src).max() < 0.01
    with pytest.raises(ValueError, match="suffix '.jpg' means JPEG but the original is PNG"):
        save_image(x, tmp_path / "o.jpg", like=info)
    with pytest.raises(ValueError, match="cannot tell the image format"):
        save_image(x, tmp_path / "o.xyz")
    with pytest.raises(ValueError, match=r"expected \(3,H,W\)"):
        save_image(x[None], tmp_path / "o.png")
    with pytest.raises(ValueError, match=r"expected values in \[0,1\]"):
        save_image(x + 2, tmp_path / "o.png")
    with pytest.raises(TypeError, match="float"):
        save_image((x * 255).to(torch.uint8), tmp_path / "o.png")
    with pytest.raises(ValueError, match="jpeg_quality"):
        save_image(x, tmp_path / "o.jpg", jpeg_quality=0)


# --- finding files ---------------------------------------------------------------------------------

def test_iter_image_files(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in ["a.JPG", "b/c.png", "b/deep/d.webp", "b/notes.txt", ".hidden/e.jpg", "b/.x.jpg.part", "b/.f.png"]:
        (tmp_path / rel).write_bytes(b"")
    extra = tmp_path / "named.txt"
    extra.write_bytes(b"")
    got = iter_image_files([tmp_path, extra, tmp_path / "b" / "c.png"])
    assert got == sorted([tmp_path / "a.JPG", tmp_path / "b/c.png", tmp_path / "b/deep/d.webp", extra])
    assert iter_image_files(str(tmp_path / "b" / "deep")) == [tmp_path / "b/deep/d.webp"]
    assert iter_image_files([tmp_path / "missing.jpg"]) == [tmp_path / "missing.jpg"]


def test_scan_inputs_names_every_file_not_taken(tmp_path):
    from p3mask.face.image_io import scan_inputs

    for rel in ["a.jpg", "sub/b.png", "sub/c.HEIC", ".h.jpg", ".git/d.jpg", "k.learn/jpg/e.jpg", "sub/.x.jpg.part"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    scan = scan_inputs([tmp_path, tmp_path / "a.jpg", tmp_path / "gone.jpg"])
    assert [f for _, f in scan.files] == [tmp_path / "a.jpg", tmp_path / "sub/b.png"]
    reasons = {p.relative_to(tmp_path).as_posix(): why for p, why in scan.skipped}
    assert reasons["sub/c.HEIC"].startswith("unsupported file type '.HEIC'")
    assert reasons[".h.jpg"] == "hidden file" and reasons[".git"] == "hidden folder, not searched"
    assert reasons["k.learn"] == "p3mask learning artefacts, not photos"
    assert reasons["a.jpg"].startswith("given more than once")
    assert "sub/.x.jpg.part" not in reasons  # p3mask's own unfinished writes stay unmentioned
    assert scan.missing == [tmp_path / "gone.jpg"]


def test_cmyk_profile_is_dropped_and_said(tmp_path):
    src = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 32), (10, 20, 30, 0)).save(src, icc_profile=b"cmyk-profile")
    x, info = load_image_with_info(src)
    assert info.icc_profile is None and any("CMYK colour profile is dropped" in n for n in info.notes)
    out = save_image(x, tmp_path / "out.jpg", like=info)
    assert Image.open(out).info.get("icc_profile") is None


def test_unreadable_exif_is_dropped_whole():
    from p3mask.face.image_io import private_exif

    exif, names = private_exif(b"Exif\x00\x00garbage-not-tiff", remove=True)
    assert exif is None and names and "unreadable EXIF" in names[0]


def test_encode_then_write_is_what_save_image_writes(tmp_path):
    from p3mask.atomic import WriteError
    from p3mask.face.image_io import encode_image, write_encoded

    image = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    saved = save_image(image, tmp_path / "a.jpg")
    encoded = encode_image(image, tmp_path / "b.jpg")
    assert (encoded.format, encoded.size) == ("JPEG", (32, 24))
    assert write_encoded(encoded, tmp_path / "b.jpg").read_bytes() == saved.read_bytes()
    with pytest.raises(WriteError, match="already exists"):
        write_encoded(encoded, tmp_path / "b.jpg")
