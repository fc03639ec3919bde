"""The 2x picture sheets of the figure scripts."""

import numpy as np
import pytest
import torch
from PIL import Image

from p3mask.protect.visuals import save_zoomed_png


def test_zoomed_png_keeps_pixels_square_and_never_replaces(tmp_path):
    image = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(0))
    path = save_zoomed_png(image, tmp_path / "sheet.png")
    written = np.asarray(Image.open(path))
    assert written.shape == (10, 14, 3)
    expected = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(written[::2, ::2], expected) and np.array_equal(written[1::2, 1::2], expected)
    with pytest.raises(FileExistsError):
        save_zoomed_png(image, path)
