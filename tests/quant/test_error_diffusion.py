"""gifnets' error diffusion ('ed'): the wavefront scheme against a scalar loop, exact nearest colours, the error budget."""
import os

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import checks  # noqa: E402
from gif_pipeline.quant import dithering, palettes
from gif_pipeline.quant import error_diffusion as ed

PLAIN = {"attenuation": 1.0, "limit": False, "dither_map": False}


@pytest.fixture(autouse=True, params=["kernel", "numpy"])
def scan(request, monkeypatch):
    """Every test runs on both scans: the C kernel (``_edkernel.c``) and the NumPy wavefronts."""
    monkeypatch.setattr(ed, "USE_KERNEL", request.param == "kernel")
    return request.param


def test_the_kernel_is_built(monkeypatch):
    """A checkout installed with ``pip install -e .`` (README's test command) builds the C kernel; without it the
    kernel half of this file would test the NumPy scan twice."""
    monkeypatch.setattr(ed, "USE_KERNEL", True)
    assert ed._kernel() is not None, "gif_pipeline/quant/_edkernel.c was not built: run pip install -e . with a C compiler"


def test_the_kernels_simd_versions_give_the_same_indices(monkeypatch):
    """The kernel's nearest-colour search in AVX, SSE and plain C (``GIFNETS_ED_KERNEL``) computes each score with the
    same float32 operations in the same order: the same indices, at 7 and 255 colours, with a background."""
    monkeypatch.setattr(ed, "USE_KERNEL", True)
    rgb = _photo()
    rng = np.random.default_rng(1)
    bg = rng.integers(0, 256, rgb.shape, dtype=np.uint8)
    bias = rng.choice(np.array([-np.inf, 30.0, np.inf], np.float32), size=rgb.shape[:2])
    for k in (7, 255):
        pal = rng.integers(0, 256, (k, 3), dtype=np.uint8)
        got = []
        for version in ("plain", "sse", ""):
            monkeypatch.setenv("GIFNETS_ED_KERNEL", version)
            got.append(ed.error_diffusion_batch(rgb[None], pal[None], **dithering.ED_SETTINGS, background=bg[None],
                                                bg_bias=bias[None]))
        np.testing.assert_array_equal(got[0], got[1])
        np.testing.assert_array_equal(got[0], got[2])


def test_kernel_and_numpy_agree_on_a_photo():
    """The two scans compute in float32 in different orders: on a photo with the shipped settings (dither map, error
    limits, strips, columns, a background candidate) they pick the same index almost everywhere."""
    rgb = _photo()
    pal = palettes.kmeans(rgb, 32, iterations=4).astype(np.uint8)
    rng = np.random.default_rng(0)
    bg = np.clip(rgb.astype(np.int16) + rng.integers(-6, 7, rgb.shape), 0, 255).astype(np.uint8)
    bias = rng.choice(np.array([-np.inf, 20.0, np.inf], np.float32), size=rgb.shape[:2])
    for extra in ({}, {"columns": True}, {"background": bg[None], "bg_bias": bias[None]}):
        got = {}
        for use in (True, False):
            ed.USE_KERNEL = use
            got[use] = ed.error_diffusion_batch(rgb[None], pal[None], **dithering.ED_SETTINGS, **extra)[0]
        assert np.mean(got[True] == got[False]) > 0.995, extra


def _photo():
    return np.asarray(Image.open(os.path.join(checks.FIXTURES, "hopper_64.png")).convert("RGB"))


@pytest.mark.parametrize("shape,k", [((13, 17), 8), ((1, 9), 3), ((9, 1), 3), ((2, 2), 2), ((20, 6), 64)])
def test_wavefront_equals_the_raster_scan(shape, k):
    rng = np.random.default_rng(k)
    rgb = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    got = ed.error_diffusion(rgb, palette, **PLAIN, strip_rows=1000)
    np.testing.assert_array_equal(got, ed.floyd_steinberg_reference(rgb, palette))


@pytest.mark.parametrize("shape,k", [((13, 17), 8), ((1, 9), 3), ((9, 1), 3), ((6, 20), 17)])
def test_columns_is_the_raster_scan_of_the_transposed_image(shape, k):
    """``columns=True`` (the animation encoder's scan of wide frames) is Floyd-Steinberg down the columns."""
    rng = np.random.default_rng(k + 100)
    rgb = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
    got = ed.error_diffusion(rgb, palette, **PLAIN, strip_rows=1000, columns=True)
    assert got.shape == shape and got.flags.c_contiguous
    want = ed.floyd_steinberg_reference(np.ascontiguousarray(rgb.transpose(1, 0, 2)), palette).T
    np.testing.assert_array_equal(got, want)
    if min(shape) > 1:
        assert not np.array_equal(got, ed.floyd_steinberg_reference(rgb, palette))


