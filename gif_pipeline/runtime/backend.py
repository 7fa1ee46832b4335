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


#: DitherNet on LiteRT reads an image in equal tiles whose windows (tile and ``DITHER_HALO`` pixels of context) have
#: at most ``DITHER_TILE_PIXELS`` pixels, chosen to read the fewest pixels (:func:`ops.tile_counts`); all windows of an
#: image have one shape, so the interpreter allocates once. The budget bounds the memory (XNNPACK float32, transient
#: indirection buffers: 161 MiB of process for one 448x648 window); the halo covers the 45 pixels a changed pixel
#: moves E' (``encode.DITHER_HALO``), so tiles give the whole image's E' up to float rounding. 2026-12-06 notebook,
#: "fast DitherNet on LiteRT".
DITHER_TILE_PIXELS = 300_000
DITHER_HALO = 48


def dither_texture(model) -> np.ndarray | None:
    """The blue-noise texture ``[P, P, k]`` of a DitherNet runtime model (issue 29), or None."""
    if "texture" not in model.signatures:
        return None
    if getattr(model, "_texture", None) is None:
        model._texture = model.run("texture", x=np.zeros([1], np.float32))["texture"]
    return model._texture


def _dither_tiles(model, image: np.ndarray, unit: np.ndarray, budget: int, halo: int):
    """DitherNet's E' on float ``image`` ``[1, H, W, 3]`` with float palette ``unit`` ``[K, 3]``, tile by tile: yields
    ``(rows, cols, E')`` for the image's slices ``rows`` x ``cols``. Each window's input (image, its projection, the
    blue-noise channels; padded symmetrically at the bottom/right to multiples of 8, as the network's ``pad`` layer
    does) is built in numpy from the image's pixels, so no full-size copy is made."""
    if "unet" not in model.signatures:
        from gif_pipeline.weights import registry

        raise registry.WeightsError(f"{model.name} has no 'unet' signature (built by an older export); rebuild it "
                                    f"with `{litert.REBUILD}`")
    texture, unet = dither_texture(model), model.compiled("unet")
    h, w = image.shape[1], image.shape[2]
    ny, nx = ops.tile_counts(h, w, budget, halo)
    row_index = ops.symmetric_indices(h, 0, -h % 8)
    col_index = ops.symmetric_indices(w, 0, -w % 8)
    for y0, y1, wy, sy in ops.tile_windows(h, ny, halo):
        rows = row_index[wy:wy + sy]
        band = image[:, rows]
        for x0, x1, wx, sx in ops.tile_windows(w, nx, halo):
            cols = col_index[wx:wx + sx]
            window = band[:, :, cols]
            parts = [window, unit[ops.nearest_float(window, unit)]]
            if texture is not None:
                parts.append(ops.blue_noise(texture, rows, cols)[None])
            error = unet(np.concatenate(parts, axis=-1))
            ry, rx = slice(y0, min(y1, h)), slice(x0, min(x1, w))
            yield ry, rx, error[:, y0 - wy:min(y1, h) - wy, x0 - wx:min(x1, w) - wx]


def dither_error(model, image: np.ndarray, unit: np.ndarray, budget: int = DITHER_TILE_PIXELS,
                 halo: int = DITHER_HALO) -> np.ndarray:
    """E' ``[1, H, W, 3]`` of the DitherNet runtime ``model`` on float ``image`` ``[1, H, W, 3]`` in [-1, 1] and float
    palette ``unit`` ``[K, 3]`` (the network reads ``Proj(image, unit)``), in tiles of at most ``budget`` pixels."""
    out = np.empty(image.shape, np.float32)
    for rows, cols, error in _dither_tiles(model, image, unit, budget, halo):
        out[:, rows, cols] = error
    return out


def dithered_indices(rgb: np.ndarray, palette: np.ndarray, budget: int = DITHER_TILE_PIXELS,
                     halo: int = DITHER_HALO) -> np.ndarray:
    """DitherNet (Eq. 5) on uint8 ``rgb`` ``[H, W, 3]`` and uint8 ``palette`` ``[K, 3]``: uint8 indices ``[H, W]``,
    ``Proj(I + E', P)`` tile by tile (:func:`_dither_tiles`; windows of at most ``budget`` pixels)."""
    from gif_pipeline.weights import registry

    model = litert.load("dither", registry.dither_net_for(len(palette)))
    x = ops.image_to_unit(rgb)[None]
    unit = palette.astype(np.float32) / 127.5 - 1.0
    out = np.empty(rgb.shape[:2], np.uint8)
    with _one_blas_thread():
        for rows, cols, error in _dither_tiles(model, x, unit, budget, halo):
            out[rows, cols] = ops.nearest_float(x[:, rows, cols] + error, unit)[0]
    return out


def refine_model(k: int):
    """The runtime PaletteNet whose ``refine`` signature :func:`refine_palette` runs for a ``k``-colour palette (a
    caller refining many palettes looks it up once: the registry lists the weights folders at each look-up)."""
    from gif_pipeline.weights import registry

    np_net, _ = registry.palette_net_for(k)
    return litert.load("palette", registry.palette_sizes().get(np_net, np_net))


def refine_palette(rgb: np.ndarray, palette: np.ndarray, steps: int = 2, rounds: int = 1,
                   fine_steps: int = 1, model=None) -> np.ndarray:
    """``palette`` (uint8 ``[k, 3]``) refined on ``rgb`` by the shipped Lloyd steps (``net+kmeans``'s ``refine``
    signature) without running the network: a warm start, for the frames of an animation. uint8, distinct colours.
    ``model``: :func:`refine_model` of ``len(palette)``, if the caller has it.

    Only the sampled pixels are converted to floats (the same values as sampling the converted image); without fine
    steps the graph never reads its ``fine`` sample, which is then the coarse one (no second sample)."""
    model = model or refine_model(len(palette))
    coarse = ops.image_to_unit(ops.grid_pixels(rgb[None], REFINE_GRID_PIXELS[0]))
    fine = coarse if not fine_steps else ops.image_to_unit(ops.grid_pixels(rgb[None], REFINE_GRID_PIXELS[1]))
    unit = (palette.astype(np.float32) / np.float32(127.5) - np.float32(1.0))[None]
    with _one_blas_thread():
        out = model.run("refine", coarse=coarse, fine=fine, palette=unit, steps=np.int32(steps),
                        rounds=np.int32(rounds), fine_steps=np.int32(fine_steps))["palette"]
        return np.unique(ops.palette_to_uint8(out[0]), axis=0)
