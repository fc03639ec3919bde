"""Reading pickled PyTorch modules without executing them, on small seeded modules and a hostile pickle."""

from __future__ import annotations

import io
import os
import pickle

import pytest
import torch
from torch import nn

from p3mask.weights.torch_pickle import Inert, RestrictedUnpickler, load_inert, module_state


def _module() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.PReLU(4))
    model[1].running_mean.normal_()
    model.train()(torch.rand(2, 3, 8, 8))  # moves the running stats and num_batches_tracked
    return model


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_state_of_a_pickled_module_equals_its_state_dict(tmp_path, zip_format):
    model = _module()
    path = tmp_path / "model.pt"
    torch.save(model, path, _use_new_zipfile_serialization=zip_format)
    root = load_inert(path)
    assert isinstance(root, Inert) and root.qualname == "torch.nn.modules.container.Sequential"
    state = module_state(root)
    expected = model.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def test_transposed_view_is_read_with_its_strides(tmp_path):
    model = nn.Linear(3, 2, bias=False)
    model.weight = nn.Parameter(torch.arange(6.0).reshape(3, 2).T)  # non-contiguous storage layout
    path = tmp_path / "t.pt"
    torch.save(model, path, _use_new_zipfile_serialization=False)
    assert torch.equal(module_state(load_inert(path))["weight"], model.weight.detach())


class _Hostile:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_hostile_pickle_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    obj = RestrictedUnpickler(io.BytesIO(pickle.dumps(_Hostile(), protocol=2)), {}).load()
    assert isinstance(obj, Inert) and obj.qualname in ("posix.system", "nt.system", "os.system")
    assert obj.args == ("touch pwned",)
    assert not (tmp_path / "pwned").exists()


def test_not_a_torch_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="bad.pkl"):
        load_inert(path)
