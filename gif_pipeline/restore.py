"""GIF restoration (GIF2Video's CCDNet): a GIF's colours back towards the original photo's.

``restore_image(rgb)`` takes a decoded GIF frame (uint8 ``[H, W, 3]``), decides whether it is dithered (the dither
classifier, unless ``model`` says ``plain`` or ``dithered``), and runs that model's CCDNet-``steps`` (1-3). Steps
after the first read the GIF's own palette: the frame's distinct colours (a GIF frame has at most 256); an image
with more colours (a PNG or JPEG given to restore) uses a 256-colour median-cut palette of itself, and the result
says so (``palette_source``). Large images run in overlapping tiles (:data:`TILE` px plus a :data:`HALO` px
border read on each side, starting on the U-Net's 16-px grid), which gives the result of one piece to float
tolerance (tests check it).

Runtime: TensorFlow (the ``.keras`` weights from the registry, run by a ``tf.function`` in inference mode). The
networks are exportable to SavedModel / TFLite (``python -m export.export_all --model=restore``), but the
restore path does not run LiteRT yet.
"""
from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np

from gif_pipeline.errors import GifnetsError

__all__ = ["RestoreResult", "restore_image", "restore_frames", "iter_restore_frames", "classify", "image_palette", "MODELS",
           "TILE", "HALO"]

MODELS = ("auto", "plain", "dithered")
KINDS = {"plain": "ccdnet_plain", "dithered": "ccdnet_dithered"}
TILE = 512
HALO = 64
#: The classifier reads at most this many pixels (a centre crop): dither texture is local.
CLASSIFIER_SIDE = 512
DEFAULT_STEPS = 2


@dataclasses.dataclass
class RestoreResult:
    image: np.ndarray  # uint8 [H, W, 3]
    model: str  # "plain" or "dithered"
    probability: float | None  # the classifier's P(dithered); None when the model was forced
    steps: int
    palette_colors: int
    palette_source: str  # "distinct" (the image's own colours) or "median-cut-256"
    seconds: float
    consistent: bool = False  # the consistency post-step ran (a GIF's own palette only)

    def stats(self, gif: np.ndarray | None = None) -> dict:
        out = {"model": self.model, "dithered_probability": self.probability, "steps": self.steps,
               "palette_colors": self.palette_colors, "palette_source": self.palette_source,
               "consistent": self.consistent, "seconds": round(self.seconds, 4)}
        if gif is not None:
            diff = self.image.astype(np.float64) - gif.astype(np.float64)
            out["mean_abs_change"] = round(float(np.mean(np.abs(diff))), 3)
        return out


