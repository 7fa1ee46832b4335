"""Dataclass configs for every GIFnets model and loss, with the GIFnets paper's values as defaults.

Trainers override fields from absl flags; tests build tiny variants (see ``tiny()``).
Each config round-trips through ``to_dict`` / ``from_dict`` so that it can be written as
JSON beside the weights it describes.
"""
from __future__ import annotations

import dataclasses

from gif_pipeline.config import Config, check_int, check_num_colors  # noqa: F401  (check_num_colors: re-exported)


@dataclasses.dataclass(frozen=True)
class PaletteNetConfig(Config):
    """PaletteNet (GIFnets §3.1): backbone -> global average pool -> Dense(Np*3) -> tanh (or the slot head)."""

    num_colors: int = 16
    backbone: str = "inception_v2"  # or "pointnet", the paper's comparison
    depth_multiplier: float = 1.0  # InceptionV2 width multiplier (TF-slim semantics)
    min_depth: int = 16  # InceptionV2 minimum channel count (TF-slim semantics)
    use_separable_conv: bool = True  # slim's Conv2d_1a_7x7 is a separable conv by default
    pointnet_widths: tuple[int, ...] = (64, 128, 1024)  # PointNet's shared per-pixel MLP
    # Moving-average momentum of every batch norm. Slim uses 0.9997 for long ImageNet runs;
    # 0.99 lets the inference statistics catch up within a short CPU training run.
    batch_norm_momentum: float = 0.99
    # Not in the paper (0 = Eq. 2 alone): weight of a coverage term, the mean over palette colours
    # of the squared distance to their nearest pixel. Eq. 2 only moves colours that some pixel
    # picks; a colour no pixel picks gets no gradient and stays dead. The term pulls it back.
    coverage_weight: float = 0.0
    # Short side (pixels) the network reads at inference; larger images are downscaled first
    # (the palette is a global property). 0 reads the image as given. The trainer records its
    # --image_size here.
    input_size: int = 0
    # How the tanh output becomes the palette. "direct" (the paper): the palette is the tanh output.
    # "whitened" (not in the paper): the tanh output z, times ``whitened_scale``, is read in the
    # image's whitened colour space, palette = mean + scale * z @ chol(cov)^T, clipped to [-1, 1].
    # Even an image-blind z then gives an image-adapted palette, so training starts near a good
    # quantizer instead of a random one.
    output: str = "direct"
    whitened_scale: float = 3.0
    # Not in the paper: prefix sizes that are trained to be palettes on their own, e.g.
    # (16, 32, 64, 128, 256) with num_colors=256. Eq. 2 is then averaged over the prefixes
    # P[:k], so the first k colours are a k-colour palette and one network serves every Np.
    # Empty: the plain Eq. 2 on all num_colors.
    nested_sizes: tuple[int, ...] = ()
    # Pixels sampled at random per image for the training loss (0: all). An unbiased estimate
    # of Eq. 2 that keeps large palettes affordable on a CPU; inference is unaffected. The slot
    # head's means are then estimated in training on another sample of as many pixels.
    loss_pixels: int = 0
    # The palette head. "dense" (the paper): global pool -> Dense(Np*3) -> tanh. "slots" (not in the
    # paper): a per-pixel MLP, conditioned on the pooled backbone feature, softly assigns every
    # pixel to Np slots, and each palette colour is its slot's weighted mean of the image's pixels.
    # Still one forward pass, but the colours are built from the image's own pixels. With
    # nested_sizes, colours k_{i-1}..k_i - 1 come from a softmax over the first k_i slots.
    head: str = "dense"
    slot_hidden: int = 64  # width of the "slots" head's per-pixel MLP
    # Not in the paper: more slot heads, one per palette size here, on the same backbone (head "slots",
    # no nested_sizes). Each is trained on its own with the backbone frozen (``trainers/train_palette
    # --freeze_backbone``) and joined by ``trainers/ship_model --add_heads``; the network then serves
    # num_colors and every size here, from one backbone.
    head_sizes: tuple[int, ...] = ()
    head_hidden: int = 0  # width of the extra heads' per-pixel MLP (0: slot_hidden)
    # Not in the paper: rounds of learned re-assignment after a slot head's first palette (head "slots",
    # no nested_sizes). Each round gives every pixel the logits ``a * first_logits - b * ||x - c_k||^2``
    # to the colours c_k of the round before (a and b learned per head and round; b = exp(log_b) > 0, a of
    # either sign: the shipped heads learned -0.40 to -0.17) and takes the slots'
    # weighted means again: attention from the slots' colours to the pixels, as in slot attention
    # (Locatello et al., 2020). As b grows it tends to a Lloyd step. 0: one pass, as before.
    refine_rounds: int = 0

    def __post_init__(self):
        check_num_colors(self.num_colors)
        if self.head not in ("dense", "slots"):
            raise ValueError(f"head must be 'dense' or 'slots', got {self.head!r}")
        if self.head == "slots" and self.output != "direct":
            raise ValueError("head='slots' builds colours from pixels: it takes output='direct'")
        check_int("slot_hidden", self.slot_hidden, 1)
        if self.output not in ("direct", "whitened"):
            raise ValueError(f"output must be 'direct' or 'whitened', got {self.output!r}")
        if not self.whitened_scale > 0.0:
            raise ValueError(f"whitened_scale must be > 0, got {self.whitened_scale!r}")
        if not self.coverage_weight >= 0.0:
            raise ValueError(f"coverage_weight must be >= 0, got {self.coverage_weight!r}")
        check_int("input_size", self.input_size, 0)
        check_int("loss_pixels", self.loss_pixels, 0)
        check_int("refine_rounds", self.refine_rounds, 0)
        if self.refine_rounds and (self.head != "slots" or self.nested_sizes):
            raise ValueError("refine_rounds needs head='slots' and no nested_sizes")
        sizes = tuple(self.nested_sizes)
        if sizes and (any(not isinstance(k, int) or isinstance(k, bool) or k < 2 for k in sizes)
                      or list(sizes) != sorted(set(sizes)) or sizes[-1] != self.num_colors):
            raise ValueError(f"nested_sizes must be increasing integers >= 2 ending with num_colors "
                             f"({self.num_colors}), got {sizes!r}")
        heads = tuple(self.head_sizes)
        if heads:
            if self.head != "slots" or sizes:
                raise ValueError("head_sizes needs head='slots' and no nested_sizes")
            for k in heads:
                if isinstance(k, bool) or not isinstance(k, int):
                    raise ValueError(f"head_sizes must be integers, got {heads!r}")
                check_num_colors(k)
            check_int("head_hidden", self.head_hidden, 0)
            if list(heads) != sorted(set(heads)) or self.num_colors in heads:
                raise ValueError(f"head_sizes must be increasing and other than num_colors ({self.num_colors}), "
                                 f"got {heads!r}")
        if self.backbone not in ("inception_v2", "pointnet"):
            raise ValueError(f"backbone must be 'inception_v2' or 'pointnet', got {self.backbone!r}")
        if not isinstance(self.depth_multiplier, (int, float)) or not self.depth_multiplier > 0:
            raise ValueError(f"depth_multiplier must be > 0, got {self.depth_multiplier!r}")
        check_int("min_depth", self.min_depth, 1)
        widths = tuple(self.pointnet_widths)
        if not widths or any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths):
            raise ValueError(f"pointnet_widths must be a non-empty tuple of positive integers, got {widths!r}")
        if not 0.0 <= self.batch_norm_momentum < 1.0:
            raise ValueError(f"batch_norm_momentum must be in [0, 1), got {self.batch_norm_momentum!r}")

    @classmethod
    def tiny(cls, **overrides) -> "PaletteNetConfig":
        """A CPU-test-sized variant (InceptionV2 at 1/8 width, a narrow PointNet)."""
        values = dict(depth_multiplier=0.125, min_depth=8, pointnet_widths=(16, 32), batch_norm_momentum=0.9)
        values.update(overrides)
        return cls(**values)


