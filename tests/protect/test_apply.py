"""Applying a key: only the user's face is masked, the perceptual floor holds, files are never overwritten.

Uses a toy recogniser as the key's matcher and given detections, so no weights are needed.
"""

from dataclasses import replace

import pytest
import torch
from learning_toys import TOY_FRAME_TEMPLATE, TOY_TEMPLATE, ToyRecognizer
from PIL import Image

from p3mask.face.align import align_faces
from p3mask.face.detect import Detections
from p3mask.face.image_io import load_image
from p3mask.protect.apply import _mask_face, protect_files, protect_image
from p3mask.protect.face_choice import FaceIndexError, FacePolicy
from p3mask.protect.key import P3Mask
from p3mask.quality import face_in_context, ssimulacra2

USER_AT, STRANGER_AT = (8.0, 10.0), (58.0, 62.0)


def _photo(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 12, 10, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(120, 100), mode="bilinear", align_corners=False)[0]


def _detections(*offsets) -> Detections:
    lmk = torch.stack([torch.tensor(TOY_TEMPLATE) * 1.2 + torch.tensor(o) for o in offsets])
    boxes = torch.stack([torch.cat([lm.min(0).values - 8, lm.max(0).values + 8]) for lm in lmk])
    return Detections(boxes, lmk, torch.full((len(offsets),), 0.9))


def _key(matcher, image, epsilon=2 / 255, floor=60.0) -> P3Mask:
    crops, _ = align_faces(image, _detections(USER_AT).landmarks, matcher.template, matcher.input_size)
    with torch.no_grad():
        reference = matcher(crops)[0]
    g = torch.Generator().manual_seed(1)
    mask = (torch.rand(3, 40, 40, generator=g) * 2 - 1) * epsilon
    return P3Mask(mask=mask, epsilon=epsilon, frame_size=(40, 40), template=TOY_FRAME_TEMPLATE, team=("a",),
                  quality_floor=floor, quality_min=floor, quality_mean=floor, preset="mid", user="alice",
                  references={"a": reference}, match_model="a", match_threshold=0.99, photos=1)


def _quality(protected: torch.Tensor, original: torch.Tensor, box) -> float:
    """SSIMULACRA2 of the face in context, computed from scratch in float64."""
    y0, y1, x0, x1 = face_in_context(box, *original.shape[1:])
    original, protected = (t[:, y0:y1, x0:x1][None].double() for t in (original, protected))
    return float(ssimulacra2(original, protected))


class _StubDetector:
    def __init__(self, detections):
        self.detections = detections

    def detect(self, image):
        return self.detections


def test_only_the_users_face_is_masked():
    image, matcher = (_photo() * 255).round() / 255, ToyRecognizer(0).eval()
    key = _key(matcher, image)
    dets = _detections(USER_AT, STRANGER_AT)
    protected, report = protect_image(key, image, matcher=matcher, detections=dets)
    assert [f.protected for f in report.faces] == [True, False]
    assert report.protected == 1 and report.left == 1
    changed = (protected - image).abs().amax(0) > 0
    x1, y1, x2, y2 = (int(v) for v in dets.boxes[1])
    assert not changed[y1:y2, x1:x2].any()  # the stranger is untouched
    assert changed.any()
    assert float((protected - image).abs().max()) <= key.epsilon + 0.5 / 255 + 1e-6  # rounded to 8-bit levels
    assert torch.equal(image, (_photo() * 255).round() / 255)  # the input is not modified
    face = report.faces[0]
    assert face.strength == 1.0 and face.quality >= key.quality_floor
    assert abs(face.quality - _quality(protected, image, face.box)) < 0.01
    y0, y1, x0, x1 = face_in_context(face.box, *image.shape[1:])
    outside = changed.clone()
    outside[y0:y1, x0:x1] = False
    assert not outside.any()  # every change lies in the face in context, where it is measured


