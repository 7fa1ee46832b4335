"""GIFnets' training losses: DitherNet's Eq. 6 and the joint Eq. 9, with the optional perceptual term R.

* Eq. 6: ``L_dither = lam * L1(I, I_hat) + gamma * L1(E', I' - I) + delta * B(I_hat) + theta * R(I, I_hat)``
  ``+ vif * (1 - VIF(I, I_hat)) + lattice * A(I, I_hat) + stripes * S(I, I_hat)`` (the last three are not in the
  paper; weight 0 by default; ``A`` is :func:`lattice_energy`, issue 29; ``S`` is :func:`stripe_energy`)
* Eq. 9: ``L_total = beta * L2(I, I') + L_dither``

``I`` is the image, ``I'`` its projection onto the palette (Eq. 1/3), ``E'`` DitherNet's error
image and ``I_hat = Proj(I + E', P)`` (Eq. 5); all are ``[B, H, W, 3]`` in [-1, 1]. ``B`` is the
multi-scale BandingNet loss (Eq. 7-8, :func:`gif_pipeline.models.gifnets.banding_net.multiscale_banding_loss`).
``L1`` and ``L2`` are means over every pixel and channel of ``|a - b|`` and ``(a - b)^2`` (the
paper does not give the normalisation; the weights in :class:`~gif_pipeline.models.gifnets.config.LossConfig`
are the supplement's).

Perceptual term ``R`` (optional; the supplement uses theta = 0.001 with VGG, 0.0001 with NIMA):

* :class:`VGGFeatureLoss`: mean squared difference of VGG16/19 feature maps (keras.applications,
  ``weights=None``, then ``load_weights`` from a local file such as Keras' published
  ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``).
* :class:`NimaScore`: NIMA (Talebi & Milanfar 2018): MobileNet (or InceptionResNetV2) ->
  Dropout(0.75) -> Dense(10, softmax) over the scores 1..10; weights from a local file holding
  that whole model (e.g. idealo's ``weights_mobilenet_aesthetic_0.07.hdf5``).
  ``R = mean_batch(score(I) - score(I_hat))``: the loss in mean aesthetic score.

* :class:`CSFLoss` (not in the paper; needs no weights): the mean squared error after weighting
  its spectrum with the contrast sensitivity function that WSNR uses (:mod:`gif_pipeline.metrics.image`).
  Dithering trades pixel error for high-frequency noise the eye filters out; this term measures
  exactly that trade, where Eq. 6's L1 terms penalise any dither.

Nothing is ever downloaded. Without a weights file R is off and a warning says so
(:func:`make_perceptual_loss`).
"""
from __future__ import annotations

import functools
import os
import warnings
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from gif_pipeline.errors import MissingPrerequisiteError
from gif_pipeline.models.gifnets.banding_net import luma, multiscale_banding_loss
from gif_pipeline.models.gifnets.config import LossConfig

__all__ = [
    "CSFLoss", "NimaScore", "VGGFeatureLoss", "dither_loss", "l1", "l2", "make_perceptual_loss", "total_loss",
    "lattice_energy", "stripe_energy", "vif_loss", "vif_scales",
]


def l1(a, b) -> tf.Tensor:
    """Mean absolute difference over all elements."""
    return tf.reduce_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


def l2(a, b) -> tf.Tensor:
    """Mean squared difference over all elements."""
    return tf.reduce_mean(tf.square(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)))


#: VIF's Gaussian windows per scale (Sheikh & Bovik's pixel-domain VIF, as in VMAF): N = 17, 9, 5, 3, sigma N/5.
VIF_WINDOWS = (17, 9, 5, 3)
_VIF_NOISE = 2.0  # sigma_n^2 of the HVS noise model, for 8-bit luma
_VIF_FLAT_PENALTY = 4.0 / 255.0 ** 2  # VMAF's weight of the distorted variance where the reference is flat


def _gaussian_window(n: int) -> tf.Tensor:
    x = tf.range(n, dtype=tf.float32) - (n - 1) / 2.0
    g = tf.exp(-tf.square(x) / (2.0 * (n / 5.0) ** 2))
    w = g[:, None] * g[None, :]
    return tf.reshape(w / tf.reduce_sum(w), [n, n, 1, 1])


