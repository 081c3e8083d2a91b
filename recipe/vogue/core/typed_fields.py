"""Type checks for the frozen config dataclasses (``vogue.*``), so a wrong type fails with the field's name.

Hydra passes values through as written: ``vogue.enable='false'`` (or ``${oc.env:...}``) arrives as the
STRING "false", which Python treats as true, and ``alpha_out=True`` as a number. Every field is checked
against its annotation instead.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

__all__ = ["check_field_types"]


def _describe(value: Any) -> str:
    return f"{value!r} (a {type(value).__name__})"


def _check_value(name: str, kind: str, value: Any) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {_describe(value)}")
        return value
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number, got {_describe(value)}")
        if kind == "int" and not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {_describe(value)}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return value if kind == "int" else float(value)
    if kind == "str" and not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {_describe(value)}")
    return value


def check_field_types(instance: Any, section: str) -> None:
    """Check (and normalise int → float for float fields) every bool/int/float/str field of a frozen
    dataclass, in place; ``X | None`` fields also accept None. Nested dataclass fields are left alone."""
    for field in dataclasses.fields(instance):
        annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        kinds = [part.strip() for part in annotation.split("|")]
        value = getattr(instance, field.name)
        if value is None and "None" in kinds:
            continue
        kind = kinds[0]
        if kind in ("bool", "int", "float", "str"):
            object.__setattr__(instance, field.name, _check_value(f"{section}.{field.name}", kind, value))
