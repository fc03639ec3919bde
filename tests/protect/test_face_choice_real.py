"""Fail-safe face choice on real LFW photos with the real match model (slow).

The key's reference is the user's real mobilefacenet reference, made as ``p3mask learn`` makes it
(:func:`build_training_set`) from the first train photo of the evaluation's 70/30 split (a key learned
from a single photo: with all 70% no test photo of the 80 users measured by ``p3mask bench choice``
falls below the match threshold), and its match threshold is the calibrated one; only its mask is a
seeded random one within epsilon instead of a learned one, since which faces are chosen does not
depend on the mask.
"""

import random

import pytest
import torch

from p3mask.bench.choice import face_in_tile, side_by_side
from p3mask.cli.main import main
from p3mask.datasets.lfw import load_lfw
from p3mask.evaluate.users import split_user
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import load_image, save_image
from p3mask.models import load_model
from p3mask.models.thresholds import doubt_threshold, match_threshold
from p3mask.protect.apply import protect_files, protect_image
from p3mask.protect.config import get_config
from p3mask.protect.face_choice import FacePolicy
from p3mask.protect.key import P3Mask
from p3mask.protect.trainset import build_training_set, model_frames

pytestmark = [pytest.mark.slow, pytest.mark.data, pytest.mark.weights]

MATCH_MODEL = "mobilefacenet"
USER = "Jennifer_Lopez"
HARD_PHOTO = "Jennifer_Lopez_0019.jpg"  # a test photo with one face, below the match threshold (found by a scan)
STRANGERS = ("Tony_Blair", "Colin_Powell")


@pytest.fixture(scope="module")
def setting():
    lfw = load_lfw()
    detector, matcher = FaceDetector(), load_model(MATCH_MODEL, "cpu")
    config = get_config("mid", match_model=MATCH_MODEL)
    train, test = split_user(lfw, USER, 0.7, 0, 30)
    train = train[:1]
    frames = [(config.frame_template, config.frame_size)] + model_frames({MATCH_MODEL: matcher})
    _, reference = build_training_set([load_image(p) for p in train], [p.name for p in train], detector, matcher,
                                      match_threshold(MATCH_MODEL), frames, config.max_face_scale)
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(3, *config.frame_size, generator=g) * 2 - 1) * config.epsilon
    key = P3Mask(mask=mask, epsilon=config.epsilon, frame_size=config.frame_size, template=config.frame_template,
                 team=("mobileface",), quality_floor=config.quality_floor, quality_min=config.quality_floor,
                 quality_mean=config.quality_floor, preset="mid", user=USER, references={MATCH_MODEL: reference},
                 match_model=MATCH_MODEL, match_threshold=match_threshold(MATCH_MODEL), photos=len(train))
    return lfw, detector, matcher, key, test


def _strangers(lfw, k=2):
    rng = random.Random(0)
    return [load_image(rng.choice(sorted(lfw.identities[name]))) for name in STRANGERS[:k]]


def test_hard_one_face_photo_of_the_user_is_protected_on_doubt_and_refused_when_strict(setting, tmp_path, capsys):
    lfw, detector, matcher, key, test = setting
    photo = next(p for p in test if p.name == HARD_PHOTO)  # a test photo: not one the reference was made from
    image = load_image(photo)
    protected, report = protect_image(key, image, detector=detector, matcher=matcher)
    assert len(report.faces) == 1 and report.faces[0].cosine < key.match_threshold  # the hard case itself
    assert report.faces[0].protected and report.faces[0].reason == "doubt"
    assert not torch.equal(protected, image)
    key_path = key.save(tmp_path / "jl.p3m")
    common = ["protect", "--key", str(key_path), str(photo), "--device", "cpu"]
    assert main([*common, "--out", str(tmp_path / "strict"), "--strict-match"]) == 1
    assert not (tmp_path / "strict").exists() or not any((tmp_path / "strict").iterdir())
    assert "face 0 left (stranger, score" in capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "safe"), "--json", str(tmp_path / "s.json")]) == 0
    assert (tmp_path / "safe" / HARD_PHOTO).is_file()
    assert '"reason": "doubt"' in (tmp_path / "s.json").read_text()


def test_two_strangers_and_no_user_are_left_and_reported(setting, tmp_path):
    lfw, detector, matcher, key, _ = setting
    photo, _ = side_by_side(_strangers(lfw))
    save_image(photo, tmp_path / "in" / "strangers.png")
    [outcome] = protect_files(key, [tmp_path / "in"], tmp_path / "out", detector=detector, matcher=matcher)
    assert not outcome.ok and "left unprotected" in outcome.error
    assert len(outcome.report.faces) == 2
    assert all(f.reason == "stranger" and f.cosine < doubt_threshold(MATCH_MODEL) for f in outcome.report.faces)
    assert not (tmp_path / "out").exists()
    _, everyone = protect_image(key, photo, detector=detector, matcher=matcher, policy=FacePolicy("all"))
    assert [(f.protected, f.reason) for f in everyone.faces] == [(True, "flag"), (True, "flag")]


def test_group_photo_protects_the_user_and_leaves_the_others_byte_identical(setting, tmp_path, capsys):
    lfw, detector, matcher, key, test = setting
    user_image = load_image(next(p for p in test if p.name != HARD_PHOTO))
    tiles = [_strangers(lfw)[0], user_image, _strangers(lfw)[1]]
    photo, offsets = side_by_side(tiles)
    save_image(photo, tmp_path / "in" / "group.png")
    original = load_image(tmp_path / "in" / "group.png")
    [outcome] = protect_files(key, [tmp_path / "in"], tmp_path / "out", detector=detector, matcher=matcher)
    assert outcome.ok
    dets = detector.detect(original)
    user = face_in_tile(dets, offsets[1], user_image.shape[2], user_image.shape[1])
    faces = outcome.report.faces
    assert len(faces) >= 3 and faces[user].protected and faces[user].reason == "match"
    saved = load_image(outcome.output)
    for i, face in enumerate(faces):
        if i == user:
            continue
        assert not face.protected and face.reason == "stranger"
        x1, y1, x2, y2 = (int(v) for v in face.box)
        box = (slice(None), slice(max(y1, 0), y2 + 1), slice(max(x1, 0), x2 + 1))
        assert torch.equal(saved[box], original[box])  # the stranger's face is byte-identical
    assert not torch.equal(saved, original)
    _, everyone = protect_image(key, original, detector=detector, matcher=matcher, policy=FacePolicy("all"))
    assert all(f.protected for f in everyone.faces) and len(everyone.faces) == len(faces)
    # `p3mask faces` numbers the faces as protect reports them, so --face INDEX names the same face.
    capsys.readouterr()
    assert main(["faces", str(tmp_path / "in" / "group.png")]) == 0
    line = capsys.readouterr().out
    for i, face in enumerate(faces):
        assert f"face {i} [{','.join(str(int(v)) for v in face.box)}]" in line
    [again] = protect_files(key, [tmp_path / "in"], tmp_path / "chosen", detector=detector, matcher=matcher,
                            policy=FacePolicy("index", (user,)))
    assert [f.protected for f in again.report.faces] == [i == user for i in range(len(faces))]