def vif_scales(image, dithered) -> tf.Tensor:
    """Pixel-domain VIF (Sheikh & Bovik 2006) of ``dithered`` against ``image``, per scale: ``[B, 4]``.

    Both ``[B, H, W, 3]`` in [-1, 1]. Computed the way VMAF's four VIF features are: BT.601 luma in
    TV range (16..235), Gaussian windows :data:`VIF_WINDOWS` (mirrored at the borders), each scale after the first
    filtered and decimated by 2. Per pixel, with local variances s1, s2 and covariance s12:
    ``log2(1 + g^2 s1 / (sv + 2))`` over ``log2(1 + s1 / 2)`` (g = s12 / s1, sv = s2 - g s12;
    0 where s12 < 0), and where the reference is flat (s1 < 2) ``1 - s2 * 4 / 255^2`` over 1.
    1 for identical images; noise and lost contrast lower it. Differentiable almost everywhere.
    """
    # Limited ("TV") range, 16..235, as VMAF sees an RGB image converted to YUV.
    ref, dist = (16.0 + 219.0 * luma(x) for x in (image, dithered))
    out = []
    for scale, n in enumerate(VIF_WINDOWS):
        win, half = _gaussian_window(n), n // 2

        def blur(x):
            size = tf.shape(x)
            pad_h, pad_w = tf.minimum(half, size[1] - 1), tf.minimum(half, size[2] - 1)
            x = tf.pad(x, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]], mode="REFLECT")
            x = tf.pad(x, [[0, 0], [half - pad_h, half - pad_h], [half - pad_w, half - pad_w], [0, 0]],
                       mode="SYMMETRIC")
            return tf.nn.conv2d(x, win, 1, "VALID")

        if scale > 0:
            ref, dist = blur(ref)[:, ::2, ::2], blur(dist)[:, ::2, ::2]
        mu1, mu2 = blur(ref), blur(dist)
        s1 = blur(ref * ref) - mu1 * mu1
        s2 = tf.nn.relu(blur(dist * dist) - mu2 * mu2)
        s12 = blur(ref * dist) - mu1 * mu2
        textured = s1 >= _VIF_NOISE
        s1_safe = tf.where(textured, s1, 1.0)
        g = tf.nn.relu(s12) / s1_safe
        sv = tf.maximum(s2 - g * s12, 1e-10)
        info = tf.math.log1p(g * g * s1_safe / (sv + _VIF_NOISE))
        num = tf.where(textured, info, 1.0 - s2 * _VIF_FLAT_PENALTY)
        den = tf.where(textured, tf.math.log1p(s1_safe / _VIF_NOISE), 1.0)
        out.append(tf.reduce_sum(num, axis=[1, 2, 3]) / tf.reduce_sum(den, axis=[1, 2, 3]))
    return tf.stack(out, axis=1)


def vif_loss(image, dithered) -> tf.Tensor:
    """``1 - VIF``, averaged over VIF's four scales and the batch (:func:`vif_scales`)."""
    return 1.0 - tf.reduce_mean(vif_scales(image, dithered))


def lattice_energy(image, dithered, period: int = 8) -> tf.Tensor:
    """Power of the ``period``-px-periodic component of the luma error ``Y(I_hat) - Y(I)`` (issue 29), batch mean.

    Both ``[B, H, W, 3]`` in [-1, 1]; luma in [0, 1] (BT.601, as ``../shared/tools/lattice.py`` and WSNR). The
    error of each image (its top-left ``H - H % period`` x ``W - W % period``) is cut into period x period
    blocks and averaged over them: the result, a period x period "phase pattern", is the error's periodic
    component. The pattern's own 2-px-periodic part (its DC and the pure 2-px checkerboard and stripes, the
    finest ordered dither, which the lattice tool leaves out too) is subtracted, and the mean square of the
    rest is returned. By Parseval this is the error's power at the period's grid frequencies ``k / period``
    cycles/px except those four, i.e. the bins the lattice tool scores (without its division by the
    neighbouring bins). A dot lattice of amplitude ``a`` gives about ``a^2``; independent noise of variance
    ``s^2`` about ``s^2 * (period^2 - 4) / period^2 / blocks``, which shrinks as the image grows.
    """
    if isinstance(period, bool) or not isinstance(period, int) or period < 4 or period % 2:
        raise ValueError(f"period must be an even integer >= 4, got {period!r}")
    pattern = _error_phase_pattern(image, dithered, period)  # [B, period, period]
    half = period // 2
    fine = tf.reduce_mean(tf.reshape(pattern, [-1, half, 2, half, 2]), axis=[1, 3])  # its 2-px-periodic part
    residual = pattern - tf.tile(fine, [1, half, half])
    return tf.reduce_mean(tf.square(residual))


