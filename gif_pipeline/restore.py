"""GIF restoration (GIF2Video's CCDNet): a GIF's colours back towards the original photo's.

``restore_image(rgb)`` takes a decoded GIF frame (uint8 ``[H, W, 3]``), decides whether it is dithered (unless
``model`` says ``plain`` or ``dithered``), and runs that model's CCDNet-``steps`` (1-3). The decision
(:func:`classify`) is the numpy dither router's (:mod:`gif_pipeline.models.restore.router`: statistics of the GIF's
own colours and a small fitted model; the same on both backends) when ``dither_router.json`` is installed, else the
CNN classifier's (GIF2Video §6.1.1; ``router="cnn"`` asks for it). Steps
after the first read the GIF's own palette: the frame's distinct colours (a GIF frame has at most 256); an image
with more colours (a PNG or JPEG given to restore) uses a 256-colour median-cut palette of itself, and the result
says so (``palette_source``). Large images run in overlapping tiles (:data:`TILE` px plus a :data:`HALO` px
border read on each side, starting on the U-Net's 16-px grid), which gives the result of one piece to float
tolerance (tests check it).

Runtime (``backend``, ``--backend`` or ``$GIFNETS_BACKEND``, as for encode): ``litert`` runs the ``.tflite`` files
that ``python -m export.export_runtime --kinds restore`` builds from the registry's ``.keras`` files
(:mod:`gif_pipeline.runtime.restore`; no TensorFlow), ``tf`` the ``.keras`` files in a ``tf.function``, and
``auto`` (the default) LiteRT for each network whose ``.tflite`` file is installed, TensorFlow for the others
(e.g. weights found in a training run's folder). Both give the network's float output, which the same numpy
consistency post-step reads (:mod:`gif_pipeline.models.restore.consistency`).
"""
from __future__ import annotations

import dataclasses
import functools
import os
import time

import numpy as np

from gif_pipeline.errors import GifnetsError

__all__ = ["RestoreResult", "restore_image", "restore_frames", "iter_restore_frames", "classify", "image_palette", "MODELS",
           "TILE", "HALO"]

MODELS = ("auto", "plain", "dithered")
#: Who decides ``--model auto``: ``auto`` (the numpy router if installed, else the CNN), ``router`` or ``cnn``.
ROUTERS = ("auto", "router", "cnn")
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
    backend: str = ""  # where the CCDNet ran: "litert" or "tf"
    router: str | None = None  # who gave the probability: "router" (numpy) or "cnn"; None when the model was forced

    def stats(self, gif: np.ndarray | None = None) -> dict:
        out = {"model": self.model, "dithered_probability": self.probability, "router": self.router, "steps": self.steps,
               "palette_colors": self.palette_colors, "palette_source": self.palette_source,
               "consistent": self.consistent, "backend": self.backend, "seconds": round(self.seconds, 4)}
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
    from gif_pipeline.quant.dithering import pack_colours, unpack_colours

    distinct = np.unique(pack_colours(rgb))
    if len(distinct) <= 256:
        return unpack_colours(distinct), "distinct"
    from gif_pipeline.quant.classical import median_cut

    return median_cut(rgb, 256), "median-cut-256"


def resolve_backend(kind: str, backend: str | None = None, check: bool = True) -> str:
    """``litert`` or ``tf`` for restore network ``kind`` (``ccdnet_plain``, ``ccdnet_dithered``, ``gif_classifier``):
    ``backend``, else ``$GIFNETS_BACKEND``, else ``auto``: LiteRT when the kind's ``.tflite`` file is installed,
    else TensorFlow. ``check``: ``tf`` without TensorFlow installed is a
    :class:`~gif_pipeline.errors.MissingPrerequisiteError` naming the extra (``check=False`` imports nothing)."""
    from gif_pipeline import encode

    choice = (backend or os.environ.get("GIFNETS_BACKEND") or "auto").strip().lower()
    if choice not in encode.BACKENDS:
        return encode.resolve_backend(choice)  # the error naming the choices
    what = "--backend tf"
    if choice == "auto":
        from gif_pipeline.runtime import restore as runtime

        choice = "litert" if runtime.available(kind) else "tf"
        what = f"gifnets restore (no LiteRT model {os.path.basename(runtime.path(kind))} is installed)"
    if choice == "tf" and check:
        encode.require_tensorflow(what, (kind,))
    return choice


