"""Tests of the banding teacher (gif_pipeline.metrics.banding) and the CAMBI/VMAF wrapper."""
import os

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import checks  # noqa: E402
from gif_pipeline.metrics import banding as bm

DATA = checks.FIXTURES
SIZE = 128


def smooth_gradient(kind: str, size: int = SIZE) -> np.ndarray:
    """A smooth two-colour gradient: horizontal, diagonal or radial."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    if kind == "horizontal":
        t = xx
    elif kind == "diagonal":
        t = (xx + yy) / 2
    else:
        t = np.clip(np.hypot(xx - 0.5, yy - 0.5) / np.sqrt(0.5), 0, 1)
    c0, c1 = np.array([30.0, 60.0, 140.0]), np.array([220.0, 200.0, 120.0])
    return np.round(c0 + t[..., None] * (c1 - c0)).astype(np.uint8)


def quantize(rgb: np.ndarray, n: int, dither: bool) -> np.ndarray:
    """Pillow median cut to ``n`` colours, remapped onto that palette with or without FS."""
    image = Image.fromarray(rgb)
    palette = image.quantize(n, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    mode = Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE
    return np.asarray(image.quantize(palette=palette, dither=mode).convert("RGB"))


KINDS = ("horizontal", "diagonal", "radial")


@pytest.fixture(scope="module")
def scores():
    """Teacher scores of every gradient at 8 and 32 colours, with and without FS."""
    out = {}
    for kind in KINDS:
        g = smooth_gradient(kind)
        for n in (8, 32):
            for fs in (False, True):
                out[kind, n, fs] = bm.banding_score(quantize(g, n, fs))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_eight_colour_gradient_scores_high(scores, kind):
    assert scores[kind, 8, False] > 0.6


@pytest.mark.parametrize("kind", KINDS)
def test_floyd_steinberg_scores_lower(scores, kind):
    assert scores[kind, 8, True] < 0.5 * scores[kind, 8, False]


@pytest.mark.parametrize("kind", KINDS)
def test_more_levels_score_lower(scores, kind):
    assert scores[kind, 32, False] < scores[kind, 8, False] - 0.05


def test_scores_are_floats_in_unit_interval(scores):
    for value in scores.values():
        assert isinstance(value, float) and 0.0 <= value <= 1.0


def test_smooth_unquantized_gradient_scores_near_zero():
    assert bm.banding_score(smooth_gradient("horizontal")) < 0.05


def test_photo_with_true_edges_scores_low(scores):
    photo = np.asarray(Image.open(os.path.join(DATA, "hopper_64.png")).convert("RGB")
                       .resize((256, 256), Image.Resampling.BICUBIC))
    s = bm.banding_score(photo)
    assert s < 0.25
    assert s < 0.3 * min(scores[kind, 8, False] for kind in KINDS)


def test_sharp_checkerboard_and_noise_score_zero():
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    board = ((yy // 16 + xx // 16) % 2 * 255).astype(np.uint8)
    assert bm.banding_score(np.stack([board] * 3, -1)) == 0.0
    noise = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    assert bm.banding_score(noise) == 0.0
    assert bm.banding_score(np.full((32, 32, 3), 128, np.uint8)) == 0.0


def test_deterministic():
    q = quantize(smooth_gradient("radial"), 8, True)
    a, b = bm.analyze_banding(q), bm.analyze_banding(q.copy())
    assert a.score == b.score
    np.testing.assert_array_equal(a.visibility, b.visibility)


def test_band_edges_follow_the_palette_steps():
    q = quantize(smooth_gradient("horizontal"), 8, False)
    luma = bm.luma_bt601(q)
    steps = np.nonzero(np.diff(luma[SIZE // 2]))[0]  # step between columns c and c + 1
    edges = bm.band_edges(q)
    cols = np.nonzero(edges.any(axis=0))[0]
    assert len(steps) == 7
    # Every step has a vertical edge at c or c + 1 spanning most of the height, and nothing else.
    for c in steps:
        assert edges[:, c:c + 2].any(axis=1).sum() > 0.8 * SIZE
    assert all(np.min(np.abs(steps[:, None] + 0.5 - cols[None, :]), axis=0) <= 1)


def test_banding_map_is_visibility_on_edges_only():
    q = quantize(smooth_gradient("diagonal"), 8, False)
    a = bm.analyze_banding(q)
    vis = bm.banding_map(q)
    assert vis.shape == q.shape[:2] and vis.dtype == np.float64
    assert (vis >= 0).all()
    assert not vis[~a.edges].any()
    assert (vis > 0).sum() > 0.9 * a.edges.sum()
    # Visibility is bounded by the gradient (all masks <= 1) times the edge-length weight.
    bound = a.gradient * np.sqrt(a.edge_length / SIZE)
    assert (vis <= bound + 1e-9).all()


def test_vertical_flip_gives_similar_score():
    # Diagonal edges of both orientations are thinned across the edge (the NMS orientation fix).
    q = quantize(smooth_gradient("diagonal"), 8, False)
    assert abs(bm.banding_score(q) - bm.banding_score(q[::-1].copy())) < 0.05


def test_raw_to_score_mapping():
    assert bm.raw_to_score(0.0) == 0.0
    assert bm.raw_to_score(bm.RAW_SCORE_SCALE) == pytest.approx(1 - np.exp(-1))
    assert 0.99 < bm.raw_to_score(100 * bm.RAW_SCORE_SCALE) <= 1.0
    assert bm.raw_to_score(1.0) < bm.raw_to_score(2.0)


def test_non_max_suppression_keeps_the_gradient_ridge():
    # A soft vertical edge whose gradient (slope[c] + slope[c + 1]) peaks at column 12 only,
    # inside a candidate band of columns 6..25 whose medial axis (what thinning alone would
    # keep) is elsewhere.
    slope = np.ones(32)
    slope[10:15] = [1.5, 2, 6, 5, 2]
    y = np.tile(np.cumsum(slope), (24, 1))
    gx, gy = bm._sobel(y)
    grad = np.hypot(gx, gy)
    mask = np.zeros(y.shape, bool)
    mask[:, 6:26] = True
    kept = bm._non_max_suppression(grad, gx, gy, mask)
    assert set(np.nonzero(kept.any(axis=0))[0]) == {12}
    assert kept[:, 12].sum() >= 24 - 4  # all rows but NMS's 2-px border


def test_thinning_matches_skimage():
    from skimage.morphology import thin

    rng = np.random.default_rng(1)
    for i in range(20):
        bw = rng.random((30, 40)) < rng.uniform(0.2, 0.8)
        if i % 2:
            bw = ndimage.binary_closing(bw)
        np.testing.assert_array_equal(bm._thin(bw), thin(bw))


@pytest.mark.parametrize("bad", [
    np.zeros((32, 32, 3), np.float32),
    np.zeros((32, 32), np.uint8),
    np.zeros((32, 32, 4), np.uint8),
    np.zeros((4, 32, 3), np.uint8),
])
def test_bad_input_raises(bad):
    with pytest.raises(ValueError):
        bm.banding_score(bad)


# ------------------------------------------------------------------------------------------
# CAMBI / VMAF through imageio-ffmpeg
# ------------------------------------------------------------------------------------------

def test_cambi_rejects_small_images_before_running_ffmpeg():
    from gif_pipeline.metrics import cambi

    with pytest.raises(cambi.VmafInputError, match="216"):
        cambi.cambi(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(cambi.VmafInputError, match="17"):
        cambi.vmaf(np.zeros((16, 64, 3), np.uint8), np.zeros((16, 64, 3), np.uint8))
    with pytest.raises(cambi.VmafInputError):
        cambi.vmaf(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 40, 3), np.uint8))
    with pytest.raises(ValueError):
        cambi.cambi(np.zeros((256, 256, 3), np.uint8), max_log_contrast=6)


def test_cambi_and_vmaf_on_a_banded_gradient():
    pytest.importorskip("imageio_ffmpeg")
    from gif_pipeline.metrics import cambi

    ref = smooth_gradient("radial", 256)
    banded = quantize(ref, 16, False)
    c_ref, c_banded = cambi.cambi(ref), cambi.cambi(banded)
    assert 0.0 <= c_ref < c_banded and c_banded > 5.0
    assert isinstance(cambi.cambi(banded, max_log_contrast=2), float)
    assert cambi.cambi(banded, bit_depth=10) >= 0.0
    with pytest.raises(ValueError):
        cambi.cambi(banded, bit_depth=12)
    v_same, v_banded = cambi.vmaf(ref, ref), cambi.vmaf(ref, banded)
    assert v_same > 90.0 and v_banded < v_same
    assert cambi.vmaf_and_cambi(ref, banded) == pytest.approx((v_banded, c_banded))
