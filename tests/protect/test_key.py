"""P3Mask key files: round trip, permissions, truncated and foreign files."""

import stat

import pytest
import torch
from safetensors.torch import save_file

from p3mask.protect.config import CANONICAL_SIZE, CANONICAL_TEMPLATE
from p3mask.protect.key import KeyFileError, P3Mask
from p3mask.protect.key_checks import key_digest


def _key(seed: int = 0) -> P3Mask:
    g = torch.Generator().manual_seed(seed)
    eps = 12 / 255
    return P3Mask(
        mask=(torch.rand(3, *CANONICAL_SIZE, generator=g) * 2 - 1) * eps,
        epsilon=eps,
        frame_size=CANONICAL_SIZE,
        template=CANONICAL_TEMPLATE,
        team=("sface", "mobilefacenet"),
        quality_floor=70.0,
        quality_min=70.1,
        quality_mean=72.4,
        preset="mid",
        user="alice",
        references={
            "sface": torch.nn.functional.normalize(torch.randn(128, generator=g), dim=0),
            "mobilefacenet": torch.nn.functional.normalize(torch.randn(192, generator=g), dim=0),
        },
        match_model="sface",
        match_threshold=0.4,
        photos=20,
    )


def test_round_trip(tmp_path):
    key = _key()
    path = key.save(tmp_path / "alice.p3m")
    back = P3Mask.load(path)
    assert torch.equal(back.mask, key.mask.float())
    assert back.meta == key.meta
    assert back.template == key.template
    assert set(back.references) == set(key.references)
    for name, ref in key.references.items():
        assert torch.equal(back.references[name], ref)


def test_owner_only_permissions_and_no_leftovers(tmp_path):
    path = _key().save(tmp_path / "k.p3m")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k.p3m"]


@pytest.mark.parametrize("keep", [0, 5, 100, 0.5, -1])
def test_truncated_file_rejected(tmp_path, keep):
    path = _key().save(tmp_path / "k.p3m")
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) - 1)
    path.write_bytes(data[:cut])
    with pytest.raises(KeyFileError, match="k.p3m"):
        P3Mask.load(path)


def test_foreign_files_rejected(tmp_path):
    text = tmp_path / "notes.p3m"
    text.write_text("hello, not a key")
    with pytest.raises(KeyFileError, match="notes.p3m"):
        P3Mask.load(text)
    other = tmp_path / "weights.p3m"
    save_file({"w": torch.zeros(3)}, str(other), metadata={"model": "sface"})
    with pytest.raises(KeyFileError, match="weights.p3m.*not a p3mask key"):
        P3Mask.load(other)
    with pytest.raises(KeyFileError, match="missing.p3m"):
        P3Mask.load(tmp_path / "missing.p3m")


def test_other_version_and_damaged_meta_rejected(tmp_path):
    path = tmp_path / "v3.p3m"
    save_file({"mask": torch.zeros(3, 4, 4)}, str(path), metadata={"format": "p3mask-key", "version": "3"})
    with pytest.raises(KeyFileError, match="format version '3', this p3mask reads version 2"):
        P3Mask.load(path)
    path = tmp_path / "v1.p3m"
    save_file({"mask": torch.zeros(3, 4, 4)}, str(path), metadata={"format": "p3mask-key", "version": "1"})
    with pytest.raises(KeyFileError, match="version 1 p3mask key, which has no integrity digest"):
        P3Mask.load(path)
    path = tmp_path / "bad.p3m"
    metadata = {"format": "p3mask-key", "version": "2", "meta": "{"}
    tensors = {"mask": torch.zeros(3, 4, 4)}
    save_file(tensors, str(path), metadata={**metadata, "sha256": key_digest(metadata, tensors)})
    with pytest.raises(KeyFileError, match="damaged"):
        P3Mask.load(path)


def test_mask_beyond_epsilon_rejected():
    key = _key()
    with pytest.raises(ValueError):
        P3Mask(**{**_fields(key), "mask": key.mask * 2})
    with pytest.raises(ValueError):
        P3Mask(**{**_fields(key), "mask": key.mask[:, :10]})


def _fields(key: P3Mask) -> dict:
    return {name: getattr(key, name) for name in key.__dataclass_fields__}
