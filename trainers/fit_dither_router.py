"""Fit the dither router (:mod:`gif_pipeline.models.restore.router`) on whole GIFs of train photos.

Reads the GIF caches of ``trainers/make_router_gifs`` (``--train_gifs``; ``--val_gifs`` for the held-out check, GIFs
of the other photos of the 80/20 split), computes the router's features once per cache (kept beside it as
``<cache>.features.npz``), standardizes them, fits a logistic regression (Newton's method, L2) or a one-hidden-layer
tanh MLP (full-batch Adam, L2, seeded) in numpy, prints the accuracy per encoder / palette size / plain-dithered on
both sets, and writes the router's JSON (``--out``). Deterministic: the same caches and flags give the same file.

  trainers/fit_dither_router --preset=shipped
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def define_flags():
    """The flags (defined on demand: several trainers share one process in the tests, and absl refuses a flag
    defined twice)."""
    flags.DEFINE_string("preset", None, "A named fit (gif_pipeline/models/restore/presets.py TRAINING_PRESETS"
                        "['fit_dither_router']); flags given on the command line win.")
    flags.DEFINE_list("train_gifs", None, "GIF caches of trainers/make_router_gifs to fit on.")
    flags.DEFINE_list("val_gifs", None, "GIF caches to report accuracy on (not used for the fit).")
    flags.DEFINE_enum("model", "mlp", ["logistic", "mlp"], "The model on the standardized features.")
    flags.DEFINE_integer("hidden", 16, "MLP hidden units.")
    flags.DEFINE_float("l2", 1e-3, "L2 penalty on the weights (per example).")
    flags.DEFINE_integer("steps", 3000, "MLP: full-batch Adam steps.")
    flags.DEFINE_float("learning_rate", 0.01, "MLP: Adam step size.")
    flags.DEFINE_list("features", None, "Feature names to use (default: all of router.FEATURE_NAMES).")
    flags.DEFINE_enum("transform", "signed_log100", ["none", "signed_log100"], "Feature transform before standardizing "
                      "(router.TRANSFORMS).")
    flags.DEFINE_integer("seed", 1, "Seed of the MLP's initial weights.")
    flags.DEFINE_integer("ensemble", 1, "MLP: fit this many (seeds seed, seed+1, ...) and ship their mean logit as one "
                         "MLP (merge_mlps: hidden layers side by side): one seed's luck does not decide the file.")
    flags.DEFINE_string("out", "runs/router/dither_router.json", "The router's JSON.")
    flags.DEFINE_bool("ship", False, "Also copy it into the weights folder (gif_pipeline/weights/, or $GIFNETS_WEIGHTS) "
                      "with its card and registry entry.")
    flags.DEFINE_string("bench_table", None, "A text file put in the card under 'Held-out GIFs' (the output of "
                        "benchmarks/router_eval.py).")


CARD = """# dither router: `dither_router.json`

Routes `gifnets restore --model auto` (both backends) to the plain or the dithered CCDNet: {n_features} statistics of
the GIF's own colours (`gif_pipeline/models/restore/router.py`: neighbour changes, spikes, isolated dots,
checkerboards, 2x2 windows of 3-4 colours, periodicity, colour steps in palette spacings, adjacent colour pairs,
the same per 8x8 block where the block is smooth) on a centre crop of at most {side} px, standardized, then a
{model}. Numpy only (no TensorFlow, no LiteRT). The CNN classifier (`gif_classifier.keras`) stays installed:
`restore.classify(..., router="cnn")`.

**Data.** {n_train} whole 256x256 GIFs of `../shared/data/train` photos (the 80 % hash split; short side resized to
256 px half the time, else 256-512 px; random crop and flip), plain or dithered 1:1; 70 % by the restore bench's five
encoders (Pillow median cut / FS, libimagequant d0 / d1, ffmpeg none / sierra2_4a, k-means / k-means + FS, gifnets
none / DitherNet), 30 % by the CCDNet pair methods (median cut, k-means, octree, libimagequant, gifnets x none, FS,
8x8 Bayer, DitherNet); Np one of 16/32/64/256 half the time, else log-uniform 16-256 (`trainers/make_router_gifs`);
a third of the caches grainy photos (Gaussian grain, std 1-12); with the `--mix=extra` caches: DitherNet at 16-256
colours, ffmpeg bayer, pngquant with and without FS, gifski, Bayer / FS pairs, grain on 60 % (std 1-24, white or
blurred, grey, chroma or per channel), Np log-uniform 8-256.

**Reproduce.** `{train}` (the GIF caches: docs/experiments/restore.md).

