"""Protection methods behind one interface: Chameleon and the baselines it is compared with.

:data:`METHODS` is the registry (name -> :class:`Protector` subclass, called with the method's
hyperparameters); :func:`get_method` builds one by name.

Example:
    >>> available_methods()
    ['chameleon', 'fawkes', 'lowkey', 'opom']
"""

from __future__ import annotations

from collections.abc import Callable

from p3mask.methods.base import NoUserFaceError, Protector, load_photos
from p3mask.methods.chameleon import ChameleonProtector
from p3mask.methods.fawkes import Fawkes
from p3mask.methods.lowkey import LowKey
from p3mask.methods.opom import OPOM
from p3mask.registries import entry

METHODS: dict[str, Callable[..., Protector]] = {
    "chameleon": ChameleonProtector,  # Chow et al., ECCV 2024 (this project)
    "fawkes": Fawkes,  # Shan et al., USENIX Security 2020
    "lowkey": LowKey,  # Cherepanova et al., ICLR 2021
    "opom": OPOM,  # Zhong & Deng, TPAMI 2022
}


def available_methods() -> list[str]:
    """Names of every registered protection method."""
    return list(METHODS)


def get_method(name: str, **kwargs) -> Protector:
    """Build a protection method by name with its hyperparameters.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    return entry(METHODS, name, "method")(**kwargs)


__all__ = ["METHODS", "ChameleonProtector", "Fawkes", "LowKey", "NoUserFaceError", "OPOM", "Protector",
           "available_methods", "get_method", "load_photos"]
