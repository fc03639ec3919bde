"""Chameleon on real faces with real weights: a short learn on LFW photos, then protection.

Slow: loads two recognisers and YuNet through the real code path and learns for a few epochs.
"""

import pytest
import torch

from p3mask.face.align import align_faces
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import load_image
from p3mask.models import load_model
from p3mask.models.thresholds import match_threshold
from p3mask.paths import data_root
from p3mask.protect.apply import protect_image
from p3mask.protect.config import get_config
from p3mask.protect.face_choice import FacePolicy
from p3mask.protect.key import P3Mask
from p3mask.protect.learning import learn, learn_mask

pytestmark = [pytest.mark.slow, pytest.mark.data, pytest.mark.weights]

USER, STRANGER = "Jennifer_Capriati", "Tony_Blair"
TEAM = ("mobilefacenet", "mobileface")


def _photos(name):
    folder = data_root() / "lfw" / name
    if not folder.is_dir():
        pytest.fail(f"LFW data missing: {folder} (set P3MASK_DATA)")
    return sorted(folder.glob("*.jpg"))


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    torch.manual_seed(0)
    models = {n: load_model(n) for n in TEAM}
    detector = FaceDetector()
    config = get_config("mid", team=TEAM, match_model="mobilefacenet", epochs=3, batch_size=2)
    out = tmp_path_factory.mktemp("learn")
    result = learn(_photos(USER)[:6], config, user="jc", device="cpu", progress=False, out_dir=out,
                   models=models, detector=detector, thresholds={n: match_threshold(n) for n in TEAM})
    return result, models, detector, out


def test_learning_lowers_team_cosines_and_keeps_the_perceptual_floor(learned):
    result, _, _, out = learned
    key = result.key
    assert key.team == TEAM and key.photos == 6 and key.preset == "mid"
    for name in TEAM:
        before, after = result.fit.clean_cosine[name], result.fit.protected_cosine[name]
        assert float(after.mean()) < float(before.mean()) - 0.1, name
    assert float(result.fit.quality.min()) >= key.quality_floor >= 70.0
    assert key.quality_min >= key.quality_floor
    assert float(key.mask.abs().max()) <= key.epsilon + 1e-6
    assert sorted(p.name for p in (out / "jpg").iterdir()) == [f"epoch_{i:04d}.jpg" for i in (1, 2, 3)]
    assert (out / "before_after.png").is_file() and not (out / "npy").exists()  # npy only when asked for


def test_apply_protects_the_user_and_keeps_the_perceptual_floor(learned, tmp_path):
    result, models, detector, _ = learned
    key = P3Mask.load(result.key.save(tmp_path / "jc.p3m"))
    image = load_image(_photos(USER)[10])  # never seen in learning
    protected, report = protect_image(key, image, detector=detector, matcher=models[key.match_model])
    assert report.protected == 1
    assert report.faces[0].quality >= key.quality_floor
    assert float((protected - image).abs().max()) <= key.epsilon + 0.5 / 255 + 1e-6  # 8-bit rounding
    model = models["mobilefacenet"]
    ref = key.references["mobilefacenet"]

    def cosine(x):
        faces = detector.detect(x)
        crops, _ = align_faces(x, faces.landmarks[:1], model.template, model.input_size)
        return float(model(crops)[0] @ ref)

    with torch.no_grad():
        assert cosine(protected) < cosine(image) - 0.05


def test_apply_leaves_strangers_untouched(learned):
    result, models, detector, _ = learned
    key = result.key
    stranger = load_image(_photos(STRANGER)[1])
    out, report = protect_image(key, stranger, detector=detector, matcher=models[key.match_model],
                                policy=FacePolicy("strict"))
    assert report.protected == 0 and report.left >= 1
    assert torch.equal(out, stranger)
    # by default a one-face photo is protected anyway, on doubt (the user handed it over to be protected)
    out, report = protect_image(key, stranger, detector=detector, matcher=models[key.match_model])
    assert [f.reason for f in report.faces if f.protected] == ["doubt"] and not torch.equal(out, stranger)
    # The user and a stranger side by side: only the user's half changes.
    user = load_image(_photos(USER)[11])
    both = torch.cat([user, stranger[:, : user.shape[1]]], dim=2)
    out, report = protect_image(key, both, detector=detector, matcher=models[key.match_model])
    assert report.protected == 1 and report.left >= 1
    width = user.shape[2]
    assert torch.equal(out[:, :, width:], both[:, :, width:])
    assert not torch.equal(out[:, :, :width], both[:, :, :width])


def test_learn_mask_returns_the_key_learn_gives(learned):
    result, models, detector, _ = learned
    config = get_config("mid", team=TEAM, match_model="mobilefacenet", epochs=3, batch_size=2)
    key = learn_mask(_photos(USER)[:6], config, user="jc", device="cpu", progress=False, models=models,
                     detector=detector, thresholds={n: match_threshold(n) for n in TEAM})
    assert isinstance(key, P3Mask) and key.team == result.key.team
    assert torch.equal(key.mask, result.key.mask)  # deterministic on the CPU under the same seed
