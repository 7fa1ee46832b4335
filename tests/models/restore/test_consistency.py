"""The restore post-step: quantization-cell projection and the palette-spacing limit (numpy, no TensorFlow)."""
import numpy as np
import pytest

from gif_pipeline.models.restore import consistency


def _nearest(points, palette):
    d = ((points[..., None, :].astype(np.float64) - palette.astype(np.float64)) ** 2).sum(-1)
    return d.argmin(-1)


@pytest.mark.parametrize("colors", [4, 32, 256])
def test_projection_lands_in_the_cell_and_never_moves_away_from_the_original(colors):
    rng = np.random.default_rng(colors)
    palette = rng.integers(0, 256, (colors, 3)).astype(np.uint8)
    palette = np.unique(palette, axis=0)
    original = rng.uniform(0, 255, (40, 50, 3))
    gif = palette[_nearest(original, palette)]  # a plain GIF: nearest colour
    restored = np.clip(original + rng.normal(0, 40, original.shape), 0, 255)
    projected = consistency.project_to_cells(restored, gif, palette, iterations=50)
    assert projected.shape == restored.shape
    before = np.linalg.norm(restored - original, axis=2)
    after = np.linalg.norm(projected - original, axis=2)
    assert np.all(after <= before + 1e-3)
    assert after.mean() < before.mean()  # the noise crossed cell borders: projecting helped
    # every pixel ends in (or within float tolerance of) its GIF colour's cell
    index = consistency.palette_indices(gif, palette)
    own = ((projected - palette[index].astype(np.float64)) ** 2).sum(-1)
    best = ((projected[..., None, :] - palette.astype(np.float64)) ** 2).sum(-1).min(-1)
    assert np.all(own <= best + 1e-2 * (1 + np.sqrt(best)))
    # a restoration already in its cells is left alone
    assert np.allclose(consistency.project_to_cells(gif.astype(np.float32), gif, palette), gif)


def test_limit_change_bounds_each_pixel_by_the_palette_spacing():
    palette = np.array([[0, 0, 0], [10, 0, 0], [200, 200, 200]], np.uint8)
    gif = np.array([[[0, 0, 0], [200, 200, 200], [10, 0, 0]]], np.uint8)
    restored = gif.astype(np.float32) + np.array([[[30, 40, 0], [3, 4, 0], [0, 0, 2]]], np.float32)
    out = consistency.limit_change(restored, gif, palette, scale=0.5)
    change = np.linalg.norm(out - gif, axis=2)[0]
    # black and red are 10 apart: at most 5 levels; the grey's nearest other colour is ~270 away: 5 is kept
    assert change[0] == pytest.approx(5.0, abs=1e-4) and np.allclose(out[0, 0], [3, 4, 0], atol=1e-4)
    assert np.allclose(out[0, 1], restored[0, 1]) and np.allclose(out[0, 2], restored[0, 2])


def test_palette_indices_exact_and_nearest_for_colours_outside_the_palette():
    palette = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0]], np.uint8)
    image = np.array([[[255, 0, 0], [0, 0, 0], [250, 250, 250]]], np.uint8)
    assert consistency.palette_indices(image, palette).tolist() == [[2, 0, 1]]


def test_make_consistent_uses_each_models_setting():
    rng = np.random.default_rng(0)
    palette = np.unique(rng.integers(0, 256, (16, 3)).astype(np.uint8), axis=0)
    original = rng.uniform(0, 255, (16, 16, 3))
    gif = palette[_nearest(original, palette)]
    restored = original + rng.normal(0, 30, original.shape)
    for which in ("plain", "dithered"):
        out = consistency.make_consistent(restored, gif, palette, which)
        limit = consistency.SETTINGS[which]["limit"]
        spacing = consistency.nearest_other_distance(palette)[consistency.palette_indices(gif, palette)]
        assert np.all(np.linalg.norm(out - gif, axis=2) <= limit * spacing + 1e-3)
        assert np.linalg.norm(out - original) < np.linalg.norm(restored - original)