def _error_phase_pattern(image, dithered, period: int) -> tf.Tensor:
    """``[B, period, period]``: the luma error ``Y(I_hat) - Y(I)`` of each image's top-left ``H - H % period`` x
    ``W - W % period`` cut into period x period blocks and averaged over them (its ``period``-periodic component)."""
    error = luma(tf.cast(dithered, tf.float32)) - luma(tf.cast(image, tf.float32))  # [B, H, W, 1]
    shape = tf.shape(error)
    rows, cols = shape[1] // period, shape[2] // period
    blocks = tf.reshape(error[:, :rows * period, :cols * period, 0], [shape[0], rows, period, cols, period])
    return tf.reduce_mean(blocks, axis=[1, 3])


def stripe_energy(image, dithered) -> tf.Tensor:
    """Power of the 2-px stripes of the luma error ``Y(I_hat) - Y(I)``, batch mean: the bins (N/2, 0) and (0, N/2)
    that :func:`lattice_energy` and the lattice tool leave out.

    Same inputs as :func:`lattice_energy`. The error's 2 x 2 phase pattern (its mean over the 2 x 2 blocks of the
    top-left even-sized part) is split into DC, row stripes, column stripes and checkerboard (the 2 x 2 Hadamard
    basis); the mean square of the two stripe parts, tiled, is returned. Rows that alternate give ``a^2`` for
    amplitude ``a``; a sparse dot grid (one dot of each 2 x 2 block, every other row and column) has equal
    stripe and checkerboard parts and scores; a 50 % checkerboard, the finest dither, scores 0.
    """
    p = _error_phase_pattern(image, dithered, 2)  # [B, 2, 2]
    row_stripes = (p[:, 0, 0] + p[:, 0, 1] - p[:, 1, 0] - p[:, 1, 1]) / 4
    col_stripes = (p[:, 0, 0] - p[:, 0, 1] + p[:, 1, 0] - p[:, 1, 1]) / 4
    return tf.reduce_mean(tf.square(row_stripes) + tf.square(col_stripes))


def _check_same_shape(**tensors):
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    first = next(iter(shapes.values()))
    if len(first) != 4 or first[-1] != 3:
        raise ValueError(f"expected images [B, H, W, 3], got shapes {shapes}")
    for name, shape in shapes.items():
        if len(shape) != 4 or any(a is not None and b is not None and a != b for a, b in zip(shape, first)):
            raise ValueError(f"all images must have the same shape [B, H, W, 3], got {shapes}")