**Numbers.** Accuracy on the fit GIFs {acc_train:.4f}; on {n_val} GIFs of the 96 held-out photos of the train folder
{acc_val:.4f}.
{bench}
**Limitations.** Fitted on 256-px GIFs of photos; drawings, screenshots and animations of flat art were not in the
data. A plain GIF at 256 colours of a fine-grained photo and a lightly dithered one can look alike: see the notebook.
"""


def _load_features(path: str):
    from gif_pipeline.models.restore import router

    cache = path + ".features.npz"
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(path):
        with np.load(cache) as z:
            if tuple(z["names"].tolist()) == router.FEATURE_NAMES:
                return {k: z[k] for k in z.files}
    with np.load(path) as z:
        meta = {k: z[k] for k in ("encoder", "colors", "dithered")}
        start = time.time()
        x = np.stack([router.features(g) for g in z["gifs"]])
    print(f"features of {path}: {len(x)} GIFs, {time.time() - start:.0f} s", flush=True)
    out = {"x": x, "names": np.array(router.FEATURE_NAMES), **meta}
    tmp = cache + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, cache)
    return out


def load_sets(paths):
    parts = [_load_features(p) for p in paths]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("x", "encoder", "colors", "dithered")}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 50):
    """L2-penalised logistic regression by Newton's method: ``(w [F, 1], b [1])``."""
    n, f = x.shape
    a = np.concatenate([x, np.ones((n, 1))], axis=1)
    theta = np.zeros(f + 1)
    reg = np.full(f + 1, l2 * n)
    reg[-1] = 0.0
    for _ in range(iterations):
        p = _sigmoid(a @ theta)
        grad = a.T @ (p - y) + reg * theta
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(reg) + 1e-9 * np.eye(f + 1)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return [(theta[:-1, None], theta[-1:])]


