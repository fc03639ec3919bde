from pathlib import Path

import pytest

from p3mask.datasets import load_dataset, load_folder, load_lfw, load_orl, read_pairs
from p3mask.paths import data_root


@pytest.mark.data
def test_lfw_layout_and_counts():
    lfw = load_lfw()
    assert len(lfw) > 5000
    assert all(p.name.startswith(name) for name, photos in list(lfw.identities.items())[:50] for p in photos)
    assert len(lfw.with_at_least(10)) >= 100


@pytest.mark.data
def test_lfw_pairs_view2():
    pairs = read_pairs()
    assert len(pairs) == 6000
    assert sum(p.same for p in pairs) == 3000
    assert {p.fold for p in pairs} == set(range(10))
    assert all(p.first.parent == p.second.parent for p in pairs if p.same)


@pytest.mark.data
def test_orl_layout():
    orl = load_orl()
    assert len(orl) == 40 and orl.num_photos == 400
    assert [p.stem for p in orl.identities["s1"]] == [str(i) for i in range(1, 11)]


def test_folder_dataset(tmp_path: Path):
    for who in ("alice", "bob"):
        (tmp_path / who).mkdir()
        for k in range(3):
            (tmp_path / who / f"{k}.jpg").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    ds = load_folder(tmp_path)
    assert sorted(ds.identities) == ["alice", "bob"] and ds.num_photos == 6


@pytest.mark.data
def test_splits_are_deterministic_and_disjoint():
    lfw = load_lfw()
    a = lfw.sample_identities(5, min_photos=10, seed=3)
    assert a == lfw.sample_identities(5, min_photos=10, seed=3)
    assert a != lfw.sample_identities(5, min_photos=10, seed=4)
    train, test = lfw.split_photos(a[0], 0.7, seed=0)
    assert train and test and not set(train) & set(test)
    assert (train, test) == lfw.split_photos(a[0], 0.7, seed=0)
    assert len(train) == round(0.7 * len(lfw.identities[a[0]]))


def test_data_root_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("P3MASK_DATA", str(tmp_path))
    assert data_root() == tmp_path
    with pytest.raises(FileNotFoundError):
        load_lfw()


def test_unknown_dataset_lists_valid():
    with pytest.raises(ValueError, match="lfw, orl, folder"):
        load_dataset("celeba")
    with pytest.raises(ValueError, match="--root"):
        load_dataset("folder")