def dither_loss(image, dithered, error, quantized, banding_net=None, perceptual=None,
                config: LossConfig | None = None):
    """Eq. 6. Returns ``(total, terms)``; ``terms`` holds the unweighted ``l1_image``
    (``L1(I, I_hat)``), ``l1_error`` (``L1(E', I' - I)``), ``banding`` (``B(I_hat)``),
    ``perceptual`` (``R(I, I_hat)``), ``vif`` (:func:`vif_loss`) and ``lattice`` (:func:`lattice_energy`; these two
    0 unless weighted) as scalars.

    ``banding_net`` (a frozen BandingNet) and ``perceptual`` (a callable ``R(I, I_hat)``, e.g.
    :class:`VGGFeatureLoss`) are optional: a term whose model is missing is 0, with a warning when
    its weight in ``config`` is non-zero. A term whose weight is 0 is not computed.
    """
    config = config if config is not None else LossConfig()
    image, dithered, error, quantized = (tf.cast(tf.convert_to_tensor(t), tf.float32)
                                         for t in (image, dithered, error, quantized))
    _check_same_shape(image=image, dithered=dithered, error=error, quantized=quantized)
    zero = tf.constant(0.0, tf.float32)
    terms = {
        "l1_image": l1(image, dithered),
        "l1_error": l1(error, quantized - image),
        "banding": zero,
        "perceptual": zero,
        "vif": vif_loss(image, dithered) if config.vif > 0 else zero,
        "lattice": lattice_energy(image, dithered) if config.lattice > 0 else zero,
        "stripes": stripe_energy(image, dithered) if config.stripes > 0 else zero,
    }
    if config.delta > 0:
        if banding_net is None:
            warnings.warn("no BandingNet given: the banding term delta * B(I_hat) of Eq. 6 is off",
                          stacklevel=2)
        else:
            terms["banding"] = multiscale_banding_loss(banding_net, dithered, config.banding_eta,
                                                       config.banding_scales)
    if config.theta > 0:
        if perceptual is None:
            warnings.warn("no perceptual model given: the term theta * R(I, I_hat) of Eq. 6 is off",
                          stacklevel=2)
        else:
            terms["perceptual"] = tf.cast(perceptual(image, dithered), tf.float32)
    total = (config.lam * terms["l1_image"] + config.gamma * terms["l1_error"]
             + config.delta * terms["banding"] + config.theta * terms["perceptual"] + config.vif * terms["vif"]
             + config.lattice * terms["lattice"] + config.stripes * terms["stripes"])
    return total, terms


def total_loss(image, dithered, error, quantized, banding_net=None, perceptual=None,
               config: LossConfig | None = None):
    """Eq. 9: ``beta * L2(I, I') + L_dither``. Returns ``(total, terms)`` with Eq. 6's terms plus
    ``l2_palette`` (``L2(I, I')``) and ``dither`` (``L_dither``)."""
    config = config if config is not None else LossConfig()
    dither_total, terms = dither_loss(image, dithered, error, quantized, banding_net, perceptual, config)
    terms = dict(terms, l2_palette=l2(image, quantized), dither=dither_total)
    return config.beta * terms["l2_palette"] + dither_total, terms


# --- perceptual term R ------------------------------------------------------------------------

def _check_weights_path(weights_path, what: str) -> str:
    if weights_path is None:
        raise ValueError(f"{what} needs a local weights file (nothing is downloaded); "
                         "use make_perceptual_loss to run without it")
    path = os.fspath(weights_path)
    if not os.path.isfile(path):
        raise MissingPrerequisiteError(f"{what} weights file not found: {path}")
    return path


def _load_weights(model: keras.Model, path: str, what: str):
    try:
        model.load_weights(path)
    except Exception as e:  # keras raises ValueError/KeyError/OSError depending on the mismatch
        raise ValueError(f"cannot load {what} weights from {path}: {e}") from e


_VGG_DEFAULT_LAYERS = {
    "vgg16": ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3"),
    "vgg19": ("block1_conv2", "block2_conv2", "block3_conv4", "block4_conv4"),
}
#: ImageNet channel means in BGR order, as keras.applications' "caffe" preprocessing.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


