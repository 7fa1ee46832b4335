"""Training pairs for GIF restoration (gif_pipeline/data/gif_pairs.py): determinism by seed, the methods, the cache."""
import numpy as np
import pytest

import checks
from gif_pipeline.data import gif_pairs


@pytest.fixture(scope="module")
def photos():
    import glob

    return gif_pairs.load_images(sorted(glob.glob(f"{checks.FIXTURES}/*_64.png")))


def test_pairs_are_a_function_of_seed_and_index(photos):
    config = gif_pairs.PairConfig(crop=16, region=48, crops_per_region=2, palettes=("median-cut", "octree"),
                                  dithers=("none", "fs", "bayer"), seed=3)
    a, b = gif_pairs.make_region(photos, 5, config), gif_pairs.make_region(photos, 5, config)
    for key in ("gif", "original", "palette"):
        np.testing.assert_array_equal(a[key], b[key])
    assert (a["colors"], a["dither"], a["palette_method"]) == (b["colors"], b["dither"], b["palette_method"])
    other = gif_pairs.make_region(photos, 5, config.replace(seed=4))
    assert not np.array_equal(a["original"], other["original"])
    assert a["gif"].shape == (2, 16, 16, 3) and a["palette"].shape == (256, 3)
    # every GIF pixel is a palette colour; the palette is padded with copies of entry 0
    colours = {tuple(c) for c in a["palette"][: a["colors"]]}
    assert {tuple(p) for p in a["gif"].reshape(-1, 3)} <= colours
    assert np.all(a["palette"][a["colors"]:] == a["palette"][0])
    assert a["dithered"] == int(a["dither"] != "none")


def test_palette_sizes_are_log_uniform_in_range(photos):
    config = gif_pairs.PairConfig(crop=8, region=32, crops_per_region=1, palettes=("octree",), min_colors=16,
                                  max_colors=256, seed=1)
    sizes = np.array([gif_pairs._log_uniform_int(np.random.default_rng([1, i]), 16, 256) for i in range(400)])
    assert sizes.min() >= 16 and sizes.max() <= 256
    # log-uniform: as many below 64 (= sqrt(16 * 256)) as above, within noise
    assert 0.4 < np.mean(sizes < 64) < 0.6
    assert gif_pairs.make_region(photos, 0, config)["colors"] <= 256


def test_bayer_and_methods(photos):
    rgb = photos[0]
    palette = np.array([[0, 0, 0], [255, 255, 255], [128, 128, 128]], np.uint8)
    idx = gif_pairs.bayer(np.full((16, 16, 3), 64, np.uint8), palette)
    assert set(np.unique(idx)) == {0, 2}  # a flat 64, half way from black to grey, is dithered, not flat
    for method in ("median-cut", "octree"):
        for dither in ("none", "fs", "bayer"):
            indices, pal = gif_pairs.quantize(rgb, 16, method, dither)
            assert indices.shape == rgb.shape[:2] and len(pal) <= 16 and indices.max() < len(pal)
    with pytest.raises(ValueError):
        gif_pairs.quantize(rgb, 16, "nope", "none")
    with pytest.raises(ValueError):
        gif_pairs.PairConfig(dithers=("sierra",))


def test_cache_round_trip_and_dataset(photos, tmp_path):
    import glob

    files = sorted(glob.glob(f"{checks.FIXTURES}/*_64.png"))
    config = gif_pairs.PairConfig(crop=16, region=32, crops_per_region=2, palettes=("median-cut",),
                                  dithers=("none", "fs"), seed=2)
    path = str(tmp_path / "c.npz")
    arrays = gif_pairs.build_cache(files, 4, config, path, log_every=0)
    loaded = gif_pairs.load_cache(path)
    assert set(loaded) == set(arrays) and len(loaded["gif"]) == 8
    np.testing.assert_array_equal(loaded["gif"], arrays["gif"])
    batches = [list(gif_pairs.cache_dataset(loaded, 4, seed=7).take(2)) for _ in range(2)]
    for (x1, y1), (x2, y2) in zip(*batches):  # the same seed gives the same batches
        np.testing.assert_array_equal(x1["gif"], x2["gif"])
        np.testing.assert_array_equal(y1, y2)
    x, y = batches[0][0]
    assert x["gif"].shape == (4, 16, 16, 3) and x["palette"].shape == (4, 256, 3) and y.shape == (4, 16, 16, 3)
    assert -1.0 <= float(np.min(x["gif"])) and float(np.max(y)) <= 1.0
    gif, label = next(iter(gif_pairs.cache_dataset(loaded, 8, seed=0, training=False, label="dithered")))
    np.testing.assert_array_equal(np.asarray(label)[:, 0], loaded["dithered"][:8])
