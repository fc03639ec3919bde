"""The clean gallery: every photo of every identity of a dataset, embedded once by every model, cached.

A scraper's database holds one embedding per photo. Each photo goes through the recogniser pipeline
(YuNet detection, the largest face, 5-point alignment to each model's template, the model); a photo in
which no face is detected is aligned with the median landmarks of the photos where one was (the
datasets share one framing), and is flagged.

Embedding all of LFW (13,233 photos) with five models takes a while on two cores, so the result is
cached under ``cache_dir()/eval/<dataset>-<fingerprint>/``: ``faces-<detector key>.safetensors``
(landmarks, detected flags) and one ``<model>-<model key>.safetensors`` of embeddings per model. The
fingerprint hashes the photos' relative paths and sizes; the detector key hashes the detector's source
and weights; a model key hashes the model's frame and its outputs on a fixed input. So a changed
dataset, detector or model port is embedded again, and adding a model embeds only that model.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from p3mask.atomic import atomic_path
from p3mask.datasets.base import FaceDataset
from p3mask.face.detect import FaceDetector, ensure_yunet
from p3mask.face.image_io import load_image
from p3mask.models.base import FaceRecognizer
from p3mask.paths import cache_dir
from p3mask.recognition import BATCH, FacePipeline, largest_face

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gallery:
    """Clean embeddings of every photo of a dataset.

    Attributes:
        dataset: dataset name.
        identities: identity names; label ``i`` is ``identities[i]``.
        paths: ``N`` photo paths, grouped by identity.
        labels: ``(N,)`` long identity label of each photo.
        landmarks: ``(N, 5, 2)`` landmarks of the face each embedding comes from.
        detected: ``(N,)`` bool, False where the landmarks are the median fallback.
        embeddings: model name -> ``(N, D)`` L2-normalised embeddings.
    """

    dataset: str
    identities: list[str]
    paths: list[Path]
    labels: torch.Tensor
    landmarks: torch.Tensor
    detected: torch.Tensor
    embeddings: dict[str, torch.Tensor] = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {p: i for i, p in enumerate(self.paths)})
        object.__setattr__(self, "_label", {name: i for i, name in enumerate(self.identities)})

    def __len__(self) -> int:
        return len(self.paths)

    def index_of(self, path: Path) -> int:
        """Row of ``path`` in the gallery."""
        return self._index[Path(path)]

    def label_of(self, identity: str) -> int:
        """Label of ``identity``."""
        return self._label[identity]


def gallery_dataset(dataset: FaceDataset, users: list[str], extra: int | None, seed: int) -> FaceDataset:
    """The dataset whose photos form the gallery: all of it, or the users plus ``extra`` drawn identities."""
    if extra is None:
        return dataset
    others = sorted(set(dataset.identities) - set(users))
    chosen = set(users) | set(random.Random(f"distractors:{seed}").sample(others, min(extra, len(others))))
    return FaceDataset(dataset.name, dataset.root, {n: p for n, p in dataset.identities.items() if n in chosen})


def fingerprint(dataset: FaceDataset) -> str:
    """Hash of the dataset's photo list (paths relative to its root, and file sizes)."""
    h = hashlib.sha256()
    for identity, photos in dataset.identities.items():
        for p in photos:
            h.update(f"{identity}\t{p.relative_to(dataset.root)}\t{p.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def _file_digest(path: Path, h) -> None:
    """Feed the bytes of ``path`` into the hash object ``h``."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)


def detector_key(detector: FaceDetector) -> str:
    """Hash of what the gallery landmarks depend on: the detector's code, weights and settings."""
    h = hashlib.sha256(repr(detector).encode())
    _file_digest(Path(inspect.getsourcefile(FaceDetector)), h)
    _file_digest(ensure_yunet(), h)
    return h.hexdigest()[:12]


def model_key(name: str, model: FaceRecognizer, faces_key: str) -> str:
    """Hash of what a model's gallery embeddings depend on: the landmarks, the model's frame, its
    weights and the source of its port (the modules of every :class:`FaceRecognizer` class the model's
    class derives from: its own, any shared base such as :mod:`p3mask.models.human_models`, and
    :mod:`p3mask.models.base`).

    Weights and source are hashed, not the model's outputs: outputs differ in the last bits between
    thread counts and devices, and a hash of them re-embedded the whole gallery at random.
    """
    h = hashlib.sha256(f"{faces_key}|{name}|{model.template}|{model.input_size}".encode())
    for cls in (c for c in type(model).__mro__ if issubclass(c, FaceRecognizer)):  # most derived first
        _file_digest(Path(inspect.getsourcefile(cls)), h)
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:12]


def gallery_cache_dir(dataset: FaceDataset) -> Path:
    """Where the gallery of ``dataset`` is cached."""
    return cache_dir() / "eval" / f"{dataset.name}-{fingerprint(dataset)}"


