"""Configs of the restore family (GIF2Video, Wang et al. CVPR 2019): CCDNet, its losses, the dither classifier.

Defaults are the paper's values (full width); :data:`presets.MODEL_PRESETS` names the CPU default.
"""
from __future__ import annotations

import dataclasses

from gif_pipeline.config import Config, check_int

#: The authors' U-Net channel ratios (``UNet_simple``: ch, 2ch, 4ch, 8ch, 8ch with ch = 64; paper §4).
LEVEL_RATIOS = (1, 2, 4, 8, 8)


def _scaled(base: int, multiplier: float, ratios) -> tuple[int, ...]:
    return tuple(max(1, int(round(base * multiplier * r))) for r in ratios)


@dataclasses.dataclass(frozen=True)
class CCDNetConfig(Config):
    """CCDNet (§4): step 1 is a U-Net on the GIF alone; steps 2..k share one U-Net that reads
    ``[I_t, G, G_t, G - G_t]`` (12 channels) and updates the estimate.

    ``width_multiplier`` scales every level of the U-Net (1.0: the paper's 64-128-256-512-512).
    ``steps`` is k of CCDNet-k (1..3; the paper's best is k = 2).
    """

    width_multiplier: float = 1.0
    base_channels: int = 64  # §4 / UNet_simple's ch
    levels: int = 5  # §4: five resolution levels
    convs_per_level: int = 2  # two 3x3 conv + BN + ReLU per block
    steps: int = 2  # CCDNet-2, the paper's best (Table 1)
    batch_norm_momentum: float = 0.9  # PyTorch's default momentum 0.1
    # Not in the paper (False = §4: I_1 = tanh(U_1(G))): step 1 predicts a correction of the GIF itself,
    # z_1 = atanh(G) + U_1(G) (G clipped half a grey level inside [-1, 1]), so an untrained network starts at the
    # input GIF instead of grey. On this CPU budget the paper's form was still 9 dB below the input GIF after
    # 250 steps (docs/experiments/restore.md).
    residual: bool = False

    def __post_init__(self):
        if not (isinstance(self.width_multiplier, (int, float)) and self.width_multiplier > 0):
            raise ValueError(f"width_multiplier must be > 0, got {self.width_multiplier!r}")
        check_int("base_channels", self.base_channels, 1)
        check_int("levels", self.levels, 1)
        check_int("convs_per_level", self.convs_per_level, 1)
        check_int("steps", self.steps, 1)
        if self.steps > 3:
            raise ValueError(f"steps must be 1, 2 or 3, got {self.steps}")
        if self.levels > len(LEVEL_RATIOS):
            raise ValueError(f"levels must be at most {len(LEVEL_RATIOS)}, got {self.levels}")
        if not 0 < self.batch_norm_momentum < 1:
            raise ValueError(f"batch_norm_momentum must be in (0, 1), got {self.batch_norm_momentum!r}")

    @property
    def level_channels(self) -> tuple[int, ...]:
        return _scaled(self.base_channels, self.width_multiplier, LEVEL_RATIOS[: self.levels])

    @property
    def size_multiple(self) -> int:
        return 2 ** (self.levels - 1)

    @classmethod
    def tiny(cls, **overrides) -> "CCDNetConfig":
        """A test-sized CCDNet: 3 levels of 4-8-16 channels, one conv per block."""
        values = dict(width_multiplier=1 / 16, levels=3, convs_per_level=1, steps=2)
        values.update(overrides)
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class CCDNetLossConfig(Config):
    """§4.2 losses: ``image_weight * L1(I, I_hat) + gradient_weight * L1(|grad I|, |grad I_hat|)`` (forward
    differences, averaged over the unfolded steps), and with ``adversarial_weight`` > 0 the paper's optional
    adversarial term: a PatchGAN (:class:`DiscriminatorConfig`) on ``[G, I, grad I]`` of the last step's estimate
    (the authors' release: weight 1 beside 100 and 200, so the paper's lambda_adv = 0.01 relative). Off by default:
    it lowers PSNR in the paper's Table 1 (docs/experiments/restore.md: no measurable change here)."""

    image_weight: float = 100.0  # w_idl
    gradient_weight: float = 200.0  # w_gdl = 100 times the authors' factor 2
    adversarial_weight: float = 0.0  # w_ggan (the authors' 1 when on)

    def __post_init__(self):
        for name in ("image_weight", "gradient_weight", "adversarial_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig(Config):
    """The adversarial term's PatchGAN (pix2pix's ``n_layers`` discriminator, as the authors' release uses it):
    a 4x4 stride-2 conv (no norm), ``layers - 1`` more stride-2 convs with BatchNorm, one stride-1 conv with
    BatchNorm (LeakyReLU 0.2 after each), then a 4x4 conv to one logit per patch. Channels 64 x (1, 2, 4, 8) at
    full width, scaled by ``width_multiplier``. It reads 12 channels: the GIF, the image, and the image's
    forward differences (x and y)."""

    width_multiplier: float = 1.0
    base_channels: int = 64  # ndf
    layers: int = 3  # n_layers
    leak: float = 0.2
    batch_norm_momentum: float = 0.9

    def __post_init__(self):
        if not (isinstance(self.width_multiplier, (int, float)) and self.width_multiplier > 0):
            raise ValueError(f"width_multiplier must be > 0, got {self.width_multiplier!r}")
        check_int("base_channels", self.base_channels, 1)
        check_int("layers", self.layers, 1)

    @property
    def channels(self) -> tuple[int, ...]:
        """Output channels of the convolutions before the logit conv."""
        return tuple(max(1, int(round(self.base_channels * self.width_multiplier * min(2 ** i, 8))))
                     for i in range(self.layers + 1))

    @classmethod
    def tiny(cls, **overrides) -> "DiscriminatorConfig":
        values = dict(width_multiplier=1 / 16, layers=2)
        values.update(overrides)
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class ClassifierConfig(Config):
    """The dither classifier (§6.1.1): RGB + gradient maps -> 4 conv layers (stride 2, BN, LeakyReLU 0.2)
    -> global average pooling -> P(dithered)."""

    width_multiplier: float = 1.0
    channels: tuple[int, ...] = (64, 128, 256, 256)
    leak: float = 0.2
    batch_norm_momentum: float = 0.9

    def __post_init__(self):
        if not (isinstance(self.width_multiplier, (int, float)) and self.width_multiplier > 0):
            raise ValueError(f"width_multiplier must be > 0, got {self.width_multiplier!r}")
        if not self.channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(f"channels must be positive integers, got {self.channels!r}")

    @property
    def scaled_channels(self) -> tuple[int, ...]:
        return tuple(max(1, int(round(c * self.width_multiplier))) for c in self.channels)

    @classmethod
    def tiny(cls, **overrides) -> "ClassifierConfig":
        values = dict(width_multiplier=1 / 16)
        values.update(overrides)
        return cls(**values)
