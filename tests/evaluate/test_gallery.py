"""The clean gallery on a few real LFW photos: embeddings, identification, and the on-disk cache."""

import shutil
from pathlib import Path

import pytest
import torch

from p3mask.datasets import load_dataset
from p3mask.evaluate import gallery as gallery_module
from p3mask.evaluate.gallery import build_gallery, gallery_cache_dir
from p3mask.evaluate.metrics import identification_hits
from p3mask.models import load_model
from p3mask.paths import data_root

pytestmark = [pytest.mark.slow, pytest.mark.data, pytest.mark.weights]


@pytest.fixture
def small_lfw(tmp_path, monkeypatch):
    lfw = data_root() / "lfw"  # present: the test is marked `data` (tests/conftest.py)
    names = load_dataset("lfw").sample_identities(4, 4, seed=0)
    for name in names:
        (tmp_path / "data" / name).mkdir(parents=True)
        for photo in sorted((lfw / name).iterdir())[:3]:
            shutil.copy(photo, tmp_path / "data" / name / photo.name)
    monkeypatch.setattr(gallery_module, "cache_dir", lambda: tmp_path / "cache")
    return load_dataset("folder", tmp_path / "data")


def test_gallery_identifies_clean_photos_and_is_cached(small_lfw):
    models = {"mobilefacenet": load_model("mobilefacenet")}
    g = build_gallery(small_lfw, models, progress=False)
    assert len(g) == 12 and g.embeddings["mobilefacenet"].shape == (12, 192)
    assert g.labels.tolist() == [i for i in range(4) for _ in range(3)]
    rows = torch.arange(len(g))
    hits = identification_hits(g.embeddings["mobilefacenet"], g.labels, g.embeddings["mobilefacenet"], g.labels, 1,
                               rows, rows)
    assert hits.float().mean() >= 0.75  # each photo finds its person among the others
    files = sorted(p.name for p in gallery_cache_dir(small_lfw).iterdir())
    assert len(files) == 2 and files[0].startswith("faces-") and files[1].startswith("mobilefacenet-")
    again = build_gallery(small_lfw, models, progress=False)
    assert torch.equal(again.embeddings["mobilefacenet"], g.embeddings["mobilefacenet"])
    assert torch.equal(again.landmarks, g.landmarks)


def test_model_key_is_stable_across_thread_counts_and_follows_the_weights():
    model = load_model("mobileface")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = gallery_module.model_key("mobileface", model, "faces")
        torch.set_num_threads(2)
        two = gallery_module.model_key("mobileface", model, "faces")
    finally:
        torch.set_num_threads(threads)
    assert one == two
    assert gallery_module.model_key("mobileface", model, "other-faces") != one
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1e-3
    assert gallery_module.model_key("mobileface", model, "faces") != one


def test_model_key_hashes_the_source_of_every_recognizer_class_of_the_port(monkeypatch):
    from p3mask.models import base, human_models, mobileface

    hashed = []
    monkeypatch.setattr(gallery_module, "_file_digest", lambda path, h: hashed.append(path.name))
    gallery_module.model_key("mobileface", mobileface.MobileFace(), "faces")
    expected = [mobileface.__file__, human_models.__file__, base.__file__]  # the port, its shared base, the interface
    assert hashed == [Path(f).name for f in expected]
