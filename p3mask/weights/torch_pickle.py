"""Read the tensors of a pickled whole PyTorch model without executing any of its code.

``torch.save(model)`` pickles the module objects themselves; ``torch.load`` of such a file imports
and runs whatever classes and callables the pickle names. Here a :class:`pickle.Unpickler` subclass
resolves globals only to inert stand-ins: tensor and parameter rebuilds become :class:`TensorRef`
records, storage types become dtype tags, ``collections.OrderedDict`` is the one real class it
builds, and every other name (``torch.nn.Conv2d``, the model's own classes, ``torch.device``, or
anything else) becomes an :class:`Inert` record of the arguments and state it was given. Nothing
is imported and no callable from the file runs.

Two container formats are read:

* legacy (torch < 1.6): five consecutive pickles (magic number, protocol version, system info, the
  object, the list of storage keys), then each storage as an int64 element count and its raw bytes;
* zip (torch >= 1.6): ``<prefix>/data.pkl`` with storages in ``<prefix>/data/<key>``.

Storages are identified by ``persistent_load`` ids ``("storage", type, key, location, numel[, view])``.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
LEGACY_PROTOCOL = 1001  # torch.serialization.PROTOCOL_VERSION

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


@dataclass
class Storage:
    """A storage named by the pickle; ``data`` is filled once its bytes are read."""

    key: str
    dtype: type
    numel: int
    data: np.ndarray | None = None


@dataclass
class TensorRef:
    """A tensor the pickle rebuilds: a strided view of a :class:`Storage` (offsets/strides in elements)."""

    storage: Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    parameter: bool = False

    def materialise(self) -> torch.Tensor:
        """The tensor as a contiguous copy of its storage's data."""
        if self.storage.data is None:
            raise ValueError(f"storage {self.storage.key} has no data")
        flat = self.storage.data
        extent = 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride)) if all(self.size) else 0
        if self.offset + extent > flat.size:
            raise ValueError(f"tensor {self.size} at offset {self.offset} runs past storage {self.storage.key}")
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=[s * flat.itemsize for s in self.stride], writeable=False
        )
        return torch.from_numpy(np.array(view))


@dataclass
class Inert:
    """Stand-in for any object the pickle builds from a global other than the allowed ones."""

    qualname: str  # "module.Name" the pickle asked for
    args: tuple = ()
    state: object = None
    items: list = field(default_factory=list)

    def __setstate__(self, state: object) -> None:  # pickle BUILD
        self.state = state

    def append(self, item: object) -> None:  # pickle APPEND(S) on a list-like object
        self.items.append(item)

    def extend(self, items: list) -> None:
        self.items.extend(items)

    def __setitem__(self, key: object, value: object) -> None:  # pickle SETITEM(S) on a dict-like object
        self.items.append((key, value))


def _inert_new(qualname: str) -> type:
    """A stand-in class for the global ``qualname``: NEWOBJ and REDUCE both make an :class:`Inert` record."""

    def new(cls: type, *args: object) -> Inert:
        obj = object.__new__(cls)
        Inert.__init__(obj, qualname, args)
        return obj

    return type(qualname.rpartition(".")[2], (Inert,), {"__new__": new, "__init__": lambda self, *args: None})


