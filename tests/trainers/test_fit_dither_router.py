"""trainers/fit_dither_router on a tiny GIF cache: it separates plain from dithered, is deterministic, and ships."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

import checks


def _cache(path, seed):
    """A cache as trainers/make_router_gifs writes it: smooth gradients (random colours and directions), quantized by
    Pillow without dither and with Floyd-Steinberg, at 4-16 colours (bands several pixels wide)."""
    rng = np.random.default_rng(seed)
    gifs, dithered, colors = [], [], []
    y, x = np.mgrid[0:48, 0:48] / 47.0
    for i in range(16):
        a = rng.uniform(10, 80, 3)
        b = a + rng.uniform(60, 170, 3)
        t = np.clip(x * rng.uniform(0.3, 1) + y * rng.uniform(0, 0.7), 0, 1)[..., None]
        rgb = np.clip(a + (b - a) * t, 0, 255).astype(np.uint8)
        n = int(rng.choice([4, 8, 12, 16]))
        plain = Image.fromarray(rgb).quantize(n, dither=Image.Dither.NONE)
        if i % 2:
            plain = Image.fromarray(rgb).quantize(palette=plain, dither=Image.Dither.FLOYDSTEINBERG)
        gifs.append(np.asarray(plain.convert("RGB")))
        dithered.append(i % 2)
        colors.append(n)
    np.savez(path, gifs=np.stack(gifs), encoder=np.array(["pillow"] * 16), colors=np.array(colors),
             dithered=np.array(dithered))
    return str(path)


def _fit(tmp_path, out, *extra, env=None):
    cmd = [sys.executable, os.path.join(checks.ROOT, "trainers", "fit_dither_router"),
           f"--train_gifs={tmp_path / 'train.npz'}", f"--val_gifs={tmp_path / 'val.npz'}", "--hidden=4", "--steps=300",
           "--l2=0.01", "--features=alternation,spike_per_change,win3_per_active",
           f"--out={out}", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": checks.ROOT, **(env or {})})
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_fit_separates_is_deterministic_and_ships(tmp_path):
    from gif_pipeline.models.restore import router
    from gif_pipeline.weights import registry

    _cache(tmp_path / "train.npz", 1)
    _cache(tmp_path / "val.npz", 2)
    out = _fit(tmp_path, tmp_path / "a.json")
    assert "train: accuracy 1.0000" in out and "val (held-out photos of the train folder): accuracy 1.0000" in out, out
    _fit(tmp_path, tmp_path / "b.json")
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["layers"] == b["layers"] and a["mean"] == b["mean"]  # same caches and flags, same file
    val = np.load(tmp_path / "val.npz")
    net = router.read(str(tmp_path / "a.json"))
    assert [net.probability(g) >= 0.5 for g in val["gifs"]] == [bool(d) for d in val["dithered"]]
    # --ship: the file, its card and its registry entry in the weights folder
    weights = tmp_path / "weights"
    weights.mkdir()
    _fit(tmp_path, tmp_path / "c.json", "--model=logistic", "--ship", env={"GIFNETS_WEIGHTS": str(weights)})
    entry = json.loads((weights / "registry.json").read_text())["entries"][0]
    assert entry["kind"] == "dither_router" and entry["sha256"] == registry.sha256(str(weights / "dither_router.json"))
    assert "logistic regression" in (weights / "dither_router.md").read_text()


def test_merged_mlps_give_the_mean_logit_of_their_members():
    from trainers.fit_dither_router import fit_mlp, merge_mlps

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    members = [fit_mlp(x, y, 3, 1e-3, 50, 0.01, seed) for seed in (1, 2, 3)]

    def logit(layers):
        (w1, b1), (w2, b2) = layers
        return (np.tanh(x @ w1 + b1) @ w2 + b2)[:, 0]

    merged = merge_mlps(members)
    assert merged[0][0].shape == (5, 9) and merged[1][0].shape == (9, 1)
    np.testing.assert_allclose(logit(merged), np.mean([logit(m) for m in members], axis=0), rtol=0, atol=1e-12)
    assert not np.allclose(logit(members[0]), logit(members[1]))  # the seeds differ, so the mean is not one of them
    one = merge_mlps(members[:1])
    np.testing.assert_array_equal(logit(one), logit(members[0]))


def test_extra_mix_grain_has_the_asked_std_and_kind():
    from trainers.make_router_gifs import _grain

    flat = np.full((128, 128, 3), 128, np.uint8)
    stds, chroma_only = [], []
    for seed in range(12):
        out = _grain(np.random.default_rng(seed), flat, 6.0).astype(float) - 128
        stds.append(out.std())
        chroma_only.append(np.abs(out.mean(axis=2)).max() < 1.0)  # chroma grain: the channels' noise sums to ~0
        again = _grain(np.random.default_rng(seed), flat, 6.0).astype(float) - 128
        np.testing.assert_array_equal(out, again)  # a function of the generator's state
    assert all(5.5 < s < 6.5 for s in stds), stds
    assert any(chroma_only) and not all(chroma_only)