class VGGFeatureLoss:
    """``R(I, I_hat) = sum_l mean((phi_l(I) - phi_l(I_hat))^2)`` over VGG feature maps ``phi_l``.

    Args:
      weights_path: local Keras weights file for ``keras.applications.VGG16/19(include_top=False)``
        (``.weights.h5``, or a legacy ``.h5`` such as Keras' ``*_notop.h5``).
      layers: layer names whose outputs are compared (defaults: the last conv of blocks 1-4).
      variant: ``"vgg16"`` or ``"vgg19"``.
      backbone_fn: ``fn(input_shape) -> keras.Model`` replacing the keras.applications constructor
        (tests use a tiny model; the layer names must exist in it).

    Images are in [-1, 1]; they are mapped to VGG's input (RGB in [0, 255] -> BGR minus the
    ImageNet means) inside, differentiably. The VGG weights are frozen.
    """

    def __init__(self, weights_path, layers=None, variant: str = "vgg16",
                 backbone_fn: Callable[..., keras.Model] | None = None):
        if variant not in _VGG_DEFAULT_LAYERS:
            raise ValueError(f"variant must be 'vgg16' or 'vgg19', got {variant!r}")
        path = _check_weights_path(weights_path, f"VGG ({variant})")
        if backbone_fn is None:
            app = keras.applications.VGG16 if variant == "vgg16" else keras.applications.VGG19
            backbone_fn = functools.partial(app, include_top=False, weights=None)
        base = backbone_fn(input_shape=(None, None, 3))
        _load_weights(base, path, f"VGG ({variant})")
        self.layers = tuple(layers) if layers is not None else _VGG_DEFAULT_LAYERS[variant]
        if not self.layers:
            raise ValueError("layers must name at least one layer")
        names = {layer.name for layer in base.layers}
        missing = [n for n in self.layers if n not in names]
        if missing:
            raise ValueError(f"unknown VGG layers {missing}; available: {sorted(names)}")
        self.variant = variant
        self.features = keras.Model(base.input, [base.get_layer(n).output for n in self.layers],
                                    name=f"{variant}_features")
        self.features.trainable = False

    @staticmethod
    def preprocess(images):
        """[-1, 1] RGB -> keras.applications' VGG input (BGR, [0, 255] minus ImageNet means)."""
        rgb255 = (tf.cast(images, tf.float32) + 1.0) * 127.5
        return tf.reverse(rgb255, axis=[-1]) - tf.constant(_CAFFE_BGR_MEAN, tf.float32)

    def __call__(self, image, dithered):
        feats_a = self.features(self.preprocess(image), training=False)
        feats_b = self.features(self.preprocess(dithered), training=False)
        if not isinstance(feats_a, (list, tuple)):
            feats_a, feats_b = [feats_a], [feats_b]
        return tf.add_n([l2(a, b) for a, b in zip(feats_a, feats_b)])


class CSFLoss:
    """``R(I, I_hat)``: mean over pixels and RGB channels of the squared error filtered by the CSF.

    The filter is :func:`gif_pipeline.metrics.image.contrast_sensitivity` (peak 1, Kite et al.), applied
    in the 2-D Fourier domain; by Parseval, a flat filter would give ``L2(I, I_hat)``. Image sides
    must be static (training crops).
    """

    def __init__(self, viewing_distance: float | None = None, dpi: float | None = None,
                 pixels_per_degree: tuple[float, ...] = ()):
        """``pixels_per_degree`` (not in the paper; empty: the one geometry of ``viewing_distance`` and ``dpi``):
        the mean of the terms at several viewing geometries, e.g. (32.98, 120.0)."""
        from gif_pipeline.metrics import image as metrics

        geometries = tuple(float(p) for p in pixels_per_degree)
        if any(not p > 0 for p in geometries):
            raise ValueError(f"pixels_per_degree must be > 0, got {pixels_per_degree!r}")
        self.geometries = geometries or (metrics.pixels_per_degree(
            viewing_distance or metrics.DEFAULT_VIEWING_DISTANCE_CM, dpi or metrics.DEFAULT_DPI),)
        self.pixels_per_degree = self.geometries[0]

    @functools.lru_cache(maxsize=8)
    def _filter(self, h: int, w: int):
        from gif_pipeline.metrics import image as metrics

        if len(self.geometries) == 1:
            return metrics.contrast_sensitivity((h, w), self.geometries[0]).astype("float32")
        # mean of the squared filters = mean of the terms
        squares = [metrics.contrast_sensitivity((h, w), p) ** 2 for p in self.geometries]
        return np.sqrt(np.mean(squares, axis=0)).astype("float32")

    def __call__(self, image, dithered):
        diff = tf.cast(image, tf.float32) - tf.cast(dithered, tf.float32)
        h, w = diff.shape[1], diff.shape[2]
        if h is None or w is None:
            raise ValueError("CSFLoss needs images with static height and width")
        channels_first = tf.transpose(diff, [0, 3, 1, 2])
        spectrum = tf.signal.fft2d(tf.complex(channels_first, tf.zeros_like(channels_first)))
        weighted = tf.abs(spectrum) * self._filter(int(h), int(w))
        return tf.reduce_mean(tf.square(weighted)) / float(h * w)


_NIMA_BACKBONES = {
    # Both networks expect inputs in [-1, 1], the networks' own range: no preprocessing needed.
    "mobilenet": functools.partial(keras.applications.MobileNet, include_top=False, pooling="avg", weights=None),
    "inception_resnet_v2": functools.partial(keras.applications.InceptionResNetV2, include_top=False,
                                             pooling="avg", weights=None),
}


