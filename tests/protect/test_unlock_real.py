"""The key unlocks its user's protected faces on real LFW photos; another user's key does not.

Slow: learns two small real masks (SFace as the team, 1-2 epochs, 4-6 photos) with real weights.
"""

import pytest
import torch

from p3mask.datasets import load_dataset
from p3mask.evaluate.quality import face_region
from p3mask.evaluate.transforms import quantize
from p3mask.evaluate.users import split_user
from p3mask.face.align import align_faces
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import load_image
from p3mask.models import load_model
from p3mask.models.thresholds import match_threshold
from p3mask.protect.apply import protect_image
from p3mask.protect.config import get_config
from p3mask.protect.learning import learn
from p3mask.protect.unlock import unlock_image

pytestmark = [pytest.mark.slow, pytest.mark.data, pytest.mark.weights]

TEAM = ("sface",)  # one team model keeps the test short; the key is a real learned mask all the same
# SFace also picks the user's face in the photos here, with its calibrated threshold.
THRESHOLDS = {"sface": match_threshold("sface")}


@pytest.fixture(scope="module")
def setting():
    dataset = load_dataset("lfw")
    users = dataset.sample_identities(2, 10, seed=3)
    models = {name: load_model(name) for name in TEAM}
    detector = FaceDetector()
    keys, tests = [], []
    # The user's key: 6 photos, 2 epochs. The other user's key only has to be a real, different mask.
    for i, (name, photos, epochs) in enumerate(zip(users, (9, 5), (2, 1))):
        train, test = split_user(dataset, name, 0.7, 0, photos)
        config = get_config("mid", epochs=epochs, team=TEAM, match_model="sface")
        keys.append(learn([str(p) for p in train], config, user=name, device="cpu", seed=i, progress=False,
                          models=models, detector=detector, thresholds=THRESHOLDS).key)
        tests.append(test)
    return keys, tests, models["sface"], detector


def _embed(model, image, landmarks):
    crop = align_faces(image, landmarks[None], model.template, model.input_size)[0]
    with torch.no_grad():
        return model(crop)[0]


def test_right_key_restores_wrong_key_does_not(setting):
    keys, tests, sface, detector = setting
    key, wrong = keys[0], keys[1]
    rows = []
    for path in tests[0]:
        clean = load_image(path)
        found = detector.detect(clean)
        protected, report = protect_image(key, clean, matcher=sface, detections=found)
        chosen = [i for i, f in enumerate(report.faces) if f.protected]
        if not chosen:
            continue
        protected = quantize(protected)
        landmarks = found.landmarks[chosen[0]]
        right = unlock_image(protected, key, detector=detector)
        other = unlock_image(protected, wrong, detector=detector)
        ref = _embed(sface, clean, landmarks)
        cos = [float(_embed(sface, img, landmarks) @ ref) for img in (protected, right.image, other.image)]
        region = face_region(landmarks, clean.shape[-2:], key.template, key.frame_size)[0]
        err = [float(((img - clean).abs() * region).sum() / (3 * region.sum())) for img in (right.image, protected)]
        rows.append((*cos, float(right.correlations.max()), float(other.correlations.max()), *err))
    assert len(rows) >= 2
    for prot, unlocked, wrong_unlocked, corr_right, corr_wrong, err_unlocked, err_protected in rows:
        assert unlocked > 0.95, rows  # the face is the clean face again, for the recogniser
        assert unlocked > prot and unlocked > wrong_unlocked + 0.02, rows
        assert err_unlocked < 0.5 * err_protected, rows  # most of the mask is gone from the face, pixel-wise
        assert corr_right > 2 * max(corr_wrong, 0.0), rows  # the key recognises its own mask


def test_unlock_command_on_a_saved_protected_photo(setting, tmp_path, capsys):
    import argparse

    from p3mask.cli import unlock as unlock_cli
    from p3mask.face.image_io import save_image

    keys, tests, sface, detector = setting
    key_file, wrong_file = keys[0].save(tmp_path / "user.p3m"), keys[1].save(tmp_path / "other.p3m")
    clean = load_image(tests[0][0])
    found = detector.detect(clean)
    protected, report = protect_image(keys[0], clean, matcher=sface, detections=found)
    photo = save_image(protected, tmp_path / "in" / "photo.jpg", jpeg_quality=95)  # as `p3mask protect` writes

    def run(key):
        parser = argparse.ArgumentParser()
        unlock_cli.add_parser(parser.add_subparsers())
        args = parser.parse_args(["unlock", "--key", str(key), str(photo), "--out", str(tmp_path / key.stem)])
        return args.func(args)

    assert run(key_file) == 0
    assert "(1 face(s), mask correlation" in capsys.readouterr().out
    landmarks = found.landmarks[[f.protected for f in report.faces].index(True)]
    ref = _embed(sface, clean, landmarks)
    unlocked = load_image(tmp_path / "user" / "photo.jpg")
    assert float(_embed(sface, unlocked, landmarks) @ ref) > float(_embed(sface, load_image(photo), landmarks) @ ref)
    assert run(wrong_file) == 1  # another user's key finds no face carrying its mask
    assert "no face carries this key's mask" in capsys.readouterr().err