@functools.lru_cache(maxsize=8)
def _model(kind: str, explicit: str | None = None):
    from gif_pipeline.weights import registry

    return registry.load(kind, explicit=explicit)


@functools.lru_cache(maxsize=8)
def _ccdnet_function(which: str, steps: int, explicit: str | None = None, backend: str = "tf"):
    """``(gif [1, H, W, 3] in [-1, 1], palette [1, K, 3]) -> restored`` (numpy float32 in [-1, 1]) for
    CCDNet-``steps`` on ``backend``: ``litert`` (the kind's ``.tflite`` file, or ``explicit`` if it is one) or ``tf``
    (a ``tf.function`` of the ``.keras`` file)."""
    if backend == "litert" or (explicit or "").endswith(".tflite"):
        from gif_pipeline.runtime import restore as runtime

        return runtime.ccdnet(runtime.load(KINDS[which], explicit), steps)
    import tensorflow as tf

    from gif_pipeline.models.restore import ccdnet

    step1, update = ccdnet.parts(_model(KINDS[which], explicit))
    if steps > 1 and update is None:
        raise GifnetsError(f"the {which} CCDNet has only step 1 trained; use --steps 1")
    net = ccdnet.compose(step1, update, steps)

    @tf.function(reduce_retracing=True)
    def run(gif, palette):
        return net([gif, palette], training=False)

    return lambda gif, palette: np.asarray(run(tf.constant(gif), tf.constant(palette)))


@functools.lru_cache(maxsize=4)
def _classifier_function(explicit: str | None = None, backend: str = "tf"):
    """``gif [1, H, W, 3] in [-1, 1] -> P(dithered) [1, 1]`` on ``backend`` (as :func:`_ccdnet_function`)."""
    if backend == "litert" or (explicit or "").endswith(".tflite"):
        from gif_pipeline.runtime import restore as runtime

        return runtime.classifier(runtime.load("gif_classifier", explicit))
    import tensorflow as tf

    net = _model("gif_classifier", explicit)

    @tf.function(reduce_retracing=True)
    def run(gif):
        return tf.sigmoid(net(gif, training=False))

    return run


def router_kind(router: str = "auto") -> str:
    """``router`` or ``cnn``: who decides ``--model auto``. ``auto``: the numpy dither router when its file is
    installed in the weights folder, else the CNN classifier."""
    if router not in ROUTERS:
        raise ValueError(f"router must be one of {ROUTERS}, got {router!r}")
    if router != "auto":
        return router
    from gif_pipeline.errors import MissingPrerequisiteError
    from gif_pipeline.weights import registry

    try:
        registry.find_model("dither_router", search_runs=False)
        return "router"
    except MissingPrerequisiteError:
        return "cnn"


