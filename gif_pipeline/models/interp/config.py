"""Configs of the interpolation network (GIF2Video §4.2) and its losses, with the authors' values as defaults.

The authors' release (yangwangx/gif2video_code, ``netSlomo``) is the reference for what the paper leaves
open: the U-Net's shape, the flow scale ``maxFlow`` and the loss weights.
"""
from __future__ import annotations

import dataclasses

from gif_pipeline.config import Config, check_int

#: The frames the flow U-Net can read: the GIF's ("parallel") or the restored ones ("sequential").
FLOW_INPUTS = ("gif", "restored")


@dataclasses.dataclass(frozen=True)
class InterpNetConfig(Config):
    """Two U-Nets (flow, then refinement + visibility) around backward warping (GIF2Video §4.2, Super SloMo §3).

    Widths are ``base_width * 2**level`` (capped at ``16 * base_width`` as in the release), times
    ``width_multiplier``: 1.0 is the authors' width (32 at full size); the CPU default trains here.
    """

    width_multiplier: float = 1.0  # x the release's width 32; presets: "paper" 1.0, "cpu" 0.25
    base_width: int = 32  # the release's ``ch=32``
    min_width: int = 4  # no level narrower than this after the multiplier
    levels: int = 6  # the release: 6 levels (5 average-pool downsamplings)
    first_kernels: tuple[int, ...] = (7, 5)  # the release: 7x7 convs at level 0, 5x5 at level 1, then 3x3
    leak: float = 0.1  # LeakyReLU slope (the release)
    max_flow: float = 30.0  # the release's maxFlow: flows are tanh outputs times this (pixels)
    # Which frames the flow U-Net reads: "gif" (the paper's "parallel" variant, the raw GIF frames) or
    # "restored" (the "sequential" variant, the dequantized frames). Without a restoration network the
    # two are the same input; the model takes both and picks.
    flow_input: str = "gif"
    # Not in the release, which predicts the refined flows outright: the refinement U-Net predicts a residual
    # added to the initial intermediate flows (as Super SloMo does), so an untrained refinement starts from
    # the flow-based estimate. "absolute" is the release's way.
    refine: str = "residual"

    def __post_init__(self):
        if not isinstance(self.width_multiplier, (int, float)) or isinstance(self.width_multiplier, bool) \
                or not self.width_multiplier > 0:
            raise ValueError(f"width_multiplier must be > 0, got {self.width_multiplier!r}")
        check_int("base_width", self.base_width, 1)
        check_int("min_width", self.min_width, 1)
        check_int("levels", self.levels, 1)
        ks = tuple(self.first_kernels)
        if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0 for k in ks):
            raise ValueError(f"first_kernels must be odd positive integers, got {ks!r}")
        if not 0.0 <= self.leak < 1.0:
            raise ValueError(f"leak must be in [0, 1), got {self.leak!r}")
        if not self.max_flow > 0:
            raise ValueError(f"max_flow must be > 0, got {self.max_flow!r}")
        if self.flow_input not in FLOW_INPUTS:
            raise ValueError(f"flow_input must be 'gif' or 'restored', got {self.flow_input!r}")
        if self.refine not in ("residual", "absolute"):
            raise ValueError(f"refine must be 'residual' or 'absolute', got {self.refine!r}")

    def widths(self) -> tuple[int, ...]:
        """Channels per level: the release's ``ch * (1, 2, 4, 8, 16, 16)``, times the multiplier."""
        return tuple(max(self.min_width, int(round(self.base_width * self.width_multiplier * min(2 ** i, 16))))
                     for i in range(self.levels))

    def kernel(self, level: int) -> int:
        return self.first_kernels[level] if level < len(self.first_kernels) else 3

    @property
    def multiple(self) -> int:
        """Input sizes the U-Net handles without resizing its skips: a multiple of ``2 ** (levels - 1)``."""
        return 2 ** (self.levels - 1)

    @classmethod
    def paper(cls, **overrides) -> "InterpNetConfig":
        return cls(**overrides)

    @classmethod
    def cpu(cls, **overrides) -> "InterpNetConfig":
        """The CPU default: a quarter of the authors' width (8 channels at full size, 128 at the bottom)."""
        return cls(**{"width_multiplier": 0.25, **overrides})

    @classmethod
    def tiny(cls, **overrides) -> "InterpNetConfig":
        """For tests: 3 levels of 4-8 channels."""
        return cls(**{"width_multiplier": 0.125, "levels": 3, "min_width": 4, **overrides})


@dataclasses.dataclass(frozen=True)
class InterpLossConfig(Config):
    """The release's loss weights (``--w_idl 0.5 --w_gdl 0.5 --w_warp 0.5 --w_smooth 1``): image terms in 0-255
    units (x127.5 of the [-1, 1] range), smoothness in pixels (x ``max_flow`` of the tanh flows).

    The adversarial term of the paper's GAN variant is left out (``adversarial`` 0): the release trains a
    "nogan" model too, and a discriminator would double the cost of a CPU step.
    """

    reconstruction: float = 0.5  # L1 of the interpolated frames (the release's w_idl)
    gradient: float = 0.5  # L1 of their spatial gradients (w_gdl)
    warping: float = 0.5  # L1 of frames warped by the predicted flows (w_warp)
    smoothness: float = 1.0  # total variation of F01 and F10 (w_smooth)
    adversarial: float = 0.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"{f.name} must be a non-negative number, got {v!r}")
        if self.adversarial:
            raise ValueError("the adversarial term is not implemented (adversarial must be 0)")
