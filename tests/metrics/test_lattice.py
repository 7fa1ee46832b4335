"""The lattice score (gif_pipeline/metrics/lattice.py): a periodic dot pattern scores high, broadband noise and
Floyd-Steinberg score low, and it agrees with the project's shared tool where that is present."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import checks
from gif_pipeline.metrics import lattice
from gif_pipeline.quant import dithering


def _flat(h=128, w=128, level=120):
    return np.full((h, w, 3), level, np.uint8)


def test_a_4_pixel_dot_lattice_scores_high_and_white_noise_about_one():
    ref = _flat()
    dots = ref.copy()
    dots[::4, ::4] += 40  # a regular dot every 4 pixels: power at multiples of N/4
    assert lattice.lattice_score(lattice.error_spectrum(ref, dots)) > 50
    rng = np.random.default_rng(0)
    acc = lattice.LatticeAccumulator()
    for _ in range(16):
        noisy = np.clip(ref.astype(int) + rng.integers(-20, 21, ref.shape), 0, 255).astype(np.uint8)
        acc.add("noise", ref, noisy)
    assert acc.score("noise") < 6


def test_floyd_steinberg_on_photos_is_broadband():
    acc = lattice.LatticeAccumulator()
    for path in sorted(glob.glob(os.path.join(checks.FIXTURES, "*.png"))):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        palette = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128],
                            [255, 255, 0], [0, 255, 255]], np.uint8)
        acc.add("fs", rgb, palette[dithering.remap(rgb, palette, "fs")])
    assert 0 < acc.score("fs") < 10
    assert np.isnan(acc.score("missing"))


def test_scores_the_most_common_image_size_and_draws_a_spectrum():
    ref = _flat(64, 96)
    dots = ref.copy()
    dots[::8, ::8] += 60
    acc = lattice.LatticeAccumulator()
    acc.add("m", ref, dots)
    acc.add("m", ref, dots)
    acc.add("m", _flat(32, 32), _flat(32, 32, 121))  # one image of another size: outvoted
    assert acc.score("m") > 50
    picture = lattice.spectrum_image(lattice.error_spectrum(ref, dots))
    assert picture.shape == (64, 96) and picture.dtype == np.uint8 and picture.max() == 255
    with pytest.raises(ValueError, match="shape"):
        lattice.error_spectrum(ref, _flat())


def test_agrees_with_the_shared_tool(tmp_path):
    tool = os.path.join(checks.ROOT, "..", "shared", "tools", "lattice.py")
    if not os.path.isfile(tool):
        pytest.skip("shared/tools/lattice.py is not beside the project")
    orig, out = tmp_path / "orig", tmp_path / "out"
    orig.mkdir()
    out.mkdir()
    acc = lattice.LatticeAccumulator()
    rng = np.random.default_rng(1)
    for i, name in enumerate(("hopper", "hubble", "retina")):
        rgb = np.asarray(Image.open(os.path.join(checks.FIXTURES, f"{name}_64.png")).convert("RGB"))
        dist = rgb.astype(int) + rng.integers(-6, 7, rgb.shape)
        dist[i::4, ::4] += 12
        dist = np.clip(dist, 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(orig / f"{name}.png")
        Image.fromarray(dist).save(out / f"{name}.png")
        acc.add("x", rgb, dist)
    r = subprocess.run([sys.executable, tool, str(orig), str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    shared = float(r.stdout.split("max ")[1].split(",")[0])
    assert abs(acc.score("x") - shared) <= 0.05 + 0.001 * shared
