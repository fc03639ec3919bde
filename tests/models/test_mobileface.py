"""MobileFace port: conversion, and parity with a numpy evaluation of its TFJS graph on LFW faces."""

from __future__ import annotations

import numpy as np
import pytest
from human_models_checks import HumanModelsPortChecks, graph_json
from tf_numpy_ops import cosine
from tfjs_graph_reference import TfjsGraphReference

from p3mask.models.mobileface import SPEC, MobileFace
from p3mask.weights.tfjs import mobileface_name_map


class TestMobileFace(HumanModelsPortChecks):
    model = MobileFace
    spec = SPEC
    name_map = staticmethod(mobileface_name_map)

    @pytest.mark.slow
    @pytest.mark.data
    @pytest.mark.weights
    def test_parity_with_tfjs_graph_on_lfw(self, crops, port_embeddings, source_files):
        # The graph takes RGB 0..255 ("data") and normalises inside; its output is the folded BatchNorm.
        reference = TfjsGraphReference(graph_json(source_files))({"data": crops.astype(np.float64)}, "batchnorm0/add_1")
        cos = cosine(port_embeddings, reference)
        assert (cos >= 0.999).all(), f"cosine port vs TFJS graph per face: {cos}"
