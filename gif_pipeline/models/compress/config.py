"""Configs of the compression family (Agustsson et al., "Generative Adversarial Networks for Extreme Learned
Image Compression", ICCV 2019; "GC" below), with the paper's values as defaults.

``CompressionConfig.paper()`` is the paper's network, ``CompressionConfig()`` the CPU default that trains here
(widths / 4, 6 residual blocks), ``tiny()`` the test size.
"""
from __future__ import annotations

import dataclasses
import math

from gif_pipeline.config import Config, check_int

#: The paper's widths (§3, Appendix A): E = c7s1-60, d120, d240, d480, d960, c3s1-C; G = c3s1-960, 9 x R960,
#: u480, u240, u120, u60, c7s1-3. D = C64-C128-C256-C512 at each scale (pix2pixHD).
PAPER_ENCODER_WIDTHS = (60, 120, 240, 480, 960)
PAPER_DISCRIMINATOR_WIDTHS = (64, 128, 256, 512)
DOWNSAMPLING = 16  # four stride-2 layers: the latent is W/16 x H/16 x C


def _scaled(widths, multiplier):
    return tuple(max(4, int(round(w * multiplier))) for w in widths)


@dataclasses.dataclass(frozen=True)
class CompressionConfig(Config):
    """Encoder E, quantizer and generator G (GC §3.1-3.2).

    ``width_multiplier`` scales every width of E and G (1.0: the paper's, 60...960); the CPU default 0.25
    gives 8...120 (widths / 4, 15...240, is 2.7x slower per step on this CPU).
    """

    channels: int = 4  # C, latent channels: {2, 4, 8} in the paper (0.0181 / 0.0363 / 0.0726 bpp bound)
    num_centers: int = 5  # L, quantizer centres {-2, -1, 0, 1, 2} (§3.1)
    width_multiplier: float = 0.125  # paper: 1.0; widths / 8 trains 2.7x faster than / 4 here
    residual_blocks: int = 6  # paper: 9
    sigma: float = 1.0  # soft quantization: softmax(-sigma * (w - c)^2) gives the backward pass
    selective: bool = True  # G reads the keep map as an extra channel (selective compression, §3.3)
    # "instance" (the paper): instance norm after every convolution of E and G but the last. "none": no normalization.
    # Instance norm subtracts each image's channel means right after E's first layer, so the global colour of an image
    # reaches the code only indirectly; our first CPU run (docs/experiments/compress.md) decoded grey images after 800
    # steps. "none" also makes E and G independent of the image size (per-image statistics of 128 px training crops
    # differ from a 512 px photo's).
    norm: str = "none"
    # G's four 2x upsampling layers. "transpose" (the paper's fractionally strided 3 x 3 convolutions): at the CPU widths
    # they left a strong checkerboard in decoded images (docs/experiments/compress.md). "resize": nearest-neighbour 2x
    # then a 3 x 3 convolution (Odena et al., "Deconvolution and Checkerboard Artifacts", 2016), the same parameters.
    upsample: str = "transpose"
    # Not in the paper: G adds a 1 x 1 convolution of the code, upsampled bilinearly to the image, to its output before
    # the tanh (a linear colour path from each latent cell). The CPU models without it carried the cells' luminance and
    # red-blue but hardly their green-magenta (docs/experiments/compress.md, 2026-12-07).
    colour_shortcut: bool = False
    # How G's convolutions pad. "zeros" (Keras' "same"): the first CPU GCs drew a thin coloured frame along every image
    # border, which the GAN phase sharpened. "symmetric": mirror the features (edge repeated) before each "valid"
    # convolution, as pix2pixHD's generator (the paper's base) pads; the same weights, so a "zeros" G fine-tunes into it.
    generator_padding: str = "zeros"

    def __post_init__(self):
        check_int("channels", self.channels, 1)
        check_int("num_centers", self.num_centers, 2)
        check_int("residual_blocks", self.residual_blocks, 0)
        if self.num_centers % 2 != 1:
            raise ValueError(f"num_centers must be odd (centres -k..k), got {self.num_centers!r}")
        if not 0 < self.width_multiplier <= 4:
            raise ValueError(f"width_multiplier must be in (0, 4], got {self.width_multiplier!r}")
        if self.norm not in ("instance", "none"):
            raise ValueError(f"norm must be 'instance' or 'none', got {self.norm!r}")
        if self.upsample not in ("transpose", "resize"):
            raise ValueError(f"upsample must be 'transpose' or 'resize', got {self.upsample!r}")
        if self.generator_padding not in ("zeros", "symmetric"):
            raise ValueError(f"generator_padding must be 'zeros' or 'symmetric', got {self.generator_padding!r}")
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma!r}")

    @property
    def centers(self) -> tuple[float, ...]:
        k = self.num_centers // 2
        return tuple(float(c) for c in range(-k, k + 1))

    @property
    def encoder_widths(self) -> tuple[int, ...]:
        return _scaled(PAPER_ENCODER_WIDTHS, self.width_multiplier)

    @property
    def generator_widths(self) -> tuple[int, ...]:
        """G's widths: the residual blocks' width, then the four upsampling layers' (paper: 960, 480...60)."""
        return tuple(reversed(self.encoder_widths))

    def bound_bpp(self) -> float:
        """The rate bound dim(w)·log2 L / (W·H) = C·log2 L / 16² bits per pixel (GC §3.1)."""
        return self.channels * math.log2(self.num_centers) / DOWNSAMPLING ** 2

    @classmethod
    def paper(cls, **overrides) -> "CompressionConfig":
        return cls(**{"width_multiplier": 1.0, "residual_blocks": 9, "norm": "instance", **overrides})

    @classmethod
    def tiny(cls, **overrides) -> "CompressionConfig":
        return cls(**{"width_multiplier": 0.05, "residual_blocks": 1, "channels": 2, **overrides})


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig(Config):
    """Multi-scale PatchGAN (pix2pixHD; GC §3.2): ``scales`` copies of C64-C128-C256-C512 on 2x-downsampled inputs."""

    scales: int = 2  # pix2pixHD: 2-3
    width_multiplier: float = 0.25

    def __post_init__(self):
        check_int("scales", self.scales, 1)
        if not 0 < self.width_multiplier <= 4:
            raise ValueError(f"width_multiplier must be in (0, 4], got {self.width_multiplier!r}")

    @property
    def widths(self) -> tuple[int, ...]:
        return _scaled(PAPER_DISCRIMINATOR_WIDTHS, self.width_multiplier)

    @classmethod
    def paper(cls, **overrides) -> "DiscriminatorConfig":
        return cls(**{"width_multiplier": 1.0, "scales": 3, **overrides})

    @classmethod
    def tiny(cls, **overrides) -> "DiscriminatorConfig":
        return cls(**{"width_multiplier": 0.05, "scales": 2, **overrides})


