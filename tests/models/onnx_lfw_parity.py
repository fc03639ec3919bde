"""Test-only helper: parity of a port with onnxruntime on real aligned LFW faces, one sample per run.

The reference is onnxruntime running the source ONNX graph from the pinned archive, fed the port's
own :meth:`preprocess` output one face at a time (``fr_feature``'s graph only takes batches of one);
the port embeds all faces in one batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from yunet_lfw_crops import lfw_crops

from p3mask.models import load_model
from p3mask.models.base import FaceRecognizer

# Three people of LFW pairs.txt's first matched pairs, two photos each, and two more people.
FACES = [("Abel_Pacheco", 1), ("Abel_Pacheco", 4), ("Akhmed_Zakayev", 1), ("Akhmed_Zakayev", 3),
         ("Amber_Tamblyn", 1), ("Amber_Tamblyn", 2), ("Aaron_Peirsol", 1), ("Abdullah_Gul", 13)]
SAME_PERSON = ((0, 1), (2, 3), (4, 5))


def crops_for(model: type[FaceRecognizer]) -> torch.Tensor:
    """``(8, 3, H, W)`` RGB [0, 1] crops of :data:`FACES` on the model's template."""
    rgb = lfw_crops(FACES, model.template, model.input_size)
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0


def onnxruntime_embeddings(onnx_path: Path, preprocessed: np.ndarray) -> np.ndarray:
    """``(N, D)`` raw outputs of the graph, run once per sample on one CPU thread."""
    import onnxruntime as ort  # test-only reference runtime (the `test` extra)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {feed: face[None]})[0] for face in preprocessed])


def parity(name: str, onnx_path: Path, crops: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine per face between the port and onnxruntime, the port's raw and the reference's raw outputs."""
    model = load_model(name)
    with torch.no_grad():
        x = model.preprocess(crops)
        raw = model.embed(x).numpy()
        ours = model(crops).numpy()
    reference = onnxruntime_embeddings(onnx_path, x.numpy())
    ref_unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    return (ours * ref_unit).sum(axis=1), raw, reference


def same_closer_than_different(embeddings: np.ndarray) -> tuple[list[float], list[float]]:
    """Same-person and different-person cosines of :data:`FACES` embeddings ``(N, D)`` (L2-normalised)."""
    sims = embeddings @ embeddings.T
    same = [float(sims[i, j]) for i, j in SAME_PERSON]
    people = [0, 0, 1, 1, 2, 2, 3, 4]
    different = [float(sims[i, j]) for i in range(len(people)) for j in range(i + 1, len(people))
                 if people[i] != people[j]]
    return same, different
