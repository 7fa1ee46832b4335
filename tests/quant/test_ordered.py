"""The blue-noise pattern dither (gif_pipeline.quant.ordered): a mask fixed to the canvas, mixes that keep the mean."""
from __future__ import annotations

import numpy as np

from gif_pipeline import encode
from gif_pipeline.quant import ordered


def test_mask_is_fixed_to_the_canvas():
    mask = ordered.threshold_mask()
    assert mask.shape == (ordered.MASK_SIZE, ordered.MASK_SIZE)
    assert 0 < mask.min() and mask.max() < 1
    assert np.unique(mask).size == mask.size  # a rank per pixel: every threshold level is used once
    from gif_pipeline.layers.blue_noise import void_and_cluster

    stored = ((void_and_cluster(64) + 0.5) / 4096).astype(np.float32)  # the stored ranks are the generator's
    np.testing.assert_array_equal(mask, stored)
    np.testing.assert_array_equal(ordered._levels((30, 40), (60, 90), 6),
                                  np.minimum((ordered.mask_at((30, 40), (60, 90)) * 6).astype(int), 5))
    canvas = ordered.mask_at((100, 150))
    np.testing.assert_array_equal(ordered.mask_at((30, 40), origin=(60, 90)), canvas[60:90, 90:130])
    np.testing.assert_array_equal(canvas[:36, :64], canvas[64:100, 64:128])  # period 64


def test_palette_colours_stay_and_flat_areas_mix_to_their_mean():
    palette = np.array([[0, 0, 0], [255, 255, 255], [200, 30, 30]], np.uint8)
    on_colour = np.broadcast_to(palette[2], (32, 32, 3)).copy()
    assert (ordered.pattern_dither(on_colour, palette) == 2).all()  # no error, no noise
    for level in (40, 96, 128, 200):
        grey = np.full((64, 64, 3), level, np.uint8)
        idx = ordered.pattern_dither(grey, palette[:2], multiplier=1.0)
        assert set(np.unique(idx)) == {0, 1}
        white = (idx == 1).mean()
        assert abs(white - level / 255) <= 1 / ordered.CANDIDATES, (level, white)
        # blue noise, not bands: every row and every column holds both colours
        assert (idx == 1).any(1).all() and (idx == 0).any(1).all() and (idx == 1).any(0).all()


def test_cached_tables_and_crops_match_the_whole_frame():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:80]
    rgb = np.clip(np.stack([x * 3, y * 5, (x + y) * 2], 2) + rng.integers(-4, 5, (48, 80, 3)), 0, 255).astype(np.uint8)
    palette = rng.integers(0, 256, (24, 3)).astype(np.uint8)
    whole = ordered.pattern_dither(rgb, palette)
    stage = ordered.PatternDither()
    for _ in range(3):  # first call without a table, then the table filled and reused
        np.testing.assert_array_equal(stage(rgb, palette), whole)
        np.testing.assert_array_equal(stage(np.ascontiguousarray(rgb[10:30, 17:61]), palette, origin=(10, 17)),
                                      whole[10:30, 17:61])
    # the still encoder's stage is the same dither
    np.testing.assert_array_equal(encode.DITHER_STAGES["ordered"](rgb, palette), whole)
    # and it dithers: 8x8 block means of the result are closer to the source's than nearest-colour mapping's
    nearest = encode.DITHER_STAGES["none"](rgb, palette)

    def block_error(idx):
        shown = palette[idx].astype(float).reshape(6, 8, 10, 8, 3).mean((1, 3))
        return np.mean((shown - rgb.astype(float).reshape(6, 8, 10, 8, 3).mean((1, 3))) ** 2)

    assert block_error(whole) < 0.8 * block_error(nearest)
