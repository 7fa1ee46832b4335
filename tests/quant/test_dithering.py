"""Remapping onto a palette: exact nearest colour ('none') and Pillow's Floyd–Steinberg ('fs')."""
import os

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import checks  # noqa: E402
from gif_pipeline.quant import dithering, palettes, projection

DATA = checks.FIXTURES


def _photo():
    return np.asarray(Image.open(os.path.join(DATA, "hopper_64.png")).convert("RGB"))


def _distances(rgb, palette):
    return ((rgb[:, :, None, :].astype(np.int64) - palette[None, None].astype(np.int64)) ** 2).sum(-1)


def _gradient(h=48, w=64):
    """A smooth diagonal colour ramp."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / (w - 1)
    g = 255 * y / (h - 1)
    b = 255 * (x + y) / (w + h - 2)
    return np.rint(np.stack([r, g, b], -1)).astype(np.uint8)


@pytest.mark.parametrize("k", [2, 3, 17, 128, 255, 256])
@pytest.mark.parametrize("dither", dithering.DITHER_METHODS)
def test_indices_are_always_below_k(k, dither):
    rng = np.random.default_rng(k)
    rgb = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    # Black pixels and a palette without black: padding with black would be chosen here.
    rgb[:4] = 0
    palette[palette.sum(1) < 60] += 60
    indices = dithering.remap(rgb, palette, dither)
    assert indices.dtype == np.uint8 and indices.shape == rgb.shape[:2]
    assert int(indices.max()) < k


@pytest.mark.parametrize("k", [2, 5, 16, 64, 256])
def test_none_is_the_nearest_colour(k):
    rgb = _photo()
    palette = palettes.median_cut(rgb, k) if k < 256 else np.random.default_rng(0).integers(
        0, 256, (256, 3), dtype=np.uint8)
    indices = dithering.remap(rgb, palette, "none")
    d = _distances(rgb, palette)
    chosen = np.take_along_axis(d, indices[..., None].astype(np.int64), -1)[..., 0]
    np.testing.assert_array_equal(chosen, d.min(-1))  # ties may differ, distances may not
    reference, _ = projection.hard_projection(rgb.astype(np.float32), palette.astype(np.float32))
    ref_chosen = np.take_along_axis(d, reference.numpy()[..., None].astype(np.int64), -1)[..., 0]
    np.testing.assert_array_equal(chosen, ref_chosen)


def test_none_in_chunks_is_exact_with_lowest_index_ties(monkeypatch):
    rgb = np.random.default_rng(3).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    palette = np.random.default_rng(4).integers(0, 256, (37, 3), dtype=np.uint8)
    palette[20] = palette[3]  # a duplicate: the lower index must win
    monkeypatch.setattr(dithering, "_NEAREST_CHUNK", 37 * 7)  # 7 pixels a chunk
    indices = dithering.remap(rgb, palette, "none")
    d = _distances(rgb, palette)
    np.testing.assert_array_equal(indices, d.argmin(-1))  # numpy's argmin: exact, first of equals
    assert not (indices == 20).any()


@pytest.mark.parametrize("levels", [6, 256])  # few distinct colours (scored once each), or mostly distinct
def test_none_on_a_large_image_scores_each_distinct_colour_once(monkeypatch, levels):
    rng = np.random.default_rng(6)
    rgb = (rng.integers(0, levels, (300, 200, 3)) * (255 // (levels - 1))).astype(np.uint8)
    palette = rng.integers(0, 256, (40, 3), dtype=np.uint8)
    palette[30] = palette[2]  # the lower index must still win
    scored = []
    real = dithering._nearest_scores
    monkeypatch.setattr(dithering, "_nearest_scores", lambda px, pal: scored.append(len(px)) or real(px, pal))
    monkeypatch.setattr(dithering, "_DISTINCT_MIN_WORK", 300 * 200 * 40)  # this image is "large"
    monkeypatch.setattr(dithering, "_KEY_CHUNK", 7001)  # its colour keys in 9 chunks
    indices = dithering.remap(rgb, palette, "none")
    np.testing.assert_array_equal(indices, _distances(rgb, palette).argmin(-1))
    assert scored == ([6 ** 3] if levels == 6 else [300 * 200])  # the second has more distinct colours than half
    assert not (indices == 30).any()


def test_distinct_colours_round_trip_and_count_every_pixel():
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 4, (500, 3)).astype(np.uint8) * np.uint8(85)  # 64 possible colours, repeats
    pixels[0] = (255, 0, 1)
    colours, inverse, counts = dithering.distinct_colours(pixels)
    np.testing.assert_array_equal(colours[inverse], pixels)
    expected = {}
    for p in map(tuple, pixels.tolist()):
        expected[p] = expected.get(p, 0) + 1
    assert dict(zip(map(tuple, colours.tolist()), counts.tolist())) == expected
    assert colours.dtype == np.uint8 and counts.sum() == len(pixels)


def test_none_with_duplicate_palette_entries_and_every_uint8_level():
    rgb = np.stack(np.meshgrid(np.arange(256), np.arange(0, 256, 17), indexing="ij"), -1)
    rgb = np.concatenate([rgb, rgb[..., :1]], -1).astype(np.uint8)  # [256, 16, 3]
    palette = np.array([[0, 0, 0], [0, 0, 0], [255, 255, 255], [128, 7, 200], [128, 7, 200]], np.uint8)
    indices = dithering.remap(rgb, palette, "none")
    d = _distances(rgb, palette)
    np.testing.assert_array_equal(np.take_along_axis(d, indices[..., None].astype(np.int64), -1)[..., 0],
                                  d.min(-1))


def test_pillows_own_nearest_lookup_is_approximate():
    """Why 'none' does not use Pillow: its 6-bit palette cache misses the nearest colour."""
    rgb = _photo()
    palette = palettes.median_cut(rgb, 64)
    padded = dithering._palette_image(palette)
    pil = np.asarray(Image.fromarray(rgb).quantize(palette=padded, dither=Image.Dither.NONE)).astype(np.int64)
    d = _distances(rgb, palette)
    pil_error = np.take_along_axis(d, pil[..., None], -1)[..., 0].mean()
    ours = dithering.remap(rgb, palette, "none").astype(np.int64)
    our_error = np.take_along_axis(d, ours[..., None], -1)[..., 0].mean()
    assert our_error < pil_error


def test_pillow_only_dithers_onto_a_given_palette():
    """Pillow's note: ``quantize(colors=n)`` ignores ``dither``; remapping onto a palette does not."""
    image = Image.fromarray(_gradient())
    plain = np.asarray(image.quantize(8, dither=Image.Dither.NONE))
    fs = np.asarray(image.quantize(8, dither=Image.Dither.FLOYDSTEINBERG))
    np.testing.assert_array_equal(plain, fs)
    palette = palettes.median_cut(_gradient(), 8)
    assert not np.array_equal(dithering.remap(_gradient(), palette, "none"),
                              dithering.remap(_gradient(), palette, "fs"))


