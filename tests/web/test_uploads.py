"""Upload checks: type by content, size and pixel limits, private storage, clean display names."""

import io
import stat

import pytest
from PIL import Image

from p3mask.web import uploads
from p3mask.web.uploads import UploadError, display_name, store_photo


def _png(size=(64, 48), colour=(120, 90, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_photo_is_stored_privately_under_a_name_from_its_content(tmp_path):
    photo = store_photo(tmp_path, "holiday.jpg", _png())  # a PNG named .jpg
    assert photo.path.parent == tmp_path and photo.path.suffix == ".png" and photo.name == "holiday.jpg"
    assert "holiday" not in photo.path.name  # the user's name never becomes a path
    assert photo.info.size == (64, 48) and photo.info.format == "PNG"
    assert stat.S_IMODE(photo.path.stat().st_mode) == 0o600
    assert photo.path.read_bytes() == _png()


@pytest.mark.parametrize("data, name, problem", [
    (b"these are my notes", "notes.txt", "notes.txt: not a photo"),
    (_png((1, 1)), "tiny.png", "tiny.png: image too small (1x1 pixels; need >= 16x16)"),
    (b"", "empty.jpg", "empty.jpg: the file is empty"),
    (_png()[:60], "cut.png", "cut.png: corrupt or truncated PNG"),
])
def test_bad_uploads_are_refused_with_the_file_and_the_problem(tmp_path, data, name, problem):
    with pytest.raises(UploadError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        store_photo(tmp_path, name, data)
    assert list(tmp_path.iterdir()) == []  # nothing is kept of a refused upload


def test_size_and_pixel_limits(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(UploadError, match=r"big.png: too large"):
        store_photo(tmp_path, "big.png", _png())
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 10**6)
    monkeypatch.setattr(uploads, "MAX_MEGAPIXELS", 0.001)
    with pytest.raises(UploadError, match=r"wide.png: image too large \(0.0 megapixels; limit 0.001\)"):
        store_photo(tmp_path, "wide.png", _png((64, 48)))


def test_unsupported_picture_formats_are_named(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="ICO")
    with pytest.raises(UploadError, match="icon.ico: ICO pictures are not supported"):
        store_photo(tmp_path, "icon.ico", buffer.getvalue())


def test_display_names_lose_folders_and_odd_characters():
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("C:\\Users\\me\\photo 1.jpg") == "photo 1.jpg"
    assert display_name('a"b<c>.png') == "a_b_c_.png"
    assert display_name("...") == "photo" and len(display_name("x" * 300 + ".jpg")) == 100
