"""The dither router: its features on synthetic GIFs, its model, and the shipped file through the registry."""
import json
import os

import numpy as np
import pytest

from gif_pipeline.models.restore import router


def _smooth(size=96):
    """A smooth two-way colour gradient (no texture: every spike of its GIF comes from dither)."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    return np.clip(np.stack([40 + 170 * x, 60 + 120 * y, 200 - 120 * x * y], axis=-1), 0, 255).astype(np.uint8)


def _gifs(rgb, colors=16):
    """The GIF of ``rgb`` without dither and with Floyd-Steinberg on the same median-cut palette (Pillow)."""
    from PIL import Image

    plain = Image.fromarray(rgb).quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    fs = Image.fromarray(rgb).quantize(palette=plain, dither=Image.Dither.FLOYDSTEINBERG)
    return np.asarray(plain.convert("RGB")), np.asarray(fs.convert("RGB"))


def test_features_separate_a_smooth_image_quantized_without_and_with_floyd_steinberg():
    plain, fs = _gifs(_smooth())
    f = dict(zip(router.FEATURE_NAMES, router.features(plain)))
    g = dict(zip(router.FEATURE_NAMES, router.features(fs)))
    assert len(router.features(plain)) == len(router.FEATURE_NAMES)
    # Nearest-colour mapping of a smooth image: flat bands and contour lines, no isolated pixels.
    assert f["spike"] < 0.01 and f["dot"] < 0.005 and f["checker"] < 0.005 and f["spike_per_change"] < 0.1
    # Floyd-Steinberg mixes colours: many more changes, spikes, 3-colour windows.
    assert g["change"] > 4 * f["change"] and g["spike"] > 0.05 and g["spike_per_change"] > 3 * f["spike_per_change"]
    assert g["win3"] > f["win3"] and g["pairs_per_color"] >= f["pairs_per_color"]
    assert f["log2_colors"] == pytest.approx(4.0) and g["log2_colors"] == pytest.approx(4.0)
    # Neighbour changes against those of independently placed pixels: contours < 1 < error diffusion; the same
    # image with grain added before quantizing (noise, not dither) sits near 1.
    rgb = _smooth()
    grainy, _ = _gifs(np.clip(rgb + np.random.default_rng(0).normal(0, 8, rgb.shape), 0, 255).astype(np.uint8))
    n = dict(zip(router.FEATURE_NAMES, router.features(grainy)))
    assert f["alternation"] < 0.6 and g["alternation"] > 1.15 and 0.85 < n["alternation"] < 1.1
    assert n["spike"] > 0.05  # grain makes spikes too: the reason for the alternation ratio
    # a photo with thousands of colours (restore takes PNG and JPEG too) is reduced to <= 256 colours first
    photo = np.clip(_smooth(128) + np.random.default_rng(1).normal(0, 20, (128, 128, 3)), 0, 255).astype(np.uint8)
    assert len(np.unique(photo.reshape(-1, 3), axis=0)) > 10000
    p = dict(zip(router.FEATURE_NAMES, router.features(photo)))
    assert np.isfinite(list(p.values())).all() and 4 < p["log2_colors"] <= 8
    # tiny frames: zeros, not an error
    assert not router.features(plain[:3, :3]).any()


def _logistic(weights, bias, names=("spike_per_change",)):
    return {"format": router.FORMAT, "kind": "dither_router", "features": list(names), "mean": [0.0] * len(names),
            "scale": [1.0] * len(names), "layers": [{"w": [[w] for w in weights], "b": [bias]}], "threshold": 0.5}


def test_router_model_is_the_stored_layers_and_rejects_bad_files():
    plain, fs = _gifs(_smooth())
    net = router.Router(_logistic([20.0], -3.0))
    s = dict(zip(router.FEATURE_NAMES, router.features(fs)))["spike_per_change"]
    assert net.probability(fs) == pytest.approx(1 / (1 + np.exp(-(20 * s - 3))))
    assert net.probability(plain) < 0.5 < net.probability(fs)
    mlp = dict(_logistic([1.0], 0.0), layers=[{"w": [[2.0, -1.0]], "b": [0.0, 0.5]}, {"w": [[1.0], [3.0]], "b": [-0.2]}])
    x = np.zeros((1, len(router.FEATURE_NAMES)))
    x[0, router.FEATURE_NAMES.index("spike_per_change")] = 0.3
    assert router.Router(mlp).logit(x)[0] == pytest.approx(np.tanh(0.6) + 3 * np.tanh(-0.3 + 0.5) - 0.2)
    with pytest.raises(ValueError, match="does not compute"):
        router.Router(_logistic([1.0], 0.0, names=("no_such_feature",)))
    with pytest.raises(ValueError, match="not a dither router"):
        router.Router({"format": 99})


def test_shipped_router_loads_from_the_registry_and_routes_small_gifs(monkeypatch):
    from gif_pipeline import restore
    from gif_pipeline.weights import registry

    monkeypatch.delenv("GIFNETS_WEIGHTS", raising=False)
    router.load.cache_clear()
    entry = [e for e in registry.entries("dither_router")]
    assert len(entry) == 1 and entry[0].sha256 and entry[0].card == "dither_router.md"
    path = registry.find_model("dither_router", search_runs=False)
    assert registry.sha256(path) == entry[0].sha256
    with open(path, encoding="utf-8") as f:
        assert json.load(f)["kind"] == "dither_router"
    assert restore.router_kind() == "router"
    from PIL import Image

    photo = np.asarray(Image.open(os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "hopper_64.png"))
                       .convert("RGB"))
    for rgb in (_smooth(128), np.asarray(Image.fromarray(photo).resize((128, 128), Image.LANCZOS))):
        plain, fs = _gifs(rgb, 32)
        assert restore.classify(plain) < 0.5 < restore.classify(fs)
