"""The one interface every face-recognition model in the zoo has."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from p3mask.checks import check_image_batch

# Five facial landmarks, in image order: eye at smaller x, eye at larger x, nose tip,
# mouth corner at smaller x, mouth corner at larger x (YuNet's order).
Template = tuple[tuple[float, float], ...]

# ArcFace/InsightFace 112x112 reference landmarks (Deng et al., CVPR 2019), pixel coordinates (x, y).
ARCFACE_112: Template = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)


class FaceRecognizer(nn.Module):
    """Base class of the zoo: RGB [0, 1] aligned crops in, L2-normalised embeddings out.

    Subclasses set the class attributes and implement :meth:`preprocess` (the model's own
    normalisation) and :meth:`embed` (the network proper, returning unnormalised features).

    Attributes:
        name: registry name.
        input_size: ``(H, W)`` of the aligned crop the model expects.
        embedding_dim: length D of the embedding.
        template: five reference landmarks ``(x, y)`` in crop pixels, in :data:`Template` order.
        channels_last: the network runs in the channels-last memory layout (set where that was measured
            faster on CPU, forward plus backward, with oneDNN; :func:`p3mask.models.load_model` converts
            the weights and :meth:`forward` the input).
    """

    name: ClassVar[str]
    input_size: ClassVar[tuple[int, int]]
    embedding_dim: ClassVar[int]
    template: ClassVar[Template]
    channels_last: ClassVar[bool] = False

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """Map ``(B, 3, H, W)`` RGB in [0, 1] to what the network was trained on."""
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Network proper: preprocessed ``(B, 3, H, W)`` -> unnormalised ``(B, D)``."""
        raise NotImplementedError

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        """Embed aligned crops.

        Args:
            x01: ``(B, 3, H, W)`` RGB in [0, 1] with ``(H, W) == input_size``.

        Returns:
            ``(B, D)`` L2-normalised embeddings.
        """
        check_image_batch(x01, self.input_size)
        x = self.preprocess(x01)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return F.normalize(self.embed(x), dim=1)
