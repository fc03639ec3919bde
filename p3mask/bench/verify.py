"""Face-verification benchmark on LFW View 2: accuracy, threshold at FAR = 1e-3, throughput.

Each photo goes through the same pipeline a recogniser uses (:class:`p3mask.recognition.FacePipeline`:
YuNet detection, 5-point similarity alignment to each model's template, the model); the face nearest the
photo centre (:func:`p3mask.recognition.central_face`) is the pair's subject. When no face is detected,
the photo is aligned with the median landmarks of the photos detected so far (LFW photos share one
frame), and this is counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from p3mask.bench.protocol import ten_fold_accuracy, threshold_at_far
from p3mask.datasets.lfw import Pair, read_pairs
from p3mask.face.image_io import load_image
from p3mask.models import FaceRecognizer, load_models
from p3mask.recognition import FacePipeline, central_face

logger = logging.getLogger(__name__)


@dataclass
class _Throughput:
    faces: int = 0
    seconds: float = 0.0

    @property
    def per_s(self) -> float:
        return self.faces / self.seconds if self.seconds > 0 else float("nan")


def usable_pairs(pairs: list[Pair]) -> tuple[list[Pair], int]:
    """Pairs whose two photos both exist, and how many were skipped."""
    kept = [p for p in pairs if p.first.exists() and p.second.exists()]
    return kept, len(pairs) - len(kept)


def _folds(pairs: list[Pair]) -> np.ndarray:
    """Fold of each pair; a run drawn from a single fold (``--pairs 600``) is split into 10 by position."""
    folds = np.array([p.fold for p in pairs])
    if len(np.unique(folds)) < 2:
        folds = np.arange(len(pairs)) % 10
    return folds


def _landmarks(pipeline: FacePipeline, image: torch.Tensor, seen: list[torch.Tensor]) -> tuple[torch.Tensor, bool]:
    """Landmarks (5,2) of the central face, or the running median of ``seen`` (flag True) if none."""
    detections, k = pipeline.locate(image, central_face)
    if k is not None:
        seen.append(detections.landmarks[k])
        return detections.landmarks[k], False
    if not seen:
        raise RuntimeError("no face detected in the first photos of the benchmark; cannot fall back")
    return torch.stack(seen).median(dim=0).values, True


def embed_photos(
    paths: list[Path], models: dict[str, FaceRecognizer], batch_size: int = 32, progress: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[dict[str, torch.Tensor], dict[str, _Throughput], int]:
    """Embed the central face of every photo with every model.

    Returns:
        (name -> (N, D) embeddings in ``paths`` order, name -> throughput of the model alone,
        number of photos aligned by the fallback landmarks).
    """
    pipeline = FacePipeline(models, device=device)
    seen: list[torch.Tensor] = []
    out = {name: [] for name in models}
    fallbacks = 0
    bar = tqdm(total=len(paths), desc="embedding photos", unit="photo", disable=not progress)
    for start in range(0, len(paths), batch_size):  # photos are loaded a batch at a time
        images = [load_image(path) for path in paths[start : start + batch_size]]
        spots = [_landmarks(pipeline, image, seen) for image in images]
        fallbacks += sum(fell_back for _, fell_back in spots)
        embedded = pipeline.embed_many(images, [landmarks for landmarks, _ in spots], batch=batch_size)
        for name, emb in embedded.items():
            out[name].append(emb)
        bar.update(len(images))
    bar.close()
    speed = {name: _Throughput(pipeline.faces[name], pipeline.seconds[name]) for name in models}
    return {name: torch.cat(parts) for name, parts in out.items()}, speed, fallbacks


def run_verify(
    root: str | Path | None = None,
    num_pairs: int | None = None,
    model_names: list[str] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, dict[str, float]]:
    """Run the LFW View 2 verification protocol for each model.

    Args:
        root: LFW folder (default ``data_root()/lfw``).
        num_pairs: use only the first N pairs of ``pairs.txt`` (quick check); all by default.
        model_names: models to test (all of the zoo by default).
        batch_size: photos per embedding batch.
        progress: show a progress bar.
        device: where the models run.

    Returns:
        model name -> {"accuracy", "accuracy_std", "threshold_far1e-3", "faces_per_s", "pairs_used",
        "pairs_skipped", "fallback_alignments"}.
    """
    pairs = read_pairs(root)
    if num_pairs is not None:
        if num_pairs < 20:
            raise ValueError(f"--pairs must be at least 20 for a 10-fold protocol, got {num_pairs}")
        pairs = pairs[:num_pairs]
    pairs, skipped = usable_pairs(pairs)
    if skipped:
        logger.warning("skipped %d pairs naming absent images", skipped)
    paths = sorted({p.first for p in pairs} | {p.second for p in pairs})
    index = {path: i for i, path in enumerate(paths)}
    models = load_models(model_names, device)
    embeddings, speed, fallbacks = embed_photos(paths, models, batch_size, progress, device)
    first = torch.tensor([index[p.first] for p in pairs])
    second = torch.tensor([index[p.second] for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = _folds(pairs)
    results = {}
    for name, emb in embeddings.items():
        scores = (emb[first] * emb[second]).sum(dim=1).numpy()
        mean, std, _ = ten_fold_accuracy(scores, same, folds)
        results[name] = {
            "accuracy": mean,
            "accuracy_std": std,
            "threshold_far1e-3": threshold_at_far(scores, same, 1e-3),
            "faces_per_s": speed[name].per_s,
            "pairs_used": len(pairs),
            "pairs_skipped": skipped,
            "fallback_alignments": fallbacks,
        }
    return results
