"""Image -> GIF: one code path for every palette and dither stage.

A GIF encoder is two stages (GIFnets Fig. 2): a *palette stage* picks at most 256
colours for the image, and a *dither stage* maps every pixel to a palette index.
Stages are looked up by name in :data:`PALETTE_STAGES` and :data:`DITHER_STAGES`,
so the classical methods and the networks mix freely (e.g. median-cut palette with
network dithering).
"""
from __future__ import annotations

import contextvars
import dataclasses
import functools
import os
import time
from typing import Callable

import numpy as np

from gif_pipeline.config import check_num_colors
from gif_pipeline.io import gif as gif_io
from gif_pipeline.metrics import image as metrics
from gif_pipeline.quant import dithering

# TensorFlow (through gif_pipeline.quant.palettes and the networks) is imported where it is used, so that
# importing this module (`gifnets --help`, argument errors) does not wait seconds for it.

#: Where the networks run: ``litert`` (the ``.tflite`` files of ``python -m export.export_runtime`` on LiteRT, with
#: numpy for the other steps; no TensorFlow) or ``tf`` (the ``.keras`` files on TensorFlow/Keras, ``pip install
#: "gifnets[train]"``). ``auto`` is :data:`DEFAULT_BACKEND`; ``$GIFNETS_BACKEND`` or ``backend=`` choose.
BACKENDS = ("auto", "litert", "tf")
DEFAULT_BACKEND = "litert"
_BACKEND = contextvars.ContextVar("gifnets_backend", default=None)

PaletteStage = Callable[..., np.ndarray]  # (rgb uint8[N?,3] pixels image, n, seed) -> uint8[K,3]
DitherStage = Callable[..., np.ndarray]  # (rgb uint8[H,W,3], palette uint8[K,3]) -> uint8[H,W]


def resolve_backend(backend: str | None = None) -> str:
    """``litert`` or ``tf``: ``backend``, else ``$GIFNETS_BACKEND``, else :data:`DEFAULT_BACKEND`. ``tf`` without
    TensorFlow installed is a :class:`~gif_pipeline.errors.MissingPrerequisiteError` naming the extra to install."""
    from gif_pipeline.errors import GifnetsError

    choice = (backend or os.environ.get("GIFNETS_BACKEND") or "auto").strip().lower()
    if choice not in BACKENDS:
        raise GifnetsError(f"the backend (--backend or $GIFNETS_BACKEND) must be one of {', '.join(BACKENDS)}, "
                           f"got {choice!r}")
    choice = DEFAULT_BACKEND if choice == "auto" else choice
    if choice == "tf":
        require_tensorflow("--backend tf", ("palette", "dither"))
    return choice


def require_tensorflow(what: str, kinds: tuple[str, ...] = ()) -> None:
    """MissingPrerequisiteError unless TensorFlow and Keras can be imported (``what`` needs them) and the ``.keras``
    files of weight ``kinds`` that the registry lists are installed (a runtime install has the .tflite files only):
    one line naming everything to install."""
    from gif_pipeline.errors import MissingPrerequisiteError

    missing = []
    if kinds:
        from gif_pipeline.weights import registry

        missing = registry.missing_keras(*kinds)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:
        raise MissingPrerequisiteError(f"{what} needs TensorFlow, which this install lacks: "
                                       "pip install \"gifnets[train]\"" + (missing and registry.keras_hint(missing) or "")
                                       ) from None
    if missing:
        raise registry.keras_not_installed(missing, what)


def current_backend() -> str:
    """The backend of the encode running now (:func:`encode_image` sets it), else :func:`resolve_backend`'s."""
    return _BACKEND.get() or resolve_backend()


def _classical_palette(method: str) -> PaletteStage:
    def stage(rgb, n, seed=0, iterations=None):
        if method != "kmeans":
            from gif_pipeline.quant import classical

            return classical.make_palette(rgb, n, method)
        require_tensorflow("--palette kmeans (classical k-means; net+kmeans runs without it)")
        from gif_pipeline.quant import palettes

        if method == "kmeans":
            return palettes.kmeans(rgb, n, seed=seed, **({} if iterations is None else {"iterations": iterations}))
        return palettes.make_palette(rgb, n, method)

    return stage


