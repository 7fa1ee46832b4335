"""The lossy index search (gif_pipeline.quant.lossy): exact against brute force, and what its prices do."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from gif_pipeline.quant import lossy


def brute_force(src, palette, lam, old=None, still=None, mu=0.0):
    """The best row (one row) by trying every sequence of states, scored by :func:`lossy.row_cost`."""
    states = len(palette) + (old is not None)
    return min(lossy.row_cost(src, palette, np.array([seq]), lam, old=old, still=still, mu=mu)
               for seq in itertools.product(range(states), repeat=src.shape[1]))


@pytest.mark.parametrize("with_old", [False, True])
def test_the_search_is_exact_on_small_rows(with_old):
    rng = np.random.default_rng(1 + with_old)
    for trial in range(12):
        w, k = 6, 3
        src = rng.integers(0, 256, (1, w, 3), dtype=np.uint8)
        palette = rng.integers(0, 256, (k, 3), dtype=np.uint8)
        old = still = None
        if with_old:
            old = rng.integers(0, 256, (1, w, 3), dtype=np.uint8)
            old[0, ::2] = palette[rng.integers(0, k, (w + 1) // 2)]  # still pixels that show a palette colour
            still = rng.random((1, w)) < 0.6
        lam = float([0, 300, 3000, 30000][trial % 4])
        got = lossy.lossy_indices(src, palette, lam, old=old, still=still, mu=500.0, segments=1)
        assert got.dtype == np.uint8 and got.shape == (1, w)
        assert got.max() < k + with_old
        cost = lossy.row_cost(src, palette, got, lam, old=old, still=still, mu=500.0)
        best = brute_force(src, palette, lam, old=old, still=still, mu=500.0)
        assert cost == pytest.approx(best, rel=1e-5, abs=1e-2), (trial, cost, best)


def test_no_price_is_the_nearest_colour_and_a_high_one_is_one_run_per_piece():
    rng = np.random.default_rng(3)
    src = rng.integers(0, 256, (5, 64, 3), dtype=np.uint8)
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    d = ((src[:, :, None].astype(np.int64) - palette[None, None].astype(np.int64)) ** 2).sum(-1)
    got = lossy.lossy_indices(src, palette, 0.0)
    np.testing.assert_array_equal(d[np.arange(5)[:, None], np.arange(64), got], d.min(-1))
    one = lossy.lossy_indices(src, palette, 1e12, segments=4)
    for piece in np.split(one, 4, axis=1):
        assert (piece == piece[:, :1]).all()


def test_pieces_cost_at_most_one_price_per_cut():
    """Searching each of ``s`` pieces on its own loses at most ``lam`` per cut against the whole row."""
    rng = np.random.default_rng(4)
    x = np.linspace(0, 255, 100)
    src = np.clip(np.stack([x, 0.5 * x + 40, 255 - x], -1)[None] + rng.normal(0, 6, (6, 100, 3)), 0, 255)
    src = src.astype(np.uint8)
    palette = rng.integers(0, 256, (24, 3), dtype=np.uint8)
    lam = 2000.0
    whole = lossy.row_cost(src, palette, lossy.lossy_indices(src, palette, lam, segments=1), lam)
    for s in (2, 4, 6):
        cut = lossy.row_cost(src, palette, lossy.lossy_indices(src, palette, lam, segments=s), lam)
        assert whole <= cut + 1e-3 <= whole + lam * (s - 1) * 6 + 1e-3, (s, whole, cut)


def test_bands_of_rows_give_the_same_indices(monkeypatch):
    rng = np.random.default_rng(5)
    src = rng.integers(0, 256, (9, 40, 3), dtype=np.uint8)
    old = rng.integers(0, 256, (9, 40, 3), dtype=np.uint8)
    still = rng.random((9, 40)) < 0.5
    palette = rng.integers(0, 256, (20, 3), dtype=np.uint8)
    whole = lossy.lossy_indices(src, palette, 900.0, old=old, still=still, mu=300.0)
    monkeypatch.setattr(lossy, "HISTORY_BYTES", 4 * 21 * 40 * 2)  # two rows a band
    np.testing.assert_array_equal(lossy.lossy_indices(src, palette, 900.0, old=old, still=still, mu=300.0), whole)


def test_still_pixels_keep_what_they_show_unless_the_error_pays_for_a_change():
    """A still pixel whose source moved a little keeps its shown colour (transparent); one whose source is far from
    what it shows is rewritten; ``mu`` is the price between the two."""
    palette = np.array([[0, 0, 0], [100, 100, 100], [200, 200, 200]], np.uint8)
    old = np.full((1, 8, 3), 100, np.uint8)
    src = old.copy()
    src[0, :4] += 6  # 108 squared error: less than mu
    src[0, 4:] = 195  # far: worth a new colour
    still = np.ones((1, 8), bool)
    got = lossy.lossy_indices(src, palette, 50.0, old=old, still=still, mu=400.0, segments=1)
    assert set(got[0, :4].tolist()) <= {1, 3}  # the shown grey: transparent, or the palette's grey at no extra cost
    assert (got[0, 4:] == 2).all()
    moving = lossy.lossy_indices(src, palette, 50.0, old=old, still=None, mu=400.0, segments=1)
    assert (moving[0, 4:] == 2).all()


def test_too_many_states_and_empty_input():
    palette = np.zeros((256, 3), np.uint8)
    src = np.zeros((2, 3, 3), np.uint8)
    lossy.lossy_indices(src, palette, 10.0)  # 256 colours fit without a transparent index
    with pytest.raises(ValueError, match="256"):
        lossy.lossy_indices(src, palette, 10.0, old=src)
    assert lossy.lossy_indices(np.zeros((0, 4, 3), np.uint8), palette[:4], 1.0).shape == (0, 4)