def _rebuild_tensor(storage: Storage, offset: int, size: tuple, stride: tuple, *_: object) -> TensorRef:
    if not isinstance(storage, Storage):
        raise pickle.UnpicklingError(f"tensor rebuilt from {type(storage).__name__}, not a storage")
    return TensorRef(storage, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


def _rebuild_parameter(data: TensorRef, *_: object) -> TensorRef:
    if not isinstance(data, TensorRef):
        raise pickle.UnpicklingError(f"parameter rebuilt from {type(data).__name__}, not a tensor")
    data.parameter = True
    return data


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that imports nothing: see the module docstring for what each global resolves to.

    Args:
        file: binary file positioned at a pickle.
        storages: storages met so far, by key (shared across the pickles of one file).
    """

    _REAL = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file: io.BufferedIOBase, storages: dict[str, Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> object:
        real = self._REAL.get((module, name))
        if real is not None:
            return real
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        return _inert_new(f"{module}.{name}")

    def persistent_load(self, pid: object) -> object:
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if pid[0] == "module":  # legacy format: ("module", class, source file, source); the class is inert
            return pid[1]
        if pid[0] != "storage" or len(pid) not in (5, 6):  # zip format: no view entry
            raise pickle.UnpicklingError(f"unexpected persistent id {pid[:2]!r}")
        _, dtype, key, _location, numel, *rest = pid
        view = rest[0] if rest else None
        if view is not None:
            raise pickle.UnpicklingError(f"storage {key}: storage views are not supported")
        if not isinstance(dtype, type) or dtype not in STORAGE_DTYPES.values():
            raise pickle.UnpicklingError(f"storage {key}: unknown storage type {dtype!r}")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = Storage(key, dtype, int(numel))
        return self.storages[key]


def _load_legacy(fh: io.BufferedIOBase, path: Path) -> object:
    storages: dict[str, Storage] = {}

    def load() -> object:
        return RestrictedUnpickler(fh, storages).load()

    if load() != LEGACY_MAGIC:
        raise ValueError(f"{path}: not a PyTorch file (wrong magic number)")
    if load() != LEGACY_PROTOCOL:
        raise ValueError(f"{path}: unsupported PyTorch legacy protocol")
    sys_info = load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise ValueError(f"{path}: only little-endian PyTorch files are supported")
    result = load()
    keys = load()
    if not isinstance(keys, list):
        raise ValueError(f"{path}: storage key list missing")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise ValueError(f"{path}: storage {key} listed but never used")
        numel = int(np.frombuffer(fh.read(8), dtype="<i8")[0])
        itemsize = np.dtype(storage.dtype).itemsize
        raw = fh.read(numel * itemsize)
        if numel != storage.numel or len(raw) != numel * itemsize:
            raise ValueError(f"{path}: storage {key} is truncated or has the wrong size")
        storage.data = np.frombuffer(raw, dtype=np.dtype(storage.dtype).newbyteorder("<"))
    return result


def _load_zip(path: Path) -> object:
    with zipfile.ZipFile(path) as zf:
        pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ValueError(f"{path}: expected one data.pkl in the zip, found {len(pkl)}")
        prefix = pkl[0][: -len("data.pkl")]
        storages: dict[str, Storage] = {}
        result = RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), storages).load()
        for key, storage in storages.items():
            raw = zf.read(f"{prefix}data/{key}")
            storage.data = np.frombuffer(raw, dtype=np.dtype(storage.dtype).newbyteorder("<"))[: storage.numel]
    return result


def load_inert(path: str | Path) -> object:
    """Unpickle a PyTorch file with every class inert and every tensor a :class:`TensorRef` with its data.

    Raises:
        ValueError: the file is not a PyTorch file this reader understands, or its storages are damaged.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as fh:
        try:
            return _load_legacy(fh, path)
        except (pickle.UnpicklingError, EOFError) as exc:
            raise ValueError(f"{path}: cannot read the pickle: {exc}") from exc


def module_state(obj: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """State dict (parameters then buffers, depth first) of an inert pickled ``nn.Module`` tree.

    Reads the ``_parameters``, ``_buffers`` and ``_modules`` entries of each module's pickled state, as
    ``nn.Module.state_dict`` does (non-persistent buffers are not told apart: such files list none).
    """
    if not isinstance(obj, Inert) or not isinstance(obj.state, dict):
        raise ValueError(f"{prefix or 'root'}: not a pickled module ({type(obj).__name__})")
    out: dict[str, torch.Tensor] = {}
    for table in ("_parameters", "_buffers"):
        for name, ref in (obj.state.get(table) or {}).items():
            if ref is not None:
                if not isinstance(ref, TensorRef):
                    raise ValueError(f"{prefix}{name}: expected a tensor, got {type(ref).__name__}")
                out[prefix + name] = ref.materialise()
    for name, child in (obj.state.get("_modules") or {}).items():
        if child is not None:
            out.update(module_state(child, f"{prefix}{name}."))
    return out


__all__ = ["Inert", "RestrictedUnpickler", "Storage", "TensorRef", "load_inert", "module_state"]