#: DitherNet decoder up-sampling kinds (``DitherNetConfig.upsample``).
UPSAMPLE_KINDS = ("transpose", "bilinear", "nearest")


@dataclasses.dataclass(frozen=True)
class DitherNetConfig(Config):
    """DitherNet (GIFnets §3.2): a U-Net that predicts the error image E' (Eq. 5).

    ``block_channels[i]`` is one conv3x3+BN+ReLU layer; a 2x2 max-pool follows block ``i`` for
    every ``i`` in ``pool_after`` (paper: pooling between the 16-, 32- and 64-channel levels, so
    after blocks 0, 2 and 4). The decoder mirrors the encoder (see ``models/dither_net.py``).
    """

    block_channels: tuple[int, ...] = (16, 32, 32, 64, 64)
    bottleneck_channels: tuple[int, ...] = (512, 512)
    pool_after: tuple[int, ...] = (0, 2, 4)  # indices into block_channels followed by 2x2 max-pool
    temperature: float = 1e-3  # soft projection temperature T in training (paper: 0.001)
    batch_norm_momentum: float = 0.99
    # Not in the paper (issue 29): the defaults below are the paper's network. With stride-2 poolings the
    # U-Net is translation-equivariant only by multiples of 8, so on a flat region E' is periodic with a
    # period dividing 8: a dot lattice. ``noise_channels`` > 0 concatenates that many channels of a tiled
    # blue-noise texture (``gif_pipeline.layers.blue_noise``, void-and-cluster, ``noise_period`` pixels square,
    # a constant of the graph) to [I, I'], so the network has irregular positions to dither with.
    noise_channels: int = 0
    # Side of the texture. 256: on a 256-px image a shorter period puts the texture's own spectral lines on the
    # 8-px grid frequencies (a 64-px texture scored 72.6 on the lattice tool, the same net with 256: 2.9).
    # Large images are dithered in tiles that start on the texture's grid (encode.tiled's ``align``).
    noise_period: int = 256
    # Up-sampling of the decoder: "transpose" (the paper's 2x2 stride-2 transposed conv, which paints a
    # fixed 2x2 pattern per level), "bilinear" or "nearest" (a 1x1 conv to the level's width, then a x2 resize).
    upsample: str = "transpose"

    def __post_init__(self):
        def positive_ints(values):
            return all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)

        blocks = tuple(self.block_channels)
        if not blocks or not positive_ints(blocks):
            raise ValueError(f"block_channels must be a non-empty tuple of positive integers, got {blocks!r}")
        if not positive_ints(tuple(self.bottleneck_channels)):
            raise ValueError(f"bottleneck_channels must be a tuple of positive integers, "
                             f"got {tuple(self.bottleneck_channels)!r}")
        pools = tuple(self.pool_after)
        if (any(not isinstance(i, int) or isinstance(i, bool) for i in pools)
                or list(pools) != sorted(set(pools)) or any(not 0 <= i < len(blocks) for i in pools)):
            raise ValueError(f"pool_after must be increasing block indices in 0..{len(blocks) - 1}, got {pools!r}")
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if not 0.0 <= self.batch_norm_momentum < 1.0:
            raise ValueError(f"batch_norm_momentum must be in [0, 1), got {self.batch_norm_momentum!r}")
        check_int("noise_channels", self.noise_channels, 0)
        check_int("noise_period", self.noise_period, 1)
        if self.noise_period % 8:
            raise ValueError(f"noise_period must be a positive multiple of 8, got {self.noise_period!r}")
        if self.upsample not in UPSAMPLE_KINDS:
            raise ValueError(f"upsample must be one of {UPSAMPLE_KINDS}, got {self.upsample!r}")

    @property
    def size_multiple(self) -> int:
        """Input sides are padded to a multiple of this (2 ** number of poolings)."""
        return 2 ** len(self.pool_after)

    @classmethod
    def tiny(cls, **overrides) -> "DitherNetConfig":
        """A CPU-test-sized variant with the paper's layout and narrow layers."""
        values = dict(block_channels=(4, 8, 8, 8, 8), bottleneck_channels=(16, 16), batch_norm_momentum=0.9)
        values.update(overrides)
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class BandingNetConfig(Config):
    """BandingNet (GIFnets §3.3): [Y, banding-edge map] -> 4 conv blocks -> Dense(256) -> Dense(1)."""

    channels: tuple[int, ...] = (32, 64, 64, 64)
    kernel_size: int = 3  # conv kernel of each block (not given in the paper)
    pool_stride: int = 4
    dense_units: int = 256
    use_edge_map: bool = True  # the paper's ablation: 0.057 MAD with, 0.088 without

    def __post_init__(self):
        channels = tuple(self.channels)
        if not channels or any(not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty tuple of positive integers, got {channels!r}")
        for name in ("kernel_size", "pool_stride", "dense_units"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.use_edge_map, bool):
            raise ValueError(f"use_edge_map must be a bool, got {self.use_edge_map!r}")

    @classmethod
    def tiny(cls, **overrides) -> "BandingNetConfig":
        """A CPU-test-sized variant with the paper's layout and narrow layers."""
        values = dict(channels=(4, 8, 8, 8), dense_units=16)
        values.update(overrides)
        return cls(**values)


PERCEPTUAL_KINDS = ("none", "vgg16", "vgg19", "nima", "csf")
#: Weight of the CSF term (mean squared CSF-filtered error, about 1e-3 for a 16-colour GIF) so that
#: it dominates Eq. 6's L1 terms (about 0.1). Chosen for the shipped DitherNet; not in the paper.
CSF_THETA = 30.0


@dataclasses.dataclass(frozen=True)
class LossConfig(Config):
    """Weights of Eq. 6 and Eq. 9, defaults from the supplement for Np <= 64.

    L_dither = lam * L1(I, I_hat) + gamma * L1(E', I' - I) + delta * B(I_hat) + theta * R(I, I_hat)
    L_total  = beta * L2(I, I') + L_dither
    """

    lam: float = 0.01
    gamma: float = 0.3
    delta: float = 0.05
    theta: float = 0.0  # perceptual term R: 0.001 (VGG), 0.0001 (NIMA) when weights are given; CSF: see below
    beta: float = 1.0
    perceptual: str = "none"  # "none", "vgg16", "vgg19", "nima" or "csf" (not in the paper; needs no weights)
    # Not in the paper: weight of 1 - VIF(I, I_hat) (losses.vif_loss), the pixel-domain visual
    # information fidelity that four of VMAF's features are.
    vif: float = 0.0
    # Not in the paper (issue 29): weight of losses.lattice_energy, the power of the luma error's 8-px-periodic
    # component (the dot lattice of a shift-equivariant DitherNet).
    lattice: float = 0.0
    # Not in the paper: weight of losses.stripe_energy, the power of the luma error's 2-px stripes (rows or columns
    # alternating; a sparse dot grid on every other row and column has them too, a 50 % checkerboard has not).
    stripes: float = 0.0
    banding_eta: float = 1.5  # multi-scale factor eta of Eq. 7
    banding_scales: int = 4  # k = 1..4 in Eq. 8

    def __post_init__(self):
        for name in ("lam", "gamma", "delta", "theta", "beta", "vif", "lattice", "stripes"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"loss weight {name} must be a number >= 0, got {value!r}")
        if self.perceptual not in PERCEPTUAL_KINDS:
            raise ValueError(f"perceptual must be one of {PERCEPTUAL_KINDS}, got {self.perceptual!r}")
        if not isinstance(self.banding_eta, (int, float)) or not self.banding_eta > 1:
            raise ValueError(f"banding_eta must be > 1, got {self.banding_eta!r}")
        if not isinstance(self.banding_scales, int) or isinstance(self.banding_scales, bool) \
                or self.banding_scales < 1:
            raise ValueError(f"banding_scales must be a positive integer, got {self.banding_scales!r}")

    @classmethod
    def for_num_colors(cls, num_colors: int, perceptual: str = "none") -> "LossConfig":
        """The supplement's weights: Np <= 64 vs Np >= 128 (lambda 0.2, delta 0.025)."""
        check_num_colors(num_colors)
        if perceptual not in PERCEPTUAL_KINDS:
            raise ValueError(f"perceptual must be one of {PERCEPTUAL_KINDS}, got {perceptual!r}")
        theta = {"none": 0.0, "vgg16": 1e-3, "vgg19": 1e-3, "nima": 1e-4, "csf": CSF_THETA}[perceptual]
        if num_colors >= 128:
            return cls(lam=0.2, delta=0.025, theta=theta, perceptual=perceptual)
        return cls(theta=theta, perceptual=perceptual)
