"""unlock_files: the counterpart of protect_files, on a synthetic photo carrying a planted mask."""

import torch

from p3mask.face.align import estimate_similarity, paste_from_crop
from p3mask.face.detect import Detections
from p3mask.face.image_io import load_image, save_image
from p3mask.protect.key import P3Mask
from p3mask.protect.unlock import unlock_files

FRAME = (80, 80)
TEMPLATE = ((30.0, 34.0), (50.0, 34.0), (40.0, 46.0), (32.0, 56.0), (48.0, 56.0))
EPS = 12 / 255


def _key() -> P3Mask:
    g = torch.Generator().manual_seed(0)
    mask = EPS * torch.sign(torch.randn(3, *FRAME, generator=g))
    return P3Mask(mask=mask, epsilon=EPS, frame_size=FRAME, template=TEMPLATE, team=("sface",),
                  quality_floor=70.0, quality_min=70.5, quality_mean=73.0, preset="mid", user="alice",
                  references={"sface": torch.nn.functional.normalize(torch.randn(128, generator=g), dim=0)},
                  match_model="sface", match_threshold=0.4, photos=3)


class _FixedDetector:
    """Finds one face at fixed landmarks in every photo."""

    def __init__(self, landmarks: torch.Tensor) -> None:
        box = torch.cat([landmarks.min(0).values - 20, landmarks.max(0).values + 20])
        self.found = Detections(box[None], landmarks[None], torch.ones(1))

    def detect(self, image):
        return self.found


def _photo() -> torch.Tensor:
    small = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    return 0.2 + 0.6 * torch.nn.functional.interpolate(small, size=(140, 140), mode="bicubic")[0].clamp(0, 1)


def test_unlock_files_removes_the_mask_and_keeps_protect_files_guarantees(tmp_path):
    key, clean = _key(), _photo()
    landmarks = torch.tensor(TEMPLATE) * 1.2 + 20.0
    matrix = estimate_similarity(landmarks[None], torch.tensor(TEMPLATE))
    pasted, weight = paste_from_crop(key.mask[None], matrix, clean.shape[-2:])
    protected = save_image((clean + pasted[0] * weight[0]).clamp(0, 1), tmp_path / "in" / "a.png")
    (tmp_path / "in" / "notes.txt").write_text("not a photo")
    seen = []
    outcomes = unlock_files(key, [tmp_path / "in"], tmp_path / "out", detector=_FixedDetector(landmarks),
                            on_outcome=seen.append)
    assert seen == outcomes
    written = [o for o in outcomes if o.ok]
    assert [o.output for o in written] == [tmp_path / "out" / "a.png"]
    assert any(o.ignored for o in outcomes)  # the text file is named as not taken
    assert "1 face(s), mask correlation" in written[0].notes[0]
    before = (load_image(protected) - clean).abs().mean()
    after = (load_image(written[0].output) - clean).abs().mean()
    assert after < 0.3 * before
    again = unlock_files(key, [protected], tmp_path / "out", detector=_FixedDetector(landmarks))
    assert again[0].failed and "already exists" in again[0].error


def test_a_photo_without_the_mask_is_reported_not_written(tmp_path):
    photo = save_image(_photo(), tmp_path / "clean.png")
    landmarks = torch.tensor(TEMPLATE) * 1.2 + 20.0
    (outcome,) = unlock_files(_key(), [photo], tmp_path / "out", detector=_FixedDetector(landmarks))
    assert outcome.failed and outcome.error == "nothing to unlock: no face carries this key's mask (1 detected)"
    assert not (tmp_path / "out" / "clean.png").exists()