def _read(path: Path, names: tuple[str, ...], n: int) -> dict[str, torch.Tensor] | None:
    """Tensors ``names`` of a cache file with ``n`` rows, or ``None`` when absent or unreadable."""
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            out = {name: fh.get_tensor(name) for name in names}
    except (SafetensorError, OSError, KeyError) as exc:
        logger.warning("ignoring unreadable gallery cache %s (%s)", path, exc)
        return None
    if any(t.shape[0] != n for t in out.values()):
        logger.warning("ignoring gallery cache %s: wrong number of rows", path)
        return None
    return out


def _write(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    with atomic_path(path, overwrite=True) as tmp:  # p3mask's own cache file
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"meta": json.dumps(meta)})


def _detect_all(paths: list[Path], detector: FaceDetector, progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Landmarks ``(N, 5, 2)`` of the largest face of each photo, median fallback; detected flags ``(N,)``."""
    landmarks = torch.zeros(len(paths), 5, 2)
    detected = torch.zeros(len(paths), dtype=torch.bool)
    pipeline = FacePipeline({}, detector)
    for i, path in enumerate(tqdm(paths, desc="detecting faces", unit="photo", disable=not progress)):
        found, k = pipeline.locate(load_image(path), largest_face)
        if k is not None:
            landmarks[i], detected[i] = found.landmarks[k], True
    if not detected.any():
        raise RuntimeError("no face detected in any photo of the dataset")
    fallback = landmarks[detected].median(dim=0).values
    landmarks[~detected] = fallback
    if (~detected).any():
        logger.info("%d of %d photos without a detected face use the median landmarks", int((~detected).sum()),
                    len(paths))
    return landmarks, detected


def _embed_all(
    paths: list[Path], landmarks: torch.Tensor, models: dict[str, FaceRecognizer], progress: bool, device: torch.device
) -> dict[str, torch.Tensor]:
    """Embeddings of the face at ``landmarks[i]`` of each photo, for every model: name -> ``(N, D)``."""
    pipeline = FacePipeline(models, device=device)
    out: dict[str, list[torch.Tensor]] = {name: [] for name in models}
    bar = tqdm(total=len(paths), desc=f"embedding ({', '.join(models)})", unit="photo", disable=not progress)
    for start in range(0, len(paths), BATCH):  # photos are loaded a batch at a time
        chunk = range(start, min(start + BATCH, len(paths)))
        embedded = pipeline.embed_many([load_image(paths[i]) for i in chunk], [landmarks[i] for i in chunk])
        for name, emb in embedded.items():
            out[name].append(emb)
        bar.update(len(chunk))
    bar.close()
    return {name: torch.cat(parts) for name, parts in out.items()}


def build_gallery(
    dataset: FaceDataset,
    models: dict[str, FaceRecognizer],
    detector: FaceDetector | None = None,
    use_cache: bool = True,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> Gallery:
    """Embed every photo of ``dataset`` with every model, reading and filling the cache.

    Args:
        dataset: the dataset (all identities, also those with a single photo: they are distractors).
        models: name -> loaded recogniser.
        detector: face detector (default YuNet).
        use_cache: read and write the on-disk cache (default True).
        progress: show progress bars.
        device: where the models run.

    Returns:
        :class:`Gallery`.
    """
    identities = list(dataset.identities)
    paths = [p for name in identities for p in dataset.identities[name]]
    labels = torch.tensor([i for i, name in enumerate(identities) for _ in dataset.identities[name]], dtype=torch.long)
    detector = detector or FaceDetector()
    folder = gallery_cache_dir(dataset) if use_cache else None
    meta = {"dataset": dataset.name, "root": str(dataset.root), "photos": len(paths)}
    faces_key = detector_key(detector) if use_cache else ""
    faces_file = folder / f"faces-{faces_key}.safetensors" if folder else None
    faces = _read(faces_file, ("landmarks", "detected"), len(paths)) if faces_file else None
    if faces is None:
        landmarks, detected = _detect_all(paths, detector, progress)
        if faces_file:
            _write(faces_file, {"landmarks": landmarks, "detected": detected}, meta)
    else:
        landmarks, detected = faces["landmarks"], faces["detected"]
    files = {name: folder / f"{name}-{model_key(name, m, faces_key)}.safetensors" for name,
             m in models.items()} if folder else {}
    embeddings: dict[str, torch.Tensor] = {}
    for name, file in files.items():
        cached = _read(file, ("embeddings",), len(paths))
        if cached is not None:
            embeddings[name] = cached["embeddings"]
    missing = {name: m for name, m in models.items() if name not in embeddings}
    for name, model in missing.items():  # one model at a time: each is cached as soon as it is done
        emb = _embed_all(paths, landmarks, {name: model}, progress, torch.device(device))[name]
        embeddings[name] = emb
        if name in files:
            _write(files[name], {"embeddings": emb}, {**meta, "model": name})
    return Gallery(dataset.name, identities, paths, labels, landmarks, detected, {n: embeddings[n] for n in models})
