"""Perceptual quality of protected photos: what people see, not only SSIM.

- :func:`ssimulacra2` / :class:`SSIMULACRA2` / :class:`SSIMULACRA2Reference`: SSIMULACRA2 in PyTorch
  (differentiable; the last scores many candidates against one fixed reference).
- :func:`ciede2000`, :func:`srgb_to_lab`, :func:`colour_report`: CIEDE2000 colour difference.
- :func:`face_in_context`: the square around a face box, twice its size, clipped to the photo;
  :func:`changed_box`: the box a mask's change covers (what a restricted SSIMULACRA2 reads).
- :func:`butteraugli`: the independent audit (libjxl's ``butteraugli_main`` as a subprocess).
"""

from p3mask.quality.butteraugli import ButteraugliScore, butteraugli, butteraugli_available
from p3mask.quality.colour import ColourReport, ciede2000, colour_report, srgb_to_lab
from p3mask.quality.context import changed_box, face_in_context
from p3mask.quality.ssimulacra2 import SSIMULACRA2, SSIMULACRA2Reference, num_scales, ssimulacra2

__all__ = [
    "ButteraugliScore",
    "ColourReport",
    "SSIMULACRA2",
    "SSIMULACRA2Reference",
    "butteraugli",
    "butteraugli_available",
    "ciede2000",
    "changed_box",
    "colour_report",
    "face_in_context",
    "num_scales",
    "srgb_to_lab",
    "ssimulacra2",
]
