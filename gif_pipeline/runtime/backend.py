"""``gifnets encode``'s network stages on LiteRT + numpy: the same computation as
:func:`gif_pipeline.models.gifnets.graph.network_palettes` (``net``, ``net+kmeans``) and
:func:`gif_pipeline.encode._net_dither` (DitherNet, tiled above ``DITHER_TILE**2`` pixels), without TensorFlow.

The networks and ``net+kmeans``'s Lloyd steps run in the ``.tflite`` files that ``python -m export.export_runtime``
builds from the registry's ``.keras`` files (:mod:`gif_pipeline.runtime.litert`); resizing, pixel sampling,
pruning, rounding and the nearest-colour steps are numpy (:mod:`gif_pipeline.runtime.ops`).
"""
from __future__ import annotations

import numpy as np

from gif_pipeline.runtime import litert, ops

# The constants of the TensorFlow path, repeated here so that this module imports no TensorFlow
# (tests/runtime/test_backend.py checks that they are equal).
#: palettes.REFINE_GRID_PIXELS: the coarse and fine pixel samples of net+kmeans.
REFINE_GRID_PIXELS = (64 * 64, 128 * 128)
#: palette_net.SLOT_PIXELS: the pixels a slot head reads without refinement.
SLOT_PIXELS = 128 * 128
#: graph.PRUNE_GRID_PIXELS: the pixels a larger head is pruned on.
PRUNE_GRID_PIXELS = 128 * 128
#: palettes.SPLIT_MERGE_ROUNDS.
SPLIT_MERGE_ROUNDS = 3


def refine_schedule(iterations: int) -> tuple[int, int, int]:
    """:func:`gif_pipeline.quant.palettes.refine_schedule`: ``(coarse steps, split-merge rounds, fine steps)``."""
    fine = iterations // 5
    rounds = min(SPLIT_MERGE_ROUNDS, (iterations - fine) // 4)
    return iterations - fine - 2 * rounds, rounds, fine


def network_palette_float(rgb: np.ndarray, n: int, refine: int) -> np.ndarray:
    """Float palette ``[n, 3]`` in [-1, 1] of uint8 ``rgb`` (``[H, W, 3]`` or ``[1, N, 3]`` pixels) from the installed
    PaletteNet for ``n`` colours (:func:`registry.palette_net_for`), refined by ``refine`` Lloyd steps."""
    from gif_pipeline.weights import registry

    np_net, how = registry.palette_net_for(n)
    file_np = registry.palette_sizes().get(np_net, np_net)
    model = litert.load("palette", file_np)
    config = registry.net_config("palette", file_np)
    x = ops.image_to_unit(rgb)[None]
    small = ops.downscale_short_side(x, int(config.get("input_size") or 0))
    features = model.run("backbone", image=small)["features"]
    if config.get("head", "dense") == "slots":
        pixels = ops.grid_pixels(x, REFINE_GRID_PIXELS[0] if refine else SLOT_PIXELS)[:, None]
    else:  # a dense head reads the network's input (only a whitened output reads it at all)
        pixels = small.reshape(1, 1, -1, 3)
    if f"head{np_net}" not in model.signatures:
        raise registry.WeightsError(f"{model.name} has no head for {np_net} colours; rebuild it with `{litert.REBUILD}`")
    palette = model.run(f"head{np_net}", pixels=pixels, features=features)["palette"]
    if how == "prefix":
        palette = palette[:, :n]
    elif how == "prune":
        palette = ops.prune_palette(x, palette, n, PRUNE_GRID_PIXELS)
    if refine:
        steps, rounds, fine_steps = refine_schedule(int(refine))
        palette = model.run("refine", coarse=ops.grid_pixels(x, REFINE_GRID_PIXELS[0]),
                            fine=ops.grid_pixels(x, REFINE_GRID_PIXELS[1]), palette=palette,
                            steps=np.int32(steps), rounds=np.int32(rounds), fine_steps=np.int32(fine_steps))["palette"]
    return palette[0]


def _one_blas_thread():
    """numpy's matrix products here are small: one BLAS thread (as :mod:`gif_pipeline.quant.dithering` does)."""
    from gif_pipeline.quant import dithering

    return dithering._blas_threads().limit(limits=1, user_api="blas")


def network_palette(rgb: np.ndarray, n: int, refine: int) -> np.ndarray:
    """uint8 palette ``[k, 3]`` (distinct colours) of :func:`network_palette_float`: ``net`` / ``net+kmeans``."""
    with _one_blas_thread():
        return np.unique(ops.palette_to_uint8(network_palette_float(rgb, n, refine)), axis=0)


def dithered_indices(rgb: np.ndarray, palette: np.ndarray, tile: int, halo: int) -> np.ndarray:
    """DitherNet (Eq. 5) on uint8 ``rgb`` ``[H, W, 3]`` and uint8 ``palette`` ``[K, 3]``: uint8 indices ``[H, W]``.
    Images above ``tile**2`` pixels are read in tiles with ``halo`` pixels of context (:func:`ops.tiled`)."""
    from gif_pipeline.weights import registry

    model = litert.load("dither", registry.dither_net_for(len(palette)))
    x = ops.image_to_unit(rgb)[None]
    unit = palette.astype(np.float32) / 127.5 - 1.0

    def error(image):
        return model.run("error", image=image, quantized=unit[ops.nearest_float(image, unit)])["error"]

    with _one_blas_thread():
        if rgb.shape[0] * rgb.shape[1] <= tile ** 2:
            e = error(x)
        else:  # a blue-noise DitherNet says where its tiles must start (issue 29); the others: the 8-px grid
            align = (int(model.run("tile_align", x=np.zeros([1], np.float32))["align"][0])
                     if "tile_align" in model.signatures else 8)
            e = ops.tiled(error, x, tile, halo, align)
        return ops.nearest_float(x + e, unit)[0].astype(np.uint8)


def refine_palette(rgb: np.ndarray, palette: np.ndarray, steps: int = 2, rounds: int = 1,
                   fine_steps: int = 1) -> np.ndarray:
    """``palette`` (uint8 ``[k, 3]``) refined on ``rgb`` by the shipped Lloyd steps (``net+kmeans``'s ``refine``
    signature) without running the network: a warm start, for the frames of an animation. uint8, distinct colours."""
    from gif_pipeline.weights import registry

    np_net, _ = registry.palette_net_for(len(palette))
    model = litert.load("palette", registry.palette_sizes().get(np_net, np_net))
    x = ops.image_to_unit(rgb)[None]
    unit = (palette.astype(np.float32) / np.float32(127.5) - np.float32(1.0))[None]
    with _one_blas_thread():
        out = model.run("refine", coarse=ops.grid_pixels(x, REFINE_GRID_PIXELS[0]),
                        fine=ops.grid_pixels(x, REFINE_GRID_PIXELS[1]), palette=unit, steps=np.int32(steps),
                        rounds=np.int32(rounds), fine_steps=np.int32(fine_steps))["palette"]
        return np.unique(ops.palette_to_uint8(out[0]), axis=0)
