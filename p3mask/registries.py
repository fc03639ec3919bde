"""The one lookup of every registry (a plain dict of name -> entry: models, methods, datasets, presets,
transforms, hulls): an unknown name is refused with the same words everywhere, listing the valid ones.

Example:
    >>> entry({"low": 1, "mid": 2}, "mid", "preset")
    2
    >>> entry({"low": 1, "mid": 2}, "max", "preset")
    Traceback (most recent call last):
    ...
    ValueError: unknown preset 'max'; valid presets: low, mid
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def entry(registry: Mapping[str, T], name: str, kind: str) -> T:
    """``registry[name]``; an unknown ``name`` raises ``ValueError`` naming the ``kind`` and the valid names."""
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(registry)}")
    return registry[name]