def fit_mlp(x: np.ndarray, y: np.ndarray, hidden: int, l2: float, steps: int, learning_rate: float, seed: int):
    """One tanh hidden layer, sigmoid output, cross-entropy + L2, full-batch Adam: ``[(w1, b1), (w2, b2)]``."""
    rng = np.random.default_rng(seed)
    n, f = x.shape
    params = [rng.normal(0, 1 / np.sqrt(f), (f, hidden)), np.zeros(hidden), rng.normal(0, 1 / np.sqrt(hidden), (hidden, 1)),
              np.zeros(1)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        w1, c1, w2, c2 = params
        h = np.tanh(x @ w1 + c1)
        p = _sigmoid(h @ w2 + c2)[:, 0]
        d_out = ((p - y) / n)[:, None]
        g_w2 = h.T @ d_out + l2 * w2
        g_c2 = d_out.sum(0)
        d_h = (d_out @ w2.T) * (1 - h ** 2)
        g_w1 = x.T @ d_h + l2 * w1
        g_c1 = d_h.sum(0)
        for i, g in enumerate((g_w1, g_c1, g_w2, g_c2)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] = params[i] - learning_rate * (m[i] / (1 - b1 ** t)) / (np.sqrt(v[i] / (1 - b2 ** t)) + eps)
    return [(params[0], params[1]), (params[2], params[3])]


def merge_mlps(mlps):
    """One-hidden-layer MLPs ``[(w1, b1), (w2, b2)]`` on the same inputs -> one MLP whose logit is the mean of theirs:
    the hidden units side by side, the output weights divided by their number."""
    k = len(mlps)
    w1 = np.concatenate([m[0][0] for m in mlps], axis=1)
    b1 = np.concatenate([m[0][1] for m in mlps])
    w2 = np.concatenate([m[1][0] for m in mlps], axis=0) / k
    b2 = np.mean([m[1][1] for m in mlps], axis=0)
    return [(w1, b1), (w2, b2)]


def _bucket(n: int) -> str:
    return "16" if n <= 16 else "17-32" if n <= 32 else "33-64" if n <= 64 else "65-128" if n <= 128 else "129-256"


def report(name: str, data: dict, p: np.ndarray) -> float:
    right = (p >= 0.5) == (data["dithered"] == 1)
    print(f"{name}: accuracy {right.mean():.4f} on {len(right)} GIFs (plain {right[data['dithered'] == 0].mean():.4f}, "
          f"dithered {right[data['dithered'] == 1].mean():.4f})")
    groups = {}
    for r, e, n, d in zip(right, data["encoder"], data["colors"], data["dithered"]):
        groups.setdefault((str(e), _bucket(int(n)), int(d)),
                          []).append(r)
    bad = sorted(((np.mean(v), k, len(v)) for k, v in groups.items() if np.mean(v) < 1.0))
    for acc, k, count in bad[:12]:
        print(f"   {acc:.3f} ({count:3d})  {k}")
    return float(right.mean())


def main(argv):
    del argv
    from gif_pipeline.models.restore import presets, router

    values = {name: FLAGS[name].value for name in ("train_gifs", "val_gifs", "model", "hidden", "l2", "steps",
                                                   "learning_rate", "features", "transform", "seed", "ensemble", "out")}
    if FLAGS.preset:
        preset = presets.TRAINING_PRESETS["fit_dither_router"][FLAGS.preset]
        for name, value in preset.items():
            if not FLAGS[name].present:
                values[name] = value
    print("fit_dither_router:", json.dumps(values))
    if not values["train_gifs"]:
        raise app.UsageError("--train_gifs (or --preset) is required")
    names = tuple(values["features"] or router.FEATURE_NAMES)
    cols = [router.FEATURE_NAMES.index(n) for n in names]
    train = load_sets(values["train_gifs"])
    x, y = router.TRANSFORMS[values["transform"]](train["x"][:, cols]), train["dithered"].astype(np.float64)
    mean, scale = x.mean(0), x.std(0) + 1e-9
    xs = (x - mean) / scale
    if values["model"] == "logistic":
        layers = fit_logistic(xs, y, values["l2"])
    else:
        layers = merge_mlps([fit_mlp(xs, y, values["hidden"], values["l2"], values["steps"], values["learning_rate"],
                                     values["seed"] + i) for i in range(max(1, values["ensemble"]))])
    params = {"format": router.FORMAT, "kind": "dither_router", "model": values["model"], "features": list(names),
              "transform": values["transform"], "mean": mean.tolist(), "scale": scale.tolist(),
              "layers": [{"w": w.tolist(), "b": b.tolist()} for w, b in layers], "threshold": 0.5, "side": router.SIDE,
              "fit": {k: v for k, v in values.items() if k != "out"}}
    net = router.Router(params)
    stats = {"train": report("train", train, _sigmoid(net.logit(train["x"])))}
    if values["val_gifs"]:
        val = load_sets(values["val_gifs"])
        stats["val"] = report("val (held-out photos of the train folder)", val, _sigmoid(net.logit(val["x"])))
    params["fit"]["accuracy"] = stats
    from gif_pipeline.io.files import atomic_write

    os.makedirs(os.path.dirname(os.path.abspath(values["out"])), exist_ok=True)
    atomic_write(values["out"], (json.dumps(params) + "\n").encode(), force=True)
    print(f"wrote {values['out']}")
    if FLAGS.ship:
        ship(values["out"], params, len(train["x"]), len(val["x"]) if values["val_gifs"] else 0)


def ship(path: str, params: dict, n_train: int, n_val: int) -> None:
    import shutil

    from gif_pipeline.weights import registry

    folder = registry.weights_dir()
    train = "trainers/fit_dither_router --preset=shipped" + (f" (here: {FLAGS.preset})" if FLAGS.preset != "shipped" else "")
    bench = ""
    if FLAGS.bench_table:
        with open(FLAGS.bench_table, encoding="utf-8") as f:
            bench = "\n**Held-out GIFs** (the restore bench's 960 GIFs of the 24 val photos; not used for the fit; " \
                    "`python benchmarks/router_eval.py`; router / CNN):\n\n" + f.read().strip() + "\n"
    members = int(params["fit"].get("ensemble", 1) or 1)
    model = (f"one-hidden-layer tanh MLP ({len(params['layers'][0]['b'])} units" +
             (f": the mean logit of {members} MLPs of {len(params['layers'][0]['b']) // members} units, seeds "
              f"{params['fit']['seed']}-{params['fit']['seed'] + members - 1}" if members > 1 else "") + ")"
             if params["model"] == "mlp" else "logistic regression")
    acc = params["fit"]["accuracy"]
    card = CARD.format(n_features=len(params["features"]), side=params["side"], model=model, n_train=n_train,
                       train=train, acc_train=acc["train"], n_val=n_val, acc_val=acc.get("val", float("nan")),
                       bench=bench)
    shutil.copyfile(path, os.path.join(folder, "dither_router.json"))
    with open(os.path.join(folder, "dither_router.md"), "w", encoding="utf-8") as f:
        f.write(card)
    registry.record(registry.Entry("restore/dither_router", "restore", "dither_router", "dither_router.json",
                                   card="dither_router.md", train=train,
                                   evaluate="python benchmarks/router_eval.py --prepared "
                                            "'runs/restore_bench2/prepared_*.npz'"))
    print(f"shipped {os.path.join(folder, 'dither_router.json')}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