def test_strong_mask_is_weakened_to_hold_the_floor():
    image, matcher = (_photo(2) * 255).round() / 255, ToyRecognizer(0).eval()
    key = _key(matcher, image, epsilon=0.5, floor=70.0)
    protected, report = protect_image(key, image, matcher=matcher, detections=_detections(USER_AT))
    face = report.faces[0]
    assert face.protected and 0 < face.strength < 1
    measured = _quality(protected, image, face.box)
    assert measured >= 70.0 and abs(measured - face.quality) < 0.01
    assert face.ssim is not None and 0 < face.ssim < 1  # SSIM stays a reported figure


def test_floor_search_leaves_little_headroom():
    image, matcher = (_photo(4) * 255).round() / 255, ToyRecognizer(0).eval()
    key = _key(matcher, image, epsilon=0.5, floor=70.0)
    protected, report = protect_image(key, image, matcher=matcher, detections=_detections(USER_AT))
    face = report.faces[0]
    assert 0 < face.strength < 1 and 70.0 <= face.quality <= 70.0 + 0.2
    stronger = (image + (protected - image) * 1.05).clamp(0, 1)  # 5% more mask breaks the floor
    assert _quality(stronger, image, face.box) < 70.0


def test_floor_holds_on_the_8bit_photo_that_is_saved():
    image, matcher = (_photo(2) * 255).round() / 255, ToyRecognizer(0).eval()
    key = _key(matcher, image, epsilon=0.5, floor=70.0)
    protected, report = protect_image(key, image, matcher=matcher, detections=_detections(USER_AT))
    levels = protected * 255
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # whole 8-bit levels: saving changes nothing
    saved = (protected * 255).round() / 255
    assert _quality(saved, image, report.faces[0].box) >= 70.0


def test_floor_is_measured_against_the_original_when_faces_overlap():
    original, matcher = (_photo(3) * 255).round() / 255, ToyRecognizer(0).eval()
    key = _key(matcher, original, epsilon=0.5, floor=70.0)
    dets = _detections(USER_AT)
    working = original.clone()
    working[:, 20:60, 15:55] = (working[:, 20:60, 15:55] + 2 / 255).clamp(0, 1)  # another face's mask was here
    quality, _, strength, _ = _mask_face(key, working, original, dets.landmarks[0], dets.boxes[0].tolist())
    assert 0 < strength < 1 and quality >= 70.0
    assert abs(_quality(working, original, dets.boxes[0].tolist()) - quality) < 0.01


def test_floor_holds_on_every_face_when_a_later_mask_reaches_an_earlier_face():
    original, matcher = (_photo(4) * 255).round() / 255, ToyRecognizer(0).eval()
    key = replace(_key(matcher, original, epsilon=0.5, floor=70.0), match_threshold=-1.0)  # every face is hers
    near = (USER_AT[0] + 22.0, USER_AT[1] + 6.0)  # a second face whose context overlaps the first's
    dets = _detections(USER_AT, near)
    protected, report = protect_image(key, original, matcher=matcher, detections=dets)
    assert [f.protected for f in report.faces] == [True, True]
    for face in report.faces:
        measured = _quality(protected, original, face.box)
        assert measured >= 70.0 - 0.01  # the first face keeps its floor after the second was masked
        assert abs(measured - face.quality) < 0.01  # and the report gives the quality of the final photo
    # Without the neighbour check, the second mask would have pushed the first face below its floor.
    alone = original.clone()
    first_box, second_box = dets.boxes[0].tolist(), dets.boxes[1].tolist()
    _mask_face(key, alone, original, dets.landmarks[0], first_box)
    _mask_face(key, alone, original, dets.landmarks[1], second_box)
    assert _quality(alone, original, first_box) < 70.0


