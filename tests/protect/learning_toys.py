"""Tiny seeded stand-ins for the real recognisers, for tests of the optimisation maths."""

from __future__ import annotations

import torch
from torch import nn

from p3mask.models.base import FaceRecognizer
from p3mask.protect.trainset import TrainingSet

# A 32x32 crop template: the ArcFace 112x112 points scaled by 32/112.
TOY_TEMPLATE = (
    (10.94, 14.77), (21.01, 14.71), (16.01, 20.50), (11.87, 26.39), (20.21, 26.34),
)
TOY_FRAME_TEMPLATE = tuple((x + 4.0, y + 4.0) for x, y in TOY_TEMPLATE)  # 40x40 mask frame


class ToyRecognizer(FaceRecognizer):
    """Random conv net with the FaceRecognizer interface (input 32x32, 16-D)."""

    name = "toy"
    input_size = (32, 32)
    embedding_dim = 16
    template = TOY_TEMPLATE

    def __init__(self, seed: int, name: str = "a") -> None:
        super().__init__()
        self.name = name  # registry-like name, as a key's match_model refers to it
        torch.manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(8 * 8 * 8, 16),
        )

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        return x01 * 2 - 1

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def toy_models(names=("a", "b", "c")) -> dict[str, ToyRecognizer]:
    return {n: ToyRecognizer(i, n).eval().requires_grad_(False) for i, n in enumerate(names)}


def toy_training_set(n: int = 6, seed: int = 0) -> TrainingSet:
    """``n`` smooth random 64x64 'photos' with the face landmarks near the centre, slightly varied."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 8, 8, generator=g)
    regions = torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bicubic", align_corners=False).clamp(0, 1)
    regions = (regions + 0.05 * torch.rand(n, 3, 64, 64, generator=g)).clamp(0, 1)
    base = torch.tensor(TOY_TEMPLATE) * 1.4 + 10.0
    landmarks = base + torch.randn(n, 5, 2, generator=g) * 0.5
    contexts = torch.tensor([[0, 64, 0, 64]] * n)  # the face in context: the whole region
    return TrainingSet(regions, torch.ones(n, 1, 64, 64), landmarks, contexts, [f"p{i}" for i in range(n)], [])