@functools.lru_cache(maxsize=8)
def _load_net(kind: str, np_colors: int | None):
    from gif_pipeline.errors import MissingPrerequisiteError
    from gif_pipeline.weights import registry

    try:
        return registry.load(kind, np_colors, search_runs=False)
    except registry.KerasWeightsNotInstalledError:
        raise
    except MissingPrerequisiteError:
        shipped = _available_colors(kind)
        net = {"palette": "PaletteNet", "dither": "DitherNet"}[kind]
        raise MissingPrerequisiteError(
            f"no trained {net} for {np_colors} colours is installed (available: "
            f"{', '.join(map(str, shipped)) or 'none'}); choose one of those --colors, a classical method, "
            f"or train one with trainers/train_{kind} --np={np_colors}") from None


@functools.lru_cache(maxsize=8)
def _inference_dither_net(np_colors: int):
    """The installed DitherNet for ``np_colors``, batch norms folded, in the inference precision."""
    from gif_pipeline.models.gifnets import dither_net

    return dither_net.inference_model(_load_net("dither", np_colors))


def clear_model_cache():
    """Forget loaded networks (after the weights folder or ``$GIFNETS_PRECISION`` changed)."""
    _load_net.cache_clear()
    _inference_dither_net.cache_clear()
    _net_function.cache_clear()
    _dither_function.cache_clear()
    _batch_function.cache_clear()
    from gif_pipeline.runtime import litert

    litert.clear_cache()


def _available_colors(kind: str) -> list[int]:
    """Installed sizes: DitherNets' Np; the palette sizes PaletteNets give from a head of their own."""
    from gif_pipeline.weights import registry

    return sorted(registry.palette_sizes()) if kind == "palette" else registry.shipped_colors(kind)


def _load_palette_net(np_colors: int):
    """The installed PaletteNet that gives ``np_colors`` from a head of its own (its file may be for another Np)."""
    from gif_pipeline.weights import registry

    return _load_net("palette", registry.palette_sizes().get(np_colors, np_colors))


@functools.lru_cache(maxsize=16)
def _net_function(np_colors: int):
    """The installed PaletteNet for ``np_colors`` and its compiled inference forward pass (backbone batch
    norms folded: :func:`palette_net.inference_function`)."""
    import tensorflow as tf

    from gif_pipeline.models.gifnets import palette_net

    net = _load_palette_net(np_colors)
    return net, tf.function(palette_net.inference_function(net, num_colors=np_colors), reduce_retracing=True,
                            autograph=False)


#: ``net+kmeans`` runs its Lloyd steps XLA-compiled (:func:`palettes.refine_palette`) for one image at any
#: number of colours, and for batches up to this many: at batch 8 XLA was 3x faster at 16-32 colours,
#: 1.1x at 64 and slower at 128-256; at batch 1 it was faster at every size (docs/experiments/gifnets.md). The first call in a
#: process compiles (~1.3 s against a ~0.5 s graph trace); ``$GIFNETS_XLA=off`` keeps the graph, and
#: ``gifnets encode`` sets it for fewer than ``cli.encode.XLA_MIN_INPUTS`` inputs.
XLA_REFINE_MAX_COLORS = 64


def xla_enabled() -> bool:
    """``$GIFNETS_XLA``: "auto" or "on" (default; XLA where it is faster) or "off"."""
    choice = (os.environ.get("GIFNETS_XLA") or "auto").strip().lower()
    if choice not in ("auto", "on", "off"):
        from gif_pipeline.errors import GifnetsError

        raise GifnetsError(f"$GIFNETS_XLA must be auto, on or off, got {choice!r}")
    return choice != "off"


def _refine_with_xla(n: int, image) -> bool:
    """XLA for ``n`` colours on ``image`` ``[B, H, W, 3]``: one image or few colours, and an image of at least
    the fine sample's pixels (then every image has the same sample shape: one compilation per Np)."""
    from gif_pipeline.quant import palettes

    few = int(image.shape[0]) == 1 or n <= XLA_REFINE_MAX_COLORS
    large = int(image.shape[1]) * int(image.shape[2]) >= palettes.REFINE_GRID_PIXELS[-1]
    return few and large and xla_enabled()


@functools.lru_cache(maxsize=16)
def _refine_function(refine: int, jit_compile: bool):
    """Compiled ``net+kmeans`` refinement: ``refine`` Lloyd steps on pixel samples (:func:`palettes.refine_palette`)."""
    import tensorflow as tf

    from gif_pipeline.quant import palettes

    return tf.function(lambda palette, image: palettes.refine_palette(image, palette, refine, jit_compile),
                       reduce_retracing=True,
                       autograph=False)  # no tensor-dependent Python control flow; AutoGraph took ~2.5 s to trace