@dataclasses.dataclass(frozen=True)
class LossConfig(Config):
    """GC's objective (§3.2, Eq. 4-6): LSGAN + lambda * MSE + feature matching (+ VGG when weights are local)."""

    mode: str = "gan"  # "mse": the paper's MSE baseline (no discriminator); "gan": GC
    mse_weight: float = 10.0  # lambda (images in [-1, 1])
    # Not in the paper: the MSE of the 16 x 16 block means (one latent cell's pixels), on the kept blocks. 0: off.
    # The CPU models' codes carried the blocks' luminance and red-blue but hardly their green-magenta
    # (docs/experiments/compress.md, 2026-12-07): this term weighs the colour a cell must carry.
    lowpass_weight: float = 0.0
    gan_weight: float = 1.0
    feature_matching_weight: float = 12.0
    vgg_weight: float = 12.0  # used only when vgg_weights names a local file
    vgg_weights: str = ""  # a local Keras VGG19 weights file (ImageNet); nothing is downloaded
    # Random-box selective compression (GC §3.3, "RB"): with this probability a training image gets a random box
    # that is kept (its code sent, full distortion loss); the rest is synthesized from a zeroed code.
    box_probability: float = 0.0
    min_box_fraction: float = 0.25  # the random box's side, as a fraction of the crop, lies in [min, 1)

    def __post_init__(self):
        if self.mode not in ("mse", "gan"):
            raise ValueError(f"mode must be 'mse' or 'gan', got {self.mode!r}")
        for name in ("mse_weight", "lowpass_weight", "gan_weight", "feature_matching_weight", "vgg_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.box_probability <= 1:
            raise ValueError(f"box_probability must be in [0, 1], got {self.box_probability!r}")
        if not 0 < self.min_box_fraction < 1:
            raise ValueError(f"min_box_fraction must be in (0, 1), got {self.min_box_fraction!r}")