def classify(rgb: np.ndarray, backend: str | None = None, router: str = "auto") -> float:
    """P(dithered) of a GIF frame: the numpy dither router's (``router="router"``; a centre crop of at most 512x512;
    the same on every backend) or the CNN classifier's (``"cnn"``, on a centre crop of at most 512x512, on
    ``backend``); ``auto``: :func:`router_kind`."""
    rgb = _check_rgb(rgb)
    if router_kind(router) == "router":
        from gif_pipeline.models.restore import router as dither_router

        return dither_router.load().probability(rgb)
    h, w = rgb.shape[:2]
    s = CLASSIFIER_SIDE
    y, x = max(0, (h - s) // 2), max(0, (w - s) // 2)
    crop = rgb[y:y + s, x:x + s].astype(np.float32)[None] / 127.5 - 1.0
    function = _classifier_function(None, resolve_backend("gif_classifier", backend))
    return float(np.asarray(function(crop))[0, 0])


def _route(rgb_frames, model: str, backend: str | None = None, router: str = "auto") -> tuple[str, float | None]:
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if model != "auto":
        return model, None
    p = float(np.mean([classify(f, backend, router) for f in rgb_frames]))
    return ("dithered" if p >= 0.5 else "plain"), p


def _restore(rgb: np.ndarray, which: str, steps: int, palette: np.ndarray, tile: int, halo: int,
             consistent: bool = True, backend: str | None = None) -> np.ndarray:
    from gif_pipeline.models.restore import consistency
    from gif_pipeline.quant import dithering
    from gif_pipeline.runtime import ops

    function = _ccdnet_function(which, steps, None, resolve_backend(KINDS[which], backend))
    unit_palette = palette.astype(np.float32)[None] / 127.5 - 1.0
    image = rgb.astype(np.float32)[None] / 127.5 - 1.0

    def run(part):
        out = function(part, unit_palette)
        if not consistent:
            return out
        # Per pixel, so per tile: the GIF's colours are the part's input, exactly.
        gif = np.rint((part[0] + 1.0) * 127.5).astype(np.uint8)
        # Its nearest-colour products are small: one BLAS thread took 0.13 s on a 512x512 GIF against 0.27 s with two
        # on this project's shared 2-core machine (as gifnets encode's numpy steps: runtime/backend.py).
        with dithering._blas_threads().limit(limits=1, user_api="blas"):
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
                  halo: int = HALO, consistent: bool = True, backend: str | None = None,
                  router: str = "auto") -> RestoreResult:
    """Restore one GIF frame (uint8 ``[H, W, 3]``). ``model``: ``auto`` (:func:`classify` routes, by ``router``),
    ``plain`` or ``dithered``. ``palette``: the GIF's palette (uint8 ``[K, 3]``); default :func:`image_palette`.
    ``consistent``: keep the result consistent with the GIF (:mod:`gif_pipeline.models.restore.consistency`).
    ``backend``: ``auto``, ``litert`` or ``tf`` (:func:`resolve_backend`)."""
    _check_options(steps, tile, halo)
    rgb = _check_rgb(rgb)
    start = time.perf_counter()
    which, probability = _route([rgb], model, backend, router)
    if palette is None:
        palette, source = image_palette(rgb)
    else:
        palette, source = np.asarray(palette, np.uint8).reshape(-1, 3), "given"
    # An image with more than 256 colours is not a GIF of its median-cut palette: nothing to be consistent with.
    consistent = consistent and source != "median-cut-256"
    out = _restore(rgb, which, steps, palette, tile, halo, consistent, backend)
    return RestoreResult(out, which, probability, steps, len(palette), source, time.perf_counter() - start,
                         consistent, resolve_backend(KINDS[which], backend),
                         router_kind(router) if model == "auto" else None)


def restore_frames(frames, steps: int = DEFAULT_STEPS, model: str = "auto", tile: int = TILE,
                   halo: int = HALO, consistent: bool = True, backend: str | None = None,
                   router: str = "auto") -> list[RestoreResult]:
    """Restore every frame of an animation (uint8 ``[H, W, 3]`` each). One model serves the whole animation:
    with ``auto`` the mean P(dithered) over the frames decides (:func:`classify`). Each frame uses its own palette."""
    return list(iter_restore_frames(frames, steps, model, tile, halo, consistent, backend, router))


def iter_restore_frames(frames, steps: int = DEFAULT_STEPS, model: str = "auto", tile: int = TILE,
                        halo: int = HALO, consistent: bool = True, backend: str | None = None, router: str = "auto"):
    """:func:`restore_frames` one frame at a time (a generator: the routing runs on all frames first, then each
    frame is restored when asked for; ``gifnets restore --interpolate`` streams it)."""
    _check_options(steps, tile, halo)
    frames = [_check_rgb(f) for f in frames]
    if not frames:
        raise GifnetsError("no frames to restore")
    which, probability = _route(frames, model, backend, router)
    ran = resolve_backend(KINDS[which], backend)
    decided = router_kind(router) if model == "auto" else None
    for f in frames:
        t = time.perf_counter()
        palette, source = image_palette(f)
        ok = consistent and source != "median-cut-256"
        yield RestoreResult(_restore(f, which, steps, palette, tile, halo, ok, ran), which, probability, steps,
                            len(palette), source, time.perf_counter() - t, ok, ran, decided)


def clear_model_cache():
    _model.cache_clear()
    _ccdnet_function.cache_clear()
    _classifier_function.cache_clear()
    from gif_pipeline.models.restore import router

    router.load.cache_clear()
    from gif_pipeline.runtime import litert

    litert.clear_cache()
