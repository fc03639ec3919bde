"""Typed reports: dataclasses that turn into the plain dicts written as JSON, and back, field for field.

A report's schema is its dataclasses (``p3mask.evaluate.schema``, ``p3mask.compare.schema``; described in
``docs/REPORTS.md``). :func:`to_json_dict` writes the fields in their declared order (so the JSON file
reads as before), leaving out an optional block that is ``None`` when its field says so
(:func:`optional_block`); :func:`from_json_dict` reads a dict back, refusing a missing or unknown field
with its path in the report. Values are kept as they are (``nan`` stays ``nan``, an int stays an int; a
float field may hold ``null``, which is how :func:`p3mask.atomic.write_json` writes ``nan``), so
``to_json_dict(from_json_dict(cls, d)) == d`` for every report of the schema.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(kw_only=True)
    ... class Point:
    ...     x: float
    ...     note: str | None = optional_block()
    >>> to_json_dict(Point(x=1.5))
    {'x': 1.5}
    >>> from_json_dict(Point, {"x": 2, "y": 0})  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ReportError: report: unknown field(s) y (expected x, note)
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")
_OMIT = "omit_if_none"  # field metadata: leave the key out of the JSON when the value is None


class ReportError(ValueError):
    """A dict does not follow a report's schema; the message names the field's path."""


def optional_block() -> Any:
    """A dataclass field that defaults to ``None`` and is left out of the JSON while it is ``None``."""
    return dataclasses.field(default=None, metadata={_OMIT: True})


def to_json_dict(value: Any) -> Any:
    """``value`` with every dataclass turned into a dict of its fields (declared order), recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and f.metadata.get(_OMIT):
                continue
            out[f.name] = to_json_dict(item)
        return out
    if isinstance(value, dict):
        return {k: to_json_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_dict(v) for v in value]
    return value


def from_json_dict(cls: type[T], data: Any, where: str = "report") -> T:
    """Build the dataclass ``cls`` from a JSON dict, checking field names and nested structure.

    Raises:
        ReportError: ``data`` is not a dict, lacks a required field or has one the schema lacks.
    """
    if not isinstance(data, dict):
        raise ReportError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in known]
    if unknown:
        raise ReportError(f"{where}: unknown field(s) {', '.join(unknown)} (expected {', '.join(known)})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ReportError(f"{where}: missing field {f.name}")
            continue
        kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{where}.{f.name}")
    return cls(**kwargs)


def _decode(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]  # the schema's unions are "X or None" only
        return _decode(hint, value, where)
    if dataclasses.is_dataclass(hint):
        return from_json_dict(hint, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ReportError(f"{where}: expected an object, got {type(value).__name__}")
        return {k: _decode(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ReportError(f"{where}: expected a list, got {type(value).__name__}")
        return [_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is float and value is None:  # JSON has no NaN: a float that is not a number is written as null
        return value
    wrong_float = hint is float and not isinstance(value, (int, float))
    if wrong_float or (hint in (int, str, bool) and not isinstance(value, hint)):
        raise ReportError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
    return value


def as_json_dict(report: Report | dict) -> dict:
    """A report as its JSON dict (a plain dict passes through: the writers also take hand-made ones)."""
    return report.to_dict() if isinstance(report, Report) else report


class Report:
    """Base of a report dataclass: :meth:`to_dict` for the JSON file, :meth:`from_dict` and :meth:`load` back."""

    def to_dict(self) -> dict:
        """The JSON-ready dict the report file holds (:func:`to_json_dict`)."""
        return to_json_dict(self)

    @classmethod
    def from_dict(cls: type[T], data: dict) -> T:
        """Read a report dict (:func:`from_json_dict`)."""
        return from_json_dict(cls, data)

    @classmethod
    def load(cls: type[T], path: str | os.PathLike) -> T:
        """Read a report file written by :func:`p3mask.atomic.write_json`."""
        with open(path, encoding="utf-8") as fh:
            return from_json_dict(cls, json.load(fh), str(path))
