"""Shared configuration helpers of every model family: the dataclass base (JSON round trip) and checks.

A family's own configs live in its folder (``models/<family>/config.py``).
"""
from __future__ import annotations

import dataclasses
from typing import Any


class Config:
    """Base of every model and loss config: a frozen dataclass that round-trips through a JSON dict."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kwargs)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def check_int(name: str, value, minimum: int):
    """ValueError unless ``value`` is an integer (not a bool) of at least ``minimum`` (0 or 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}")


def check_num_colors(num_colors: int) -> int:
    """GIF palettes hold 2..256 colours."""
    if not isinstance(num_colors, int) or isinstance(num_colors, bool) or not 2 <= num_colors <= 256:
        raise ValueError(f"number of colours must be an integer in 2..256, got {num_colors!r}")
    return num_colors