class NimaScore:
    """NIMA's mean aesthetic score and ``R(I, I_hat) = mean_batch(score(I) - score(I_hat))``.

    Args:
      weights_path: local Keras weights file of the whole NIMA model (backbone -> Dropout(0.75)
        -> Dense(10, softmax)), built as one flat functional model like the published NIMA ports.
      backbone: ``"mobilenet"`` (MobileNet v1, as in NIMA) or ``"inception_resnet_v2"``.
      input_size: images are bilinearly resized to ``input_size x input_size`` (NIMA was trained
        on 224 x 224 crops); ``None`` keeps their size.
      backbone_fn: ``fn(input_shape) -> keras.Model`` with a pooled ``[B, F]`` output, replacing the
        keras.applications constructor (used by the tests with a tiny model).
    """

    def __init__(self, weights_path, backbone: str = "mobilenet", input_size: int | None = 224,
                 backbone_fn: Callable[..., keras.Model] | None = None):
        if backbone not in _NIMA_BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(_NIMA_BACKBONES)}, got {backbone!r}")
        if input_size is not None and (not isinstance(input_size, int) or input_size < 1):
            raise ValueError(f"input_size must be a positive integer or None, got {input_size!r}")
        path = _check_weights_path(weights_path, f"NIMA ({backbone})")
        self.input_size = input_size
        self.model = self.build(backbone, input_size, backbone_fn)
        _load_weights(self.model, path, f"NIMA ({backbone})")
        self.model.trainable = False

    @staticmethod
    def build(backbone: str = "mobilenet", input_size: int | None = 224,
              backbone_fn: Callable[..., keras.Model] | None = None) -> keras.Model:
        """The NIMA architecture (randomly initialised); its weights are what ``weights_path`` holds."""
        fn = backbone_fn if backbone_fn is not None else _NIMA_BACKBONES[backbone]
        base = fn(input_shape=(input_size, input_size, 3))
        if len(base.output.shape) != 2:
            raise ValueError(f"the NIMA backbone must output pooled features [B, F], got {base.output.shape}")
        x = keras.layers.Dropout(0.75)(base.output)
        scores = keras.layers.Dense(10, activation="softmax")(x)
        return keras.Model(base.input, scores, name=f"nima_{backbone}")

    def score(self, images) -> tf.Tensor:
        """Mean opinion score ``sum_i i * p_i`` (i = 1..10) of images in [-1, 1] -> ``[B]``."""
        images = tf.cast(images, tf.float32)
        if self.input_size is not None:
            images = tf.image.resize(images, (self.input_size, self.input_size), method="bilinear")
        probs = self.model(images, training=False)
        return tf.reduce_sum(probs * tf.range(1.0, 11.0), axis=-1)

    def __call__(self, image, dithered):
        return tf.reduce_mean(self.score(image) - self.score(dithered))


def make_perceptual_loss(kind: str | LossConfig, weights_path=None, **kwargs):
    """The perceptual term R for ``kind`` (``"none"``, ``"vgg16"``, ``"vgg19"``, ``"nima"``, or a
    :class:`LossConfig`'s ``perceptual``), or ``None`` when it is off.

    With ``kind != "none"`` and no ``weights_path`` a warning says R is off (nothing downloads).
    A path that does not exist raises :class:`MissingPrerequisiteError`.
    """
    if isinstance(kind, LossConfig):
        kind = kind.perceptual
    if kind == "none":
        return None
    if kind == "csf":
        return CSFLoss(**kwargs)
    if kind not in ("vgg16", "vgg19", "nima"):
        raise ValueError(f"perceptual kind must be 'none', 'vgg16', 'vgg19', 'nima' or 'csf', got {kind!r}")
    if weights_path is None:
        warnings.warn(f"no weights file for the {kind} perceptual loss: the term R is off "
                      "(weights are never downloaded; pass a local path)", stacklevel=2)
        return None
    if kind == "nima":
        return NimaScore(weights_path, **kwargs)
    return VGGFeatureLoss(weights_path, variant=kind, **kwargs)