def pick_palette_net(n: int) -> tuple[int, str]:
    """Which installed PaletteNet gives ``n`` colours, and how (:func:`gif_pipeline.weights.registry.palette_net_for`)."""
    from gif_pipeline.weights import registry

    return registry.palette_net_for(n)


def _network_palettes(images, n: int, refine: int):
    """Eq. 1's palettes ``[B, n, 3]`` (float, [-1, 1]) of ``images`` ``[B, H, W, 3]`` in [-1, 1] from the
    installed PaletteNet for ``n`` colours (:func:`pick_palette_net`), refined by ``refine`` Lloyd steps:
    :func:`gif_pipeline.models.gifnets.graph.network_palettes` with the cached network and compiled steps.
    Runs eagerly (:func:`encode_image`) or inside :func:`encode_batch`'s compiled function.
    """
    import tensorflow as tf

    from gif_pipeline.models.gifnets import graph

    with tf.init_scope():  # load (and fold) the network eagerly, also when called inside a trace
        np_net, how = pick_palette_net(n)
        net, predict = _net_function(np_net)
    refine_fn = _refine_function(int(refine), _refine_with_xla(n, images)) if refine else None
    return graph.network_palettes(net, predict, images, n, refine, how, refine_fn)


def _net_palette(refine_iterations: int) -> PaletteStage:
    """PaletteNet's palette (§3.1), optionally refined by Lloyd iterations (``net+kmeans``):
    :func:`_network_palettes` for one image."""

    def stage(rgb, n, seed=0, iterations=None):
        del seed  # the network is deterministic
        refine = refine_iterations if iterations is None or not refine_iterations else iterations
        if current_backend() == "litert":
            from gif_pipeline.runtime import backend

            return backend.network_palette(rgb, n, refine)
        from gif_pipeline.layers.common import image_to_unit, palette_to_uint8

        palette = _network_palettes(image_to_unit(rgb)[None], n, refine)
        return np.unique(palette_to_uint8(palette[0]), axis=0)

    return stage


def _dither_net_colors(n: int) -> int:
    """Np of the installed DitherNet used for ``n`` colours (:func:`gif_pipeline.weights.registry.dither_net_for`)."""
    from gif_pipeline.weights import registry

    return registry.dither_net_for(n)


@functools.lru_cache(maxsize=16)
def _dither_function(dither_np: int, what: str = "indices"):
    """The installed DitherNet for ``dither_np`` as a compiled ``(image, palette) -> indices`` function
    (``what="error"``: ``-> E'``)."""
    import tensorflow as tf

    from gif_pipeline.models.gifnets import graph

    net = _inference_dither_net(dither_np)
    fn = graph.dithered_indices if what == "indices" else graph.dither_error
    return tf.function(lambda image, palette: fn(net, image, palette), reduce_retracing=True, autograph=False)


#: On TensorFlow (``--backend tf``; LiteRT: :data:`gif_pipeline.runtime.backend.DITHER_TILE_PIXELS`),
#: DitherNet reads an image of more than ``DITHER_TILE**2`` pixels in tiles of ``DITHER_TILE`` pixels
#: with ``DITHER_HALO`` pixels of context on each side, so its memory stays bounded: a 12-megapixel photo
#: in one piece took 4 GB. A changed pixel moves E' at most 45 pixels away (measured on the shipped
#: networks), the halo is larger, and tiles start at multiples of 8 (DitherNet's pooling grid; for a DitherNet
#: with a blue-noise input, of the texture's period: ``dither_net.tile_alignment``), so the tiled E' equals the
#: whole one up to float rounding.
DITHER_TILE = 1024
DITHER_HALO = 64


def tiled(function, image, tile: int = DITHER_TILE, halo: int = DITHER_HALO, align: int = 8):
    """``function(image)`` for an image-to-image ``function`` of TensorFlow tensors ``[1, H, W, C]``, computed on
    overlapping tiles by :func:`gif_pipeline.runtime.ops.tiled` (the same loop as the LiteRT backend's)."""
    import tensorflow as tf

    from gif_pipeline.runtime import ops

    return tf.convert_to_tensor(ops.tiled(lambda crop: function(tf.convert_to_tensor(crop)).numpy(),
                                          np.asarray(image), tile, halo, align))