def _check_rgb(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise GifnetsError(f"expected a uint8 [H, W, 3] image, got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


def image_palette(rgb: np.ndarray) -> tuple[np.ndarray, str]:
    """The palette CCDNet's later steps project onto: the image's distinct colours if at most 256, else a
    256-colour median-cut palette of it. ``(uint8 [K, 3], source)``."""
    flat = rgb.reshape(-1, 3)
    packed = (flat[:, 0].astype(np.uint32) << 16) | (flat[:, 1].astype(np.uint32) << 8) | flat[:, 2]
    distinct = np.unique(packed)
    if len(distinct) <= 256:
        palette = np.stack([(distinct >> 16) & 255, (distinct >> 8) & 255, distinct & 255], axis=1).astype(np.uint8)
        return palette, "distinct"
    from gif_pipeline.quant.classical import median_cut

    return median_cut(rgb, 256), "median-cut-256"


@functools.lru_cache(maxsize=8)
def _model(kind: str, explicit: str | None = None):
    from gif_pipeline.weights import registry

    return registry.load(kind, explicit=explicit)


@functools.lru_cache(maxsize=8)
def _ccdnet_function(which: str, steps: int, explicit: str | None = None):
    """A ``tf.function`` ``(gif [1, H, W, 3] in [-1, 1], palette [1, K, 3]) -> restored`` for CCDNet-``steps``."""
    import tensorflow as tf

    from gif_pipeline.models.restore import ccdnet

    step1, update = ccdnet.parts(_model(KINDS[which], explicit))
    if steps > 1 and update is None:
        raise GifnetsError(f"the {which} CCDNet has only step 1 trained; use --steps 1")
    net = ccdnet.compose(step1, update, steps)

    @tf.function(reduce_retracing=True)
    def run(gif, palette):
        return net([gif, palette], training=False)

    return run


@functools.lru_cache(maxsize=2)
def _classifier_function(explicit: str | None = None):
    import tensorflow as tf

    net = _model("gif_classifier", explicit)

    @tf.function(reduce_retracing=True)
    def run(gif):
        return tf.sigmoid(net(gif, training=False))

    return run


def classify(rgb: np.ndarray) -> float:
    """P(dithered) of a GIF frame by the dither classifier (on a centre crop of at most 512x512)."""
    rgb = _check_rgb(rgb)
    h, w = rgb.shape[:2]
    s = CLASSIFIER_SIDE
    y, x = max(0, (h - s) // 2), max(0, (w - s) // 2)
    crop = rgb[y:y + s, x:x + s].astype(np.float32)[None] / 127.5 - 1.0
    return float(np.asarray(_classifier_function()(crop))[0, 0])


def _route(rgb_frames, model: str) -> tuple[str, float | None]:
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if model != "auto":
        return model, None
    p = float(np.mean([classify(f) for f in rgb_frames]))
    return ("dithered" if p >= 0.5 else "plain"), p


def _restore(rgb: np.ndarray, which: str, steps: int, palette: np.ndarray, tile: int, halo: int,
             consistent: bool = True) -> np.ndarray:
    import tensorflow as tf

    from gif_pipeline.models.restore import consistency
    from gif_pipeline.runtime import ops

    function = _ccdnet_function(which, steps)
    unit_palette = tf.constant(palette.astype(np.float32)[None] / 127.5 - 1.0)
    image = rgb.astype(np.float32)[None] / 127.5 - 1.0

    def run(part):
        out = np.asarray(function(tf.constant(part), unit_palette))
        if not consistent:
            return out
        # Per pixel, so per tile: the GIF's colours are the part's input, exactly.
        gif = np.rint((part[0] + 1.0) * 127.5).astype(np.uint8)
        fixed = consistency.make_consistent((out[0] + 1.0) * 127.5, gif, palette, which)
        return (fixed / 127.5 - 1.0)[None]

    if rgb.shape[0] <= tile and rgb.shape[1] <= tile:
        out = run(image)
    else:
        out = ops.tiled(run, image, tile, halo, align=16)
    return np.clip(np.rint((out[0] + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _check_options(steps, tile, halo):
    if steps not in (1, 2, 3):
        raise ValueError(f"steps must be 1, 2 or 3, got {steps!r}")
    if tile % 16 or tile <= 0 or halo % 16 or halo < 0:
        raise ValueError(f"tile and halo must be multiples of 16 (tile > 0), got {tile} and {halo}")


def restore_image(rgb, steps: int = DEFAULT_STEPS, model: str = "auto", palette=None, tile: int = TILE,
                  halo: int = HALO, consistent: bool = True) -> RestoreResult:
    """Restore one GIF frame (uint8 ``[H, W, 3]``). ``model``: ``auto`` (the classifier routes), ``plain`` or
    ``dithered``. ``palette``: the GIF's palette (uint8 ``[K, 3]``); default :func:`image_palette`.
    ``consistent``: keep the result consistent with the GIF (:mod:`gif_pipeline.models.restore.consistency`)."""
    _check_options(steps, tile, halo)
    rgb = _check_rgb(rgb)
    start = time.perf_counter()
    which, probability = _route([rgb], model)
    if palette is None:
        palette, source = image_palette(rgb)
    else:
        palette, source = np.asarray(palette, np.uint8).reshape(-1, 3), "given"
    # An image with more than 256 colours is not a GIF of its median-cut palette: nothing to be consistent with.
    consistent = consistent and source != "median-cut-256"
    out = _restore(rgb, which, steps, palette, tile, halo, consistent)
    return RestoreResult(out, which, probability, steps, len(palette), source, time.perf_counter() - start,
                         consistent)


def restore_frames(frames, steps: int = DEFAULT_STEPS, model: str = "auto", tile: int = TILE,
                   halo: int = HALO, consistent: bool = True) -> list[RestoreResult]:
    """Restore every frame of an animation (uint8 ``[H, W, 3]`` each). One model serves the whole animation:
    with ``auto`` the classifier's mean probability over the frames decides. Each frame uses its own palette."""
    return list(iter_restore_frames(frames, steps, model, tile, halo, consistent))


def iter_restore_frames(frames, steps: int = DEFAULT_STEPS, model: str = "auto", tile: int = TILE,
                        halo: int = HALO, consistent: bool = True):
    """:func:`restore_frames` one frame at a time (a generator: the routing runs on all frames first, then each
    frame is restored when asked for; ``gifnets restore --interpolate`` streams it)."""
    _check_options(steps, tile, halo)
    frames = [_check_rgb(f) for f in frames]
    if not frames:
        raise GifnetsError("no frames to restore")
    which, probability = _route(frames, model)
    for f in frames:
        t = time.perf_counter()
        palette, source = image_palette(f)
        ok = consistent and source != "median-cut-256"
        yield RestoreResult(_restore(f, which, steps, palette, tile, halo, ok), which, probability, steps,
                            len(palette), source, time.perf_counter() - t, ok)


def clear_model_cache():
    _model.cache_clear()
    _ccdnet_function.cache_clear()
    _classifier_function.cache_clear()
