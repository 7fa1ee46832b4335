"""Dataclass configs for every model and loss, with the GIFnets paper's values as defaults.

Trainers override fields from absl flags; tests build tiny variants (see ``tiny()``).
Each config round-trips through ``to_dict`` / ``from_dict`` so that it can be written as
JSON beside the weights it describes.
"""
from __future__ import annotations

import dataclasses
from typing import Any


class _Config:
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


def check_num_colors(num_colors: int) -> int:
    """GIF palettes hold 2..256 colours."""
    if not isinstance(num_colors, int) or isinstance(num_colors, bool) or not 2 <= num_colors <= 256:
        raise ValueError(f"number of colours must be an integer in 2..256, got {num_colors!r}")
    return num_colors


@dataclasses.dataclass(frozen=True)
class PaletteNetConfig(_Config):
    """PaletteNet (GIFnets §3.1): backbone -> global average pool -> Dense(Np*3) -> tanh."""

    num_colors: int = 16
    backbone: str = "inception_v2"  # or "pointnet", the paper's comparison
    depth_multiplier: float = 1.0  # InceptionV2 width multiplier (TF-slim semantics)
    min_depth: int = 16  # InceptionV2 minimum channel count (TF-slim semantics)
    pointnet_widths: tuple[int, ...] = (64, 128, 1024)  # PointNet's shared per-pixel MLP

    def __post_init__(self):
        check_num_colors(self.num_colors)
        if self.backbone not in ("inception_v2", "pointnet"):
            raise ValueError(f"backbone must be 'inception_v2' or 'pointnet', got {self.backbone!r}")


@dataclasses.dataclass(frozen=True)
class DitherNetConfig(_Config):
    """DitherNet (GIFnets §3.2): a U-Net that predicts the error image E' (Eq. 5)."""

    block_channels: tuple[int, ...] = (16, 32, 32, 64, 64)
    bottleneck_channels: tuple[int, ...] = (512, 512)
    temperature: float = 1e-3  # soft projection temperature T in training (paper: 0.001)


@dataclasses.dataclass(frozen=True)
class BandingNetConfig(_Config):
    """BandingNet (GIFnets §3.3): [Y, banding-edge map] -> 4 conv blocks -> Dense(256) -> Dense(1)."""

    channels: tuple[int, ...] = (32, 64, 64, 64)
    pool_stride: int = 4
    dense_units: int = 256
    use_edge_map: bool = True  # the paper's ablation: 0.057 MAD with, 0.088 without


@dataclasses.dataclass(frozen=True)
class LossConfig(_Config):
    """Weights of Eq. 6 and Eq. 9, defaults from the supplement for Np <= 64.

    L_dither = lam * L1(I, I_hat) + gamma * L1(E', I' - I) + delta * B(I_hat) + theta * R(I, I_hat)
    L_total  = beta * L2(I, I') + L_dither
    """

    lam: float = 0.01
    gamma: float = 0.3
    delta: float = 0.05
    theta: float = 0.0  # perceptual term R: 0.001 (VGG) or 0.0001 (NIMA) when weights are given
    beta: float = 1.0
    perceptual: str = "none"  # "none", "vgg16", "vgg19" or "nima"
    banding_eta: float = 1.5  # multi-scale factor eta of Eq. 7
    banding_scales: int = 4  # k = 1..4 in Eq. 8

    @classmethod
    def for_num_colors(cls, num_colors: int, perceptual: str = "none") -> "LossConfig":
        """The supplement's weights: Np <= 64 vs Np >= 128 (lambda 0.2, delta 0.025)."""
        check_num_colors(num_colors)
        theta = {"none": 0.0, "vgg16": 1e-3, "vgg19": 1e-3, "nima": 1e-4}[perceptual]
        if num_colors >= 128:
            return cls(lam=0.2, delta=0.025, theta=theta, perceptual=perceptual)
        return cls(theta=theta, perceptual=perceptual)