def test_columns_with_strips_and_the_full_settings_dither_the_same_picture_as_rows():
    rgb = _photo()[:, :56]
    palette = palettes.median_cut(rgb, 16)
    rows = ed.error_diffusion(rgb, palette, **dithering.ED_SETTINGS)
    cols = ed.error_diffusion(rgb, palette, **dithering.ED_SETTINGS, columns=True)
    assert 0.02 < np.mean(rows != cols)  # another scan order
    blur = [ndimage.uniform_filter(palette[i].astype(np.float64), (7, 7, 1)) for i in (rows, cols)]
    assert np.abs(blur[0] - blur[1])[4:-4, 4:-4].mean() < 3.0
    images = np.stack([rgb, rgb[::-1]])
    pals = np.stack([palette, palettes.median_cut(rgb[::-1], 16)])
    got = ed.error_diffusion_batch(images, pals, **dithering.ED_SETTINGS, columns=True)
    for im, pal, indices in zip(images, pals, got):
        np.testing.assert_array_equal(indices, ed.error_diffusion(im, pal, **dithering.ED_SETTINGS, columns=True))


@pytest.mark.parametrize("k", [15, 16, 17, 127])
def test_padded_score_columns_never_win(k):
    """The scores are padded to a multiple of _ALIGN columns: still the exact nearest colour of the K."""
    rgb = _photo()
    palette = palettes.median_cut(rgb, k)
    got = ed.error_diffusion(rgb, palette, attenuation=0.0, limit=False, dither_map=False)
    assert got.max() < len(palette)
    np.testing.assert_array_equal(got, dithering.nearest(rgb, palette))


def test_strips_differ_from_the_raster_scan_only_after_their_first_strip():
    rgb = _photo()[:40]
    palette = palettes.median_cut(rgb, 16)
    whole = ed.floyd_steinberg_reference(rgb, palette)
    strips = ed.error_diffusion(rgb, palette, **PLAIN, strip_rows=16, warm_up=2)
    np.testing.assert_array_equal(strips[:16], whole[:16])
    assert 0.02 < np.mean(strips[16:] != whole[16:])  # the later strips restart their error state
    # ... but they still dither the same picture: local means match the raster scan's
    blur = [ndimage.uniform_filter(palette[i].astype(np.float64), (7, 7, 1)) for i in (strips, whole)]
    assert np.abs(blur[0] - blur[1])[4:-4, 4:-4].mean() < 3.0