def test_fs_preserves_the_local_mean_colour_on_a_gradient():
    rgb = _gradient()
    palette = palettes.median_cut(rgb, 8)
    ref = ndimage.uniform_filter(rgb.astype(np.float64), size=(7, 7, 1), mode="reflect")
    errors = {}
    for dither in dithering.DITHER_METHODS:
        out = palette[dithering.remap(rgb, palette, dither)].astype(np.float64)
        blurred = ndimage.uniform_filter(out, size=(7, 7, 1), mode="reflect")
        errors[dither] = np.mean((blurred[4:-4, 4:-4] - ref[4:-4, 4:-4]) ** 2)
    # FS spreads the error so local averages match the original; plain nearest colour bands.
    assert errors["fs"] < 0.6 * errors["none"], errors  # measured: 156 vs 374


def test_fs_keeps_pixels_that_are_palette_colours():
    palette = np.array([[0, 0, 0], [128, 64, 32], [252, 252, 252]], np.uint8)
    rgb = palette[np.random.default_rng(0).integers(0, 3, (16, 16))]
    for dither in dithering.DITHER_METHODS:
        np.testing.assert_array_equal(palette[dithering.remap(rgb, palette, dither)], rgb)


def test_one_colour_palette():
    rgb = _photo()[:8, :8]
    for dither in dithering.DITHER_METHODS:
        np.testing.assert_array_equal(dithering.remap(rgb, np.array([[9, 9, 9]], np.uint8), dither), 0)


def test_bad_inputs_raise():
    rgb = np.zeros((4, 4, 3), np.uint8)
    palette = np.zeros((4, 3), np.uint8)
    with pytest.raises(ValueError, match="dither"):
        dithering.remap(rgb, palette, "ordered")
    with pytest.raises(ValueError, match="image"):
        dithering.remap(rgb.astype(np.float32), palette)
    with pytest.raises(ValueError, match="image"):
        dithering.remap(rgb[..., :2], palette)
    with pytest.raises(ValueError, match="palette"):
        dithering.remap(rgb, np.zeros((0, 3), np.uint8))
    with pytest.raises(ValueError, match="palette"):
        dithering.remap(rgb, np.zeros((257, 3), np.uint8))
    with pytest.raises(ValueError, match="palette"):
        dithering.remap(rgb, np.zeros((4, 4), np.uint8))