def _net_dither(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """DitherNet (§3.2, Eq. 5) on any palette: E' = DitherNet(I, Proj(I, P)); indices of Proj(I + E', P).

    DitherNets are trained per Np; the one for the smallest shipped Np >= len(palette) is used
    (else the largest). Large images are read in tiles (:data:`DITHER_TILE`).
    """
    if current_backend() == "litert":
        from gif_pipeline.runtime import backend

        return backend.dithered_indices(rgb, palette)
    from gif_pipeline.layers.common import image_to_unit
    from gif_pipeline.quant.projection import hard_projection

    dither_np = _dither_net_colors(len(palette))
    image, unit = image_to_unit(rgb)[None], palette.astype(np.float32) / 127.5 - 1.0
    if rgb.shape[0] * rgb.shape[1] <= DITHER_TILE ** 2:
        indices = _dither_function(dither_np)(image, unit)
    else:
        from gif_pipeline.models.gifnets.dither_net import tile_alignment

        align = tile_alignment(_inference_dither_net(dither_np))
        error = tiled(lambda crop: _dither_function(dither_np, "error")(crop, unit), image, DITHER_TILE, DITHER_HALO,
                      align)
        indices = hard_projection(image + error, unit)[0]
    return indices.numpy()[0].astype(np.uint8)


def _ordered_dither(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Knoll's pattern dither with a blue-noise mask (:mod:`gif_pipeline.quant.ordered`); in animations its mask stays
    fixed to the canvas, so still areas keep their indices."""
    from gif_pipeline.quant import ordered

    return ordered.pattern_dither(rgb, palette)


#: ``net+kmeans``'s Lloyd steps (:func:`palettes.refine_schedule`: 4 coarse, 2 split-merge rounds of 2, 2 fine).
#: Chosen on 40 photos of the trainers' held-out split (not val; docs/experiments/gifnets.md): from the heads' palettes with their
#: re-assignment round, 10 steps were 0.02-0.04 dB below 15 at 16-256 colours and 8-20% faster.
KMEANS_REFINE_ITERATIONS = 10

PALETTE_STAGES: dict[str, PaletteStage] = {m: _classical_palette(m) for m in ("median-cut", "kmeans", "octree")}
PALETTE_STAGES["net"] = _net_palette(0)
PALETTE_STAGES["net+kmeans"] = _net_palette(KMEANS_REFINE_ITERATIONS)
DITHER_STAGES: dict[str, DitherStage] = {
    "none": lambda rgb, palette: dithering.remap(rgb, palette, "none"),
    "fs": lambda rgb, palette: dithering.remap(rgb, palette, "fs"),
    "ed": lambda rgb, palette: dithering.remap(rgb, palette, "ed"),
    "net": _net_dither,
    "ordered": lambda rgb, palette: _ordered_dither(rgb, palette),
}


def resolve_palette(method: str, n: int) -> str:
    """``auto`` -> ``net+kmeans`` when a PaletteNet (or a head of one) of at least ``n`` colours is installed
    (:func:`pick_palette_net` says how it gives ``n``), else ``kmeans``; other methods are returned unchanged."""
    if method != "auto":
        return method
    return "net+kmeans" if any(c >= n for c in _available_colors("palette")) else "kmeans"


#: ``--dither auto`` uses an installed DitherNet up to this many colours, whatever Np it was trained
#: for, and the error diffusion ``ed`` above (and everywhere when no DitherNet is installed). Chosen on the
#: val photos against libimagequant's dithering, issue #29's targets (docs/experiments/gifnets.md, 2026-12-06
#: "error diffusion"): ``ed`` meets them at 32-256 colours, where the 32/64-colour DitherNet leaves a dot lattice;
#: at 16 colours both meet them and the Np=16 DitherNet has the higher VMAF and the smaller files.
DITHER_NET_MAX_COLORS = 16


def resolve_dither(method: str, n: int) -> str:
    """``auto`` -> ``net`` when a DitherNet is installed and ``n <= DITHER_NET_MAX_COLORS``; else ``ed``."""
    if method != "auto":
        return method
    return "net" if _available_colors("dither") and n <= DITHER_NET_MAX_COLORS else "ed"


#: The defaults pick the trained networks where they are installed for the requested --colors.
DEFAULT_PALETTE = "auto"
DEFAULT_DITHER = "auto"
AUTO_HELP = ("auto: the trained networks where installed for that --colors (palette net+kmeans; "
             f"dither net up to {DITHER_NET_MAX_COLORS} colours), else kmeans / ed (error diffusion)")


@dataclasses.dataclass
class EncodeResult:
    """An encoded GIF and what it cost."""

    gif_bytes: bytes
    indices: np.ndarray  # uint8 [H, W]
    palette: np.ndarray  # uint8 [K, 3]
    rgb: np.ndarray  # uint8 [H, W, 3], the decoded GIF (transparent pixels keep the input colour)
    transparent_index: int | None
    seconds: float
    methods: tuple[str, str] = ("", "")  # the palette and dither stages used ("auto" resolved)

    @property
    def colors_used(self) -> int:
        return int(np.count_nonzero(np.bincount(self.indices.reshape(-1), minlength=1)))

    def stats(self, reference: np.ndarray, alpha_mask: np.ndarray | None = None) -> dict:
        """Per-file numbers that the CLI prints: colours, bytes, PSNR against ``reference``, seconds."""
        keep = None if alpha_mask is None else ~alpha_mask
        a, b = (reference, self.rgb) if keep is None else (reference[keep][None], self.rgb[keep][None])
        return {
            "colors": self.colors_used,
            "bytes": len(self.gif_bytes),
            "psnr": round(float(metrics.psnr(a, b)), 3) if a.size else float("inf"),
            "seconds": round(self.seconds, 4),
            "palette": self.methods[0],
            "dither": self.methods[1],
        }


def encode_image(
    rgb: np.ndarray,
    colors: int = 256,
    palette: str = DEFAULT_PALETTE,
    dither: str = DEFAULT_DITHER,
    alpha_mask: np.ndarray | None = None,
    seed: int = 0,
    kmeans_iterations: int | None = None,
    backend: str | None = None,
) -> EncodeResult:
    """Encode ``rgb`` (uint8 [H, W, 3]) as a GIF with at most ``colors`` colours.

    ``kmeans_iterations`` sets the Lloyd iterations of ``kmeans`` (default 10) and ``net+kmeans``
    (default :data:`KMEANS_REFINE_ITERATIONS`). ``alpha_mask`` (bool [H, W], True = transparent)
    reserves one palette entry as the GIF's transparent index; the other ``colors - 1`` entries are
    fitted to the opaque pixels. ``backend`` runs the networks on ``litert`` or ``tf`` (:func:`resolve_backend`).
    """
    check_num_colors(colors)
    if palette not in PALETTE_STAGES and palette != "auto":
        raise ValueError(f"unknown palette method {palette!r}; choose from {sorted(PALETTE_STAGES) + ['auto']}")
    if dither not in DITHER_STAGES and dither != "auto":
        raise ValueError(f"unknown dither method {dither!r}; choose from {sorted(DITHER_STAGES) + ['auto']}")
    palette, dither = resolve_palette(palette, colors), resolve_dither(dither, colors)
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected a uint8 [H, W, 3] image, got shape {rgb.shape}")
    has_alpha = alpha_mask is not None and bool(alpha_mask.any())
    token = _BACKEND.set(resolve_backend(backend))
    try:
        return _encode_image(rgb, colors, palette, dither, alpha_mask, has_alpha, seed, kmeans_iterations)
    finally:
        _BACKEND.reset(token)


def _encode_image(rgb, colors, palette, dither, alpha_mask, has_alpha, seed, kmeans_iterations) -> EncodeResult:
    start = time.perf_counter()
    transparent_index = None
    if has_alpha and bool(alpha_mask.all()):
        pal = np.zeros((1, 3), np.uint8)
        indices = np.zeros(rgb.shape[:2], np.uint8)
    else:
        fit_pixels = rgb[~alpha_mask][None] if has_alpha else rgb
        n_fit = colors - 1 if has_alpha else colors
        if n_fit == 1:  # --colors 2 with transparency: one opaque colour, the mean
            pal = np.rint(fit_pixels.reshape(-1, 3).mean(0)).astype(np.uint8)[None]
        else:
            pal = PALETTE_STAGES[palette](fit_pixels, n_fit, seed=seed, iterations=kmeans_iterations)
        indices = DITHER_STAGES[dither](rgb, pal)
    if has_alpha:
        transparent_index = len(pal) if not bool(alpha_mask.all()) else 0
        if transparent_index == len(pal):
            pal = np.concatenate([pal, np.zeros((1, 3), np.uint8)])
        indices = np.where(alpha_mask, np.uint8(transparent_index), indices).astype(np.uint8)
    gif_bytes = gif_io.encode_gif(indices, pal, transparent_index=transparent_index)
    seconds = time.perf_counter() - start

    decoded = pal[indices]
    if has_alpha:
        decoded = np.where(alpha_mask[..., None], rgb, decoded)
    return EncodeResult(gif_bytes, indices, pal, decoded, transparent_index, seconds, (palette, dither))


@functools.lru_cache(maxsize=16)
def _batch_function(n: int, refine: int, dither_np: int | None):
    """A compiled image batch -> (uint8 palettes, uint8 indices) function for :func:`encode_batch`: the
    deployable graph (:class:`~gif_pipeline.models.gifnets.graph.EncoderGraph`) of the installed networks."""
    from gif_pipeline.models.gifnets import graph

    np_net, how = pick_palette_net(n)
    net, predict = _net_function(np_net)
    dither_net = _inference_dither_net(dither_np) if dither_np else None
    refine_fn = (lambda palette, images: _refine_function(refine, _refine_with_xla(n, images))(palette, images)) \
        if refine else None
    return graph.EncoderGraph(net, dither_net, n, refine, how, refine_fn=refine_fn, predict=predict).batch_function


def encode_batch(images, colors: int = 256, palette: str = DEFAULT_PALETTE, dither: str = DEFAULT_DITHER,
                 kmeans_iterations: int | None = None, backend: str | None = None) -> list[EncodeResult]:
    """Encode a batch of same-size uint8 images ``[B, H, W, 3]`` in one network pass (no transparency).

    For services and throughput: the network palette stages (``net``, ``net+kmeans``, or ``auto``
    resolving to them) with ``none`` or ``net`` dithering run as one compiled TF function over the
    batch (``ed``: then the error diffusion of the whole batch,
    :func:`~gif_pipeline.quant.error_diffusion.error_diffusion_batch`); any other combination falls back to
    :func:`encode_image` per image. Palettes may hold repeated colours (the GIF stays valid). ``seconds`` of each
    result is the batch time over B.
    On the ``litert`` backend every image is encoded by :func:`encode_image` (its palette's colours distinct), on
    :func:`gif_pipeline.runtime.litert.batch_workers` threads at once.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or 0 in images.shape:
        raise ValueError(f"expected uint8 images [B, H, W, 3], got {images.dtype} {images.shape}")
    check_num_colors(colors)
    palette, dither = resolve_palette(palette, colors), resolve_dither(dither, colors)
    backend = resolve_backend(backend)
    from gif_pipeline.runtime import litert

    if backend == "litert" and len(images) > 1 and (workers := litert.batch_workers()) > 1:
        # image by image, ``workers`` at a time (each worker thread its own interpreters; one BLAS thread while the
        # batch runs: the workers fill the cores)
        def one(rgb):
            return encode_image(rgb, colors, palette, dither, kmeans_iterations=kmeans_iterations, backend=backend)

        with dithering._blas_threads().limit(limits=1, user_api="blas"):
            return list(litert.batch_pool(min(workers, len(images))).map(one, images))
    if palette not in ("net", "net+kmeans") or dither not in ("none", "net", "ed") or backend == "litert":
        return [encode_image(rgb, colors, palette, dither, kmeans_iterations=kmeans_iterations, backend=backend)
                for rgb in images]
    refine = 0 if palette == "net" else (KMEANS_REFINE_ITERATIONS if kmeans_iterations is None else kmeans_iterations)
    dither_np = _dither_net_colors(colors) if dither == "net" else None
    start = time.perf_counter()
    palettes_u8, indices_u8 = (t.numpy() for t in _batch_function(colors, int(refine), dither_np)(images))
    if dither == "ed":  # the batch's palettes and nearest colours, then the numpy error diffusion of the whole batch
        from gif_pipeline.quant.error_diffusion import error_diffusion_batch

        indices_u8 = error_diffusion_batch(images, palettes_u8, nearest_indices=indices_u8,
                                           **dithering.ed_settings(palettes_u8.shape[1]))
    gifs = [gif_io.encode_gif(ind, pal) for ind, pal in zip(indices_u8, palettes_u8)]
    seconds = (time.perf_counter() - start) / len(images)
    return [EncodeResult(g, ind, pal, pal[ind], None, seconds, (palette, dither))
            for g, ind, pal in zip(gifs, indices_u8, palettes_u8)]


def encode_frames(frames, output=None, **options):
    """Frames -> an animated GIF: :func:`gif_pipeline.animate.encode_frames` (frames from any iterable, e.g. a
    generator; palettes global, per frame or per scene; still areas kept through transparency)."""
    from gif_pipeline import animate

    return animate.encode_frames(frames, output, **options)