def test_no_face_and_stranger_only():
    image, matcher = _photo(), ToyRecognizer(0).eval()
    key = _key(matcher, image)
    out, report = protect_image(key, image, matcher=matcher, detections=Detections.empty())
    assert report.faces == [] and torch.equal(out, image)
    strict = FacePolicy("strict")
    out, report = protect_image(key, image, matcher=matcher, detections=_detections(STRANGER_AT), policy=strict)
    assert report.protected == 0 and torch.equal(out, image)
    assert report.faces[0].reason == "stranger" and report.faces[0].cosine < key.match_threshold


def test_one_face_below_the_threshold_is_protected_on_doubt():
    image, matcher = _photo(), ToyRecognizer(0).eval()
    key = _key(matcher, image)
    out, report = protect_image(key, image, matcher=matcher, detections=_detections(STRANGER_AT))
    assert report.faces[0].cosine < key.match_threshold
    assert report.protected == 1 and report.faces[0].reason == "doubt" and not torch.equal(out, image)


def test_several_faces_none_plausible_are_left_and_flags_protect_them():
    image, matcher = _photo(), ToyRecognizer(0).eval()
    key = replace(_key(matcher, image), match_threshold=1.5)  # nothing is a sure match
    dets = _detections(USER_AT, STRANGER_AT)
    out, report = protect_image(key, image, matcher=matcher, detections=dets, doubt_threshold=1.2)
    assert [f.reason for f in report.faces] == ["stranger", "stranger"] and torch.equal(out, image)
    out, report = protect_image(key, image, matcher=matcher, detections=dets, policy=FacePolicy("all"))
    assert [f.reason for f in report.faces] == ["flag", "flag"] and report.protected == 2
    out, report = protect_image(key, image, matcher=matcher, detections=dets, policy=FacePolicy("index", (1,)))
    assert [f.protected for f in report.faces] == [False, True]
    with pytest.raises(FaceIndexError, match="face 2 asked for, but the photo has 2 face"):
        protect_image(key, image, matcher=matcher, detections=dets, policy=FacePolicy("index", (2,)))


def test_files_written_beside_never_over_originals(tmp_path):
    image, matcher = _photo(), ToyRecognizer(0).eval()
    key = _key(matcher, image)
    src = tmp_path / "in"
    src.mkdir()
    array = (image * 255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(array).save(src / "me.png")
    (src / "broken.jpg").write_text("not a photo")
    original = (src / "me.png").read_bytes()
    outcomes = protect_files(key, [src], tmp_path / "out", detector=_StubDetector(_detections(USER_AT)),
                             matcher=matcher)
    by_name = {o.source.name: o for o in outcomes}
    assert by_name["me.png"].ok and (tmp_path / "out" / "me.png").is_file()
    assert not by_name["broken.jpg"].ok and "broken.jpg" not in {p.name for p in (tmp_path / "out").iterdir()}
    assert (src / "me.png").read_bytes() == original
    assert not torch.equal(load_image(tmp_path / "out" / "me.png"), load_image(src / "me.png"))
    stranger = protect_files(key, [src / "me.png"], tmp_path / "out2", detector=_StubDetector(_detections(STRANGER_AT)),
                             matcher=matcher, policy=FacePolicy("strict"))
    assert not stranger[0].ok and "left unprotected" in stranger[0].error
    assert not (tmp_path / "out2" / "me.png").exists()
    missing = protect_files(key, [src / "me.png"], tmp_path / "out3", detector=_StubDetector(_detections(STRANGER_AT)),
                            matcher=matcher, policy=FacePolicy("index", (3,)))
    assert not missing[0].ok and "face 3 asked for" in missing[0].error and not (tmp_path / "out3").exists()


def test_matcher_must_be_the_keys_model():
    image, matcher = _photo(), ToyRecognizer(0).eval()
    key = _key(matcher, image)
    with pytest.raises(ValueError, match="matches faces with 'a'"):
        protect_image(key, image, matcher=ToyRecognizer(0, name="b"), detections=_detections(USER_AT))