def test_without_error_it_is_the_exact_nearest_colour():
    rgb = _photo()
    palette = palettes.median_cut(rgb, 32)
    np.testing.assert_array_equal(ed.error_diffusion(rgb, palette, attenuation=0.0, limit=False, dither_map=False),
                                  dithering.nearest(rgb, palette))
    # with channel weights: the nearest colour under the weighted distance (brute force)
    w = np.array([0.5, 1.0, 0.45])
    d = (((rgb[:, :, None].astype(np.float64) - palette[None, None]) ** 2) * w).sum(-1)
    got = ed.error_diffusion(rgb, palette, attenuation=0.0, limit=False, dither_map=False, channel_weights=w)
    chosen = np.take_along_axis(d, got[..., None].astype(np.int64), -1)[..., 0]
    np.testing.assert_allclose(chosen, d.min(-1), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("settings", [PLAIN, dithering.ED_SETTINGS])
def test_flat_colours_of_the_palette_stay_exact(settings):
    palette = np.array([[0, 0, 0], [200, 40, 10], [30, 90, 250], [255, 255, 255]], np.uint8)
    rgb = np.repeat(np.repeat(palette[np.array([[0, 1], [2, 3]])], 12, axis=0), 12, axis=1)  # four flat 12x12 blocks
    np.testing.assert_array_equal(palette[ed.error_diffusion(rgb, palette, **settings)], rgb)


@pytest.mark.parametrize("grey", [37, 128, 201])
def test_the_error_is_conserved_on_a_flat_grey(grey):
    # Black and white only: plain Floyd-Steinberg passes every pixel's whole error on, so the output's mean is
    # the input's but for the error that leaves the image at its right and bottom edges (at most ~a pixel's worth
    # per edge pixel: under 255 * (H + W) / (H * W) in the mean).
    palette = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    rgb = np.full((48, 48, 3), grey, np.uint8)
    for settings, tol in ((PLAIN, 255 * 96 / 48 ** 2), (dithering.ED_SETTINGS, 255 * 96 / 48 ** 2 + 0.07 * 255)):
        out = palette[ed.error_diffusion(rgb, palette, **settings)].astype(np.float64)
        assert abs(out.mean() - grey) < tol, (settings, out.mean())
        assert 0.1 < (out[..., 0] == 255).mean() < 0.9  # it dithers: both colours are used


def test_deterministic_and_independent_of_earlier_calls():
    rgb = _photo()
    palette = palettes.median_cut(rgb, 16)
    first = dithering.remap(rgb, palette, "ed")
    dithering.remap(rgb[::-1].copy(), palettes.median_cut(rgb, 200), "ed")
    np.testing.assert_array_equal(dithering.remap(rgb, palette, "ed"), first)


def test_contrast_map_is_one_in_flat_areas_and_low_on_edges_and_noise():
    flat = np.full((32, 32, 3), 90, np.uint8)
    np.testing.assert_allclose(ed.contrast_map(flat), 1.0, atol=1e-6)
    step = flat.copy()
    step[:, 16:] = 220
    m = ed.contrast_map(step)
    assert m[:, 15:17].max() < 0.5 and m[:, :8].min() > 0.99
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert ed.contrast_map(noise)[4:-4, 4:-4].max() < 0.5


def test_run_flatness():
    flat = ed.run_flatness(np.zeros((8, 8), np.uint8))  # runs of 8; 2 matching neighbours a pixel, 1 in the edge rows
    np.testing.assert_allclose(flat[1:-1], 1 - 20 / (20 + 80 + 15 * 16), rtol=1e-6)
    np.testing.assert_allclose(flat[[0, -1]], 1 - 20 / (20 + 80 + 15 * 8), rtol=1e-6)
    checker = (np.indices((8, 8)).sum(0) % 2).astype(np.uint8)
    np.testing.assert_allclose(ed.run_flatness(checker), 1 - 20 / 30, rtol=1e-6)  # every pixel a run of its own


def test_a_batch_gives_each_image_its_own_result():
    rgb = _photo()
    images = np.stack([rgb, rgb[::-1], rgb[:, ::-1]])
    pals = np.stack([palettes.median_cut(im, 16) for im in images])
    got = ed.error_diffusion_batch(images, pals, **dithering.ED_SETTINGS)
    assert got.shape == (3, 64, 64) and got.dtype == np.uint8
    for im, pal, indices in zip(images, pals, got):
        np.testing.assert_array_equal(indices, ed.error_diffusion(im, pal, **dithering.ED_SETTINGS))


@pytest.mark.parametrize("columns", [False, True])
def test_background_candidate_equals_the_raster_scan(columns):
    """The canvas colour as one more candidate per pixel (index K), preferred by a per-pixel bias, forced (+inf) or
    ruled out (-inf): the wavefront gives the scalar loop's indices, rows or columns."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (2, 11, 15, 3), dtype=np.uint8)
    pals = rng.integers(0, 256, (2, 7, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, rgb.shape, dtype=np.uint8)
    bias = rng.choice(np.array([-np.inf, 0.0, 300.0, 2000.0, np.inf], np.float32), size=rgb.shape[:3])
    got = ed.error_diffusion_batch(rgb, pals, **PLAIN, strip_rows=1000, columns=columns, background=bg, bg_bias=bias)
    for i in range(2):
        t = (lambda a: a.swapaxes(0, 1)) if columns else (lambda a: a)
        want = t(ed.floyd_steinberg_reference(t(rgb[i]), pals[i], t(bg[i]), t(bias[i])))
        np.testing.assert_array_equal(got[i], want)
    assert np.all(got[bias == np.inf] == 7)
    assert 0 < np.mean(got == 7) < 1
    # ruled out everywhere: the plain dither
    none = ed.error_diffusion_batch(rgb, pals, **PLAIN, strip_rows=1000, columns=columns, background=bg,
                                    bg_bias=np.full(rgb.shape[:3], -np.inf, np.float32))
    np.testing.assert_array_equal(none, ed.error_diffusion_batch(rgb, pals, **PLAIN, strip_rows=1000, columns=columns))


def test_a_metric_matrix_equals_the_raster_scan_with_it():
    """A full colour metric (the luma-weighted one animations use): the scan, with a background candidate, gives the
    scalar loop's indices under that metric, and they are not the plain RGB ones."""
    rng = np.random.default_rng(8)
    rgb = rng.integers(0, 256, (2, 12, 14, 3), dtype=np.uint8)
    pals = rng.integers(0, 256, (2, 9, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, rgb.shape, dtype=np.uint8)
    bias = rng.choice(np.array([-np.inf, 0.0, 500.0, np.inf], np.float32), size=rgb.shape[:3])
    q = ed.luma_metric(0.2, dithering.ED_LUMA_SCALE)
    got = ed.error_diffusion_batch(rgb, pals, **PLAIN, strip_rows=1000, channel_weights=q, background=bg, bg_bias=bias)
    for i in range(2):
        np.testing.assert_array_equal(
            got[i], ed.floyd_steinberg_reference(rgb[i], pals[i], bg[i], bias[i], channel_weights=q))
    plain = ed.error_diffusion_batch(rgb, pals, **PLAIN, strip_rows=1000, background=bg, bg_bias=bias)
    assert np.mean(got != plain) > 0.05


def test_channel_weights_and_their_diagonal_matrix_give_the_same_indices():
    rgb = _photo()
    pal = palettes.kmeans(rgb, 24, iterations=3).astype(np.uint8)
    rng = np.random.default_rng(2)
    bg = np.clip(rgb.astype(np.int16) + rng.integers(-9, 10, rgb.shape), 0, 255).astype(np.uint8)
    bias = rng.choice(np.array([-np.inf, 25.0, np.inf], np.float32), size=rgb.shape[:2])
    weights = (0.5, 1.0, 0.45)
    settings = {k: v for k, v in dithering.ED_SETTINGS.items() if k != "channel_weights"}
    a = ed.error_diffusion_batch(rgb[None], pal[None], **settings, channel_weights=weights, background=bg[None],
                                 bg_bias=bias[None])
    b = ed.error_diffusion_batch(rgb[None], pal[None], **settings, channel_weights=np.diag(weights),
                                 background=bg[None], bg_bias=bias[None])
    np.testing.assert_array_equal(a, b)


def test_the_luma_metric_keeps_luma_closer_and_moves_the_error_into_chroma():
    """On a photo with 16 colours, dY^2 + 0.25 (dCb^2 + dCr^2) against plain RGB: less luma error, more chroma error
    (the trade animations make for VMAF, which reads luma only)."""
    rgb = _photo()
    pal = palettes.kmeans(rgb, 16, iterations=4).astype(np.uint8)
    settings = {**dithering.ED_SETTINGS, "dither_map": False}
    err = {}
    for name, q in (("rgb", None), ("luma", ed.luma_metric(0.25))):
        out = pal[ed.error_diffusion(rgb, pal, **{**settings, "channel_weights": q})].astype(np.float64)
        e = (out - rgb) @ ed.YCBCR.T
        err[name] = np.mean(e[..., 0] ** 2), np.mean(e[..., 1:] ** 2)
    assert err["luma"][0] < 0.8 * err["rgb"][0]
    assert err["luma"][1] > err["rgb"][1]


@pytest.mark.parametrize("bad", [(1.0, 2.0), np.ones((3, 4)), np.array([[1, 2, 0], [0, 1, 0], [0, 0, 1]]),
                                 -np.eye(3)])
def test_a_bad_metric_is_refused(bad):
    with pytest.raises(ValueError, match="channel_weights"):
        ed.color_metric(bad)


def test_still_images_measure_luma_up_to_64_colours_and_rgb_weights_above():
    """``remap(..., "ed")`` takes :func:`dithering.ed_settings` of its palette's size: the luma-weighted distance up to
    ED_LUMA_MAX_COLORS colours, the R : G : B weights above (where the luma metric's extra bytes would pass
    libimagequant's); the two give different indices on a photo."""
    rgb = _photo()
    for k in (32, 128):
        pal = palettes.kmeans(rgb, k, iterations=2).astype(np.uint8)
        luma = ed.error_diffusion(rgb, pal, **dithering.ED_SETTINGS)
        weights = ed.error_diffusion(rgb, pal, **{**dithering.ED_SETTINGS,
                                                  "channel_weights": dithering.ED_RGB_WEIGHTS})
        assert np.mean(luma != weights) > 0.02
        want = luma if len(pal) <= dithering.ED_LUMA_MAX_COLORS else weights
        np.testing.assert_array_equal(dithering.remap(rgb, pal, "ed"), want)
