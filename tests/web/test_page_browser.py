"""The page as a person uses it, in headless chromium: make a key from real LFW photos, download it,
protect photos, check what was downloaded, unlock them; bad uploads get a clear message; two tabs
learn at once. Timings (page load, one protect) are printed, not asserted.
"""

from __future__ import annotations

import re
import time
import zipfile

import pytest
import torch
from PIL import Image
from serve_helpers import lfw_photos

from p3mask.face.align import estimate_similarity, invert_affine
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import load_image, load_image_with_info, save_image
from p3mask.protect.key import P3Mask
from p3mask.quality import face_in_context

pytestmark = pytest.mark.slow

USER, OTHER = "Jennifer_Capriati", "Tony_Blair"
LEARN_PHOTOS, EPOCHS = 8, 2  # a short key: the test checks the page, not the protection's strength
STEP_S = 240_000  # ms a learning run may take in the page on a busy 2-core machine


def open_page(browser, server):
    """A new tab on the page (its own session); ``page.js_errors`` collects the page's script errors."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    start = time.perf_counter()
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']")
    return page, time.perf_counter() - start


def add_photos(page, selector, paths, expect):
    """Give ``paths`` to a file input and wait until ``expect`` photo cards have their verdict."""
    page.set_input_files(selector, [str(p) for p in paths])
    page.wait_for_function(f"document.querySelectorAll('#learn-list .card').length >= {expect} && "
                           "[...document.querySelectorAll('#learn-list .card .msg')].every(m => "
                           "!/checking|finding/.test(m.textContent))", timeout=120_000)


def learn_key(page, user, epochs, shot=None):
    page.fill("#user-name", user)
    page.click("summary")
    page.fill("#epochs", str(epochs))
    page.click("#learn-btn")
    if shot is not None:
        page.wait_for_function("/pass 1 of/.test(document.getElementById('progress-text').textContent)",
                               timeout=STEP_S)
        page.screenshot(path=shot, full_page=True)


def download(page, selector, folder):
    with page.expect_download() as info:
        page.click(selector)
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return target


def wait_results(page, listing, n):
    page.wait_for_function(f"document.querySelectorAll('{listing} .result[data-done]').length >= {n}",
                           timeout=120_000)


def resaved(original, folder):
    """The original written the way protect writes its copy (same format, quality, metadata): the
    baseline a protected copy is compared with, so JPEG re-encoding alone counts as no change."""
    image, info = load_image_with_info(original)
    return load_image(save_image(image, folder / f"resaved_{original.name}", like=info))


def face_window(detector, image):
    box = detector.detect(image).boxes[0].tolist()
    return face_in_context(box, image.shape[1], image.shape[2]), box


def mask_footprint(detector, image, key):
    """``(y0, y1, x0, x1)``: the photo pixels the key's mask frame covers on the largest face, widened by
    one 8x8 JPEG block (a block the mask touches is encoded anew as a whole)."""
    landmarks = detector.detect(image).landmarks[:1].float()
    h, w = key.frame_size
    to_frame = estimate_similarity(landmarks, torch.tensor(key.template))
    corners = torch.tensor([[0.0, 0.0, w, w], [0.0, h, 0.0, h], [1.0] * 4])
    xs, ys = invert_affine(to_frame)[0] @ corners
    return (max(0, int(ys.min()) // 8 * 8 - 8), int(ys.max()) // 8 * 8 + 16,
            max(0, int(xs.min()) // 8 * 8 - 8), int(xs.max()) // 8 * 8 + 16)


def test_make_key_protect_and_unlock(browser, server, shots, tmp_path, capsys):
    photos = lfw_photos(USER)
    train, new = photos[:LEARN_PHOTOS], photos[LEARN_PHOTOS:LEARN_PHOTOS + 3]
    page, load_s = open_page(browser, server)
    page.screenshot(path=shots / "01_page.png", full_page=True)

    # 1. Make my key: the faces found are boxed and ticked, then a short key is learned and downloaded.
    add_photos(page, "#learn-files", train, LEARN_PHOTOS)
    assert page.locator("#learn-list .card.bad").count() == 0
    assert page.locator("#learn-list .box.user").count() == LEARN_PHOTOS
    assert page.locator("#learn-list input[type=checkbox]:checked").count() == LEARN_PHOTOS
    page.screenshot(path=shots / "02_faces_found.png", full_page=True)
    learn_key(page, "jennifer", EPOCHS, shot=shots / "03_learning.png")
    page.wait_for_selector("#learn-done, #learn-error", timeout=STEP_S)
    assert page.locator("#learn-error").count() == 0, page.inner_text("#learn-result")
    assert "secret" in page.inner_text(".secret")
    page.screenshot(path=shots / "04_key_ready.png", full_page=True)
    key = P3Mask.load(download(page, "#key-download", tmp_path))
    assert (key.user, key.photos) == ("jennifer", LEARN_PHOTOS)

    # 2. Protect two photos, download them one by one and as a zip.
    page.click("#tab-protect")
    assert "jennifer" in page.inner_text("#key-status")
    page.set_input_files("#protect-files", [str(p) for p in new[:2]])
    wait_results(page, "#protect-list", 2)
    assert page.locator("#protect-list .result.bad").count() == 0, page.inner_text("#protect-list")
    assert page.locator("#protect-list .box.protected").count() == 2
    page.wait_for_function("document.querySelectorAll('#protect-list .result[data-verdicts]').length == 2",
                           timeout=120_000)
    verdicts = page.locator("#protect-list .verdicts li").all_inner_texts()
    assert len(verdicts) == 2 * len({*key.team, key.match_model})
    assert all(re.fullmatch(r"\S+ (still|no longer) matches you \(score .+\)|\S+ did not match you even before "
                            r"protection|\S+: no face found in the protected photo .*", v) for v in verdicts), verdicts
    page.locator("#protect-list .slider").first.fill("30")
    page.screenshot(path=shots / "05_protected.png", full_page=True)
    page.locator("#protect-list .result").first.screenshot(path=shots / "05_protected_one.png")
    links = page.locator("#protect-list a.download")
    downloaded = {}
    for i in range(links.count()):
        with page.expect_download() as info:
            links.nth(i).click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        downloaded[target.name.removeprefix("protected_")] = target
    assert sorted(downloaded) == sorted(p.name for p in new[:2])
    with zipfile.ZipFile(download(page, "#zip-download", tmp_path)) as archive:
        assert sorted(archive.namelist()) == sorted(f"protected_{p.name}" for p in new[:2])

    # The copies decode, and differ from the originals around the face only: outside the mask frame's
    # footprint on the face they are the original written the same way, pixel for pixel.
    detector = FaceDetector()
    for original in new[:2]:
        protected = load_image(downloaded[original.name])
        baseline = resaved(original, tmp_path)
        assert protected.shape == baseline.shape
        y0, y1, x0, x1 = mask_footprint(detector, load_image(original), key)
        _, box = face_window(detector, load_image(original))
        assert y1 - y0 < 2 * (box[3] - box[1]) and x1 - x0 < 2 * (box[2] - box[0])  # around the face
        change = (protected - baseline).abs().amax(0)
        outside = torch.ones_like(change, dtype=torch.bool)
        outside[y0:y1, x0:x1] = False
        assert int(outside.sum()) > 0.3 * outside.numel() and float(change[outside].max()) == 0.0, original.name
        face = change[int(box[1]):int(box[3]), int(box[0]):int(box[2])]
        assert float(face.mean()) > 1.0 / 255.0, original.name  # the mask is there

    # One 250x250 photo protected with the key loaded (the models are warm): as a person waits for it.
    start = time.perf_counter()
    page.set_input_files("#protect-files", [str(new[2])])
    wait_results(page, "#protect-list", 3)
    page.wait_for_function("(() => { const img = document.querySelector('#protect-list .result .after-img'); "
                           "return img && img.complete && img.naturalWidth === 250; })()")
    protect_s = time.perf_counter() - start  # the protected copy is on screen
    page.wait_for_function("document.querySelectorAll('#protect-list .result[data-verdicts]').length == 3",
                           timeout=120_000)
    verdict_s = time.perf_counter() - start
    assert Image.open(new[2]).size == (250, 250)

    # 3. Unlock, as someone given the key: the unlocked copies are closer to the originals.
    page.click("#tab-unlock")
    page.set_input_files("#unlock-key-file", str(tmp_path / "jennifer.p3m"))
    page.wait_for_function("/loaded/.test(document.getElementById('unlock-key-status').textContent)")
    page.set_input_files("#unlock-files", [str(downloaded[p.name]) for p in new[:2]])
    wait_results(page, "#unlock-list", 2)
    assert page.locator("#unlock-list .result.bad").count() == 0, page.inner_text("#unlock-list")
    page.screenshot(path=shots / "06_unlocked.png", full_page=True)
    links = page.locator("#unlock-list a.download")
    assert links.count() == 2
    for i in range(2):
        with page.expect_download() as info:
            links.nth(i).click()
        name = info.value.suggested_filename.removeprefix("unlocked_protected_")
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        original = next(p for p in new[:2] if p.name == name)
        clean, (y0, y1, x0, x1) = load_image(original), face_window(detector, load_image(original))[0]
        window = (slice(None), slice(y0, y1), slice(x0, x1))
        before = float((load_image(downloaded[name])[window] - clean[window]).abs().mean())
        after = float((load_image(target)[window] - clean[window]).abs().mean())
        assert after < before, (name, before, after)
    assert page.js_errors == []
    with capsys.disabled():
        print(f"\npage load {load_s * 1000:.0f} ms; one 250x250 photo, key loaded: protected copy shown "
              f"{protect_s * 1000:.0f} ms after choosing it, recognisers' verdicts {verdict_s * 1000:.0f} ms")


def test_bad_uploads_are_explained_on_the_page(browser, server, shots, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("these are my notes, not a photo")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), (200, 150, 120)).save(tiny)
    # A real photo without a face: the top-left corner of an LFW photo (background), enlarged.
    no_face = tmp_path / "no_face.jpg"
    with Image.open(lfw_photos(OTHER)[0]) as im:
        im.crop((0, 0, 70, 70)).resize((210, 210)).save(no_face, quality=95)
    assert FaceDetector().detect(load_image(no_face)).is_empty  # the premise of this photo
    page, _ = open_page(browser, server)
    add_photos(page, "#learn-files", [text, tiny, no_face], 3)
    cards = {page.locator(".card .name").nth(i).inner_text(): page.locator(".card .msg").nth(i).inner_text()
             for i in range(3)}
    assert page.locator("#learn-list .card.bad").count() == 3
    assert "not a photo" in cards["notes.txt"]
    assert "image too small (1x1 pixels" in cards["tiny.png"]
    assert "not usable: no face found" in cards["no_face.jpg"]
    assert page.locator("#learn-btn").is_disabled()
    page.screenshot(path=shots / "07_bad_uploads.png", full_page=True)
    page.click("#tab-protect")
    page.set_input_files("#key-file", str(text))
    page.wait_for_function("/not a usable p3mask key/.test(document.getElementById('key-status').textContent)")
    page.set_input_files("#protect-files", str(no_face))
    wait_results(page, "#protect-list", 1)
    assert "make a key or load your saved key first" in page.inner_text("#protect-list")
    assert page.js_errors == []


def test_two_tabs_learn_at_once_each_their_own_key(browser, server, tmp_path):
    tabs = {"alice": (lfw_photos(USER)[20:23], 3), "bob": (lfw_photos(OTHER)[:4], 4)}
    pages = {}
    for user, (photos, n) in tabs.items():
        pages[user], _ = open_page(browser, server)
        add_photos(pages[user], "#learn-files", photos, n)
    for user, page in pages.items():  # both started before either is done
        learn_key(page, user, 1)
    keys = {}
    for user, page in pages.items():
        page.wait_for_selector("#learn-done, #learn-error", timeout=STEP_S)
        assert page.locator("#learn-error").count() == 0, page.inner_text("#learn-result")
        keys[user] = P3Mask.load(download(page, "#key-download", tmp_path))
        assert (keys[user].user, keys[user].photos) == (user, tabs[user][1])
    assert all(page.js_errors == [] for page in pages.values())
    match = keys["alice"].match_model
    assert float(keys["alice"].references[match] @ keys["bob"].references[match]) < 0.5  # two people's keys
