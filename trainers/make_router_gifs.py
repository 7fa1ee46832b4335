"""Make whole-GIF training data for the dither router (``trainers/fit_dither_router``): 256x256 GIFs of photos.

Each GIF ``i`` is a function of ``(seed, i)`` alone: a photo of ``--data`` (the stable 80/20 split ``--split``), its
short side resized (Lanczos) to 256 px half the time (as the restore bench's val photos: short side 256, centre
crop) or to 256-512 px, a random 256x256 crop, a random flip, plain or dithered (1:1), then an encoder: 70 % one
of the restore bench's five (:data:`gif_pipeline.eval.restore.ENCODERS`, the same call the bench makes, dithered
by its own dither: Pillow FS, libimagequant's, ffmpeg's sierra2_4a, k-means + FS, gifnets' DitherNet), 30 % a
palette method x dither of the CCDNet training pairs (:mod:`gif_pipeline.data.gif_pairs`: median cut, k-means,
octree, libimagequant, gifnets; none, or FS / 8x8 Bayer / DitherNet). Np: half the time one of the bench's 16, 32,
64, 256, else log-uniform in 16-256.

  python -m trainers.make_router_gifs --data=../shared/data/train --split=train --gifs=2000 --seed=1 \
      --shard=0/2 --out=runs/router/train_0of2.npz
"""
from __future__ import annotations

import math
import os
import shutil
import time

import numpy as np
from absl import app, flags
from PIL import Image

FLAGS = flags.FLAGS


def define_flags():
    """The flags (defined on demand: several trainers share one process in the tests, and absl refuses a flag
    defined twice)."""
    flags.DEFINE_multi_string("data", ["../shared/data/train"], "Photo folder(s).")
    flags.DEFINE_enum("split", "train", ["train", "val", "all"], "The stable 80/20 hash split of the files.")
    flags.DEFINE_integer("gifs", 2000, "GIFs in all (indices 0..gifs-1; a shard makes every n-th).")
    flags.DEFINE_string("shard", "0/1", "k/n: make the GIFs with index % n == k.")
    flags.DEFINE_integer("size", 256, "GIF side.")
    flags.DEFINE_float("noise", 0.0, "Grain: half of the photos get Gaussian noise of a std uniform in [1, noise] grey levels "
                       "(monochrome or per channel, 1:1) before quantizing (0: none).")
    flags.DEFINE_enum("mix", "bench", ["bench", "extra"], "bench: the mix above; extra: the encoders and grains the "
                      "bench mix lacks or has few of (make_extra_gif): DitherNet at 8-256 colours, ffmpeg bayer, pngquant, "
                      "gifski, Bayer / FS pairs, and grain on 60 % of the photos (std 1-24, white or blurred, grey, "
                      "chroma or per channel).")
    flags.DEFINE_string("gifski", "gifski", "The gifski binary (--mix=extra; skipped with a note when missing).")
    flags.DEFINE_integer("seed", 1, "Seed: GIF i is a function of (seed, i).")
    flags.DEFINE_integer("threads", 1, "TensorFlow intra/inter-op threads (k-means, gifnets' networks).")
    flags.DEFINE_string("out", None, "Output .npz.")
    flags.mark_flag_as_required("out")


BENCH_COLORS = (16, 32, 64, 256)


def _photo(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.uint8).copy()


def _random_crop(photos, rng: np.random.Generator, size: int) -> tuple[int, Image.Image]:
    """A random photo of ``photos`` (its index ``k``), its short side scaled to ``size`` (half the time) or to 1-2x
    ``size``, and a random ``size`` x ``size`` crop of it: ``(k, crop)``."""
    k = int(rng.integers(len(photos)))
    im = Image.fromarray(photos[k])
    short = size if rng.random() < 0.5 else int(rng.integers(size, 2 * size + 1))
    scale = short / min(im.size)
    im = im.resize((max(size, round(im.width * scale)), max(size, round(im.height * scale))), Image.LANCZOS)
    y, x = int(rng.integers(0, im.height - size + 1)), int(rng.integers(0, im.width - size + 1))
    return k, im.crop((x, y, x + size, y + size))


def make_gif(photos, index: int, seed: int, size: int = 256, noise: float = 0.0) -> tuple[np.ndarray, dict]:
    """GIF ``index`` (decoded uint8 ``[size, size, 3]``) and what made it (``encoder``, ``colors``, ``dithered``,
    ``noise``: the std of the grain added to the photo, 0 for none)."""
    from gif_pipeline.data import gif_pairs
    from gif_pipeline.eval import restore as bench

    rng = np.random.default_rng([seed, index])
    k, im = _random_crop(photos, rng, size)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    rgb = np.asarray(im, np.uint8)
    sigma = 0.0
    if noise > 0:  # drawn only with --noise, so that the GIFs of the caches without grain stay as they were
        grain = rng.random() < 0.5
        sigma = float(rng.uniform(1.0, noise)) if grain else 0.0
        mono = rng.random() < 0.5
        if grain:
            z = rng.normal(0.0, sigma, (size, size, 1) if mono else (size, size, 3))
            rgb = np.clip(np.rint(rgb + z), 0, 255).astype(np.uint8)
    dithered = bool(rng.random() < 0.5)
    n = int(rng.choice(BENCH_COLORS)) if rng.random() < 0.5 else int(round(math.exp(rng.uniform(math.log(16),
                                                                                                  math.log(256)))))
    if rng.random() < 0.7:
        encoder = list(bench.ENCODERS)[int(rng.integers(len(bench.ENCODERS)))]
        gif = bench.quantize(encoder, dithered, rgb, n)
        name = bench.ENCODERS[encoder][int(dithered)]
    else:
        method = gif_pairs.PALETTE_METHODS[int(rng.integers(len(gif_pairs.PALETTE_METHODS)))]
        dither = gif_pairs.DITHERED[int(rng.integers(len(gif_pairs.DITHERED)))] if dithered else "none"
        indices, palette = gif_pairs.quantize(rgb, n, method, dither, seed=int(rng.integers(1 << 30)))
        gif = palette[indices]
        name = f"pairs:{method}:{dither}"
    return np.asarray(gif, np.uint8), {"encoder": name, "colors": n, "dithered": int(dithered), "photo": k,
                                       "noise": sigma}


def _gifski(rgb: np.ndarray, quality: int, exe: str) -> np.ndarray:
    """gifski's GIF of ``rgb`` (it needs two frames: the same twice; the first is read back)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for name in ("a.png", "b.png"):
            Image.fromarray(rgb).save(os.path.join(d, name), compress_level=1)
        out = os.path.join(d, "o.gif")
        subprocess.run([exe, "-q", "--quality", str(quality), "-o", out, os.path.join(d, "a.png"),
                        os.path.join(d, "b.png")], check=True, capture_output=True)
        with Image.open(out) as im:
            return np.asarray(im.convert("RGB"), np.uint8).copy()


def _grain(rng, rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian grain of std ``sigma``: grey, chroma-only or per channel; white, or blurred (sigma 0.5-1 px) and
    rescaled to the same std."""
    h, w = rgb.shape[:2]
    kind = int(rng.integers(3))
    z = rng.normal(0.0, 1.0, (h, w, 1 if kind == 0 else 3))
    if kind == 1:
        z = z - z.mean(axis=2, keepdims=True)
    if rng.random() < 0.3:
        from scipy.ndimage import gaussian_filter

        z = gaussian_filter(z, sigma=(float(rng.uniform(0.5, 1.0)),) * 2 + (0,))
    z = z / max(float(z.std()), 1e-6) * sigma
    return np.clip(np.rint(rgb + z), 0, 255).astype(np.uint8)


EXTRA_PLAIN = ("bench", "pngquant:nofs", "pairs")
EXTRA_DITHERED = ("bench", "ffmpeg:bayer", "pngquant:fs", "gifski", "own:gifnets-net", "pairs:dithernet", "pairs:bayer",
                  "pairs:fs")


def make_extra_gif(photos, index: int, seed: int, size: int = 256, gifski: str = "gifski") -> tuple[np.ndarray, dict]:
    """GIF ``index`` of the ``--mix=extra`` set: the photo as in :func:`make_gif`, grain on 60 % (std log-uniform in
    1-24 grey levels, :func:`_grain`), plain or dithered 1:1, Np log-uniform in 8-256, then one of
    :data:`EXTRA_PLAIN` / :data:`EXTRA_DITHERED` (uniformly)."""
    from gif_pipeline.data import gif_pairs
    from gif_pipeline.eval import peers
    from gif_pipeline.eval import restore as bench

    rng = np.random.default_rng([seed, index, 7])
    k, im = _random_crop(photos, rng, size)
    rgb = np.asarray(im, np.uint8)
    sigma = float(math.exp(rng.uniform(0.0, math.log(24.0)))) if rng.random() < 0.6 else 0.0
    if sigma:
        rgb = _grain(rng, rgb, sigma)
    dithered = bool(rng.random() < 0.5)
    n = int(round(math.exp(rng.uniform(math.log(8), math.log(256)))))
    choices = EXTRA_DITHERED if dithered else EXTRA_PLAIN
    kind = choices[int(rng.integers(len(choices)))]
    if kind == "gifski" and not (shutil.which(gifski) or os.path.isfile(gifski)):
        kind = "bench"  # no gifski here: a bench encoder's dithered GIF instead (the cache's encoder column says so)
    if kind == "bench":
        encoder = list(bench.ENCODERS)[int(rng.integers(len(bench.ENCODERS)))]
        name = bench.ENCODERS[encoder][int(dithered)]
        gif = bench.quantize(encoder, dithered, rgb, max(n, 16) if encoder == "gifnets" else n)
    elif kind == "gifski":
        quality = int(rng.integers(40, 101))
        name, gif = f"gifski:q{quality // 20 * 20}", _gifski(rgb, quality, gifski)
        n = len(np.unique(gif.reshape(-1, 3), axis=0))  # gifski chooses its own palette size
    elif kind == "own:gifnets-net":
        n = max(n, 16)
        name, gif = kind, bench._own_encoder(kind, rgb, n)
    elif kind.startswith("pairs"):
        method = gif_pairs.PALETTE_METHODS[int(rng.integers(len(gif_pairs.PALETTE_METHODS)))]
        dither = kind.split(":")[1] if dithered else "none"
        n = max(n, 16) if method == "gifnets" else n
        indices, palette = gif_pairs.quantize(rgb, n, method, dither, seed=int(rng.integers(1 << 30)))
        name, gif = f"pairs:{method}:{dither}", palette[indices]
    else:
        name, gif = kind, peers.run_peer(kind, rgb, n).rgb
    return np.asarray(gif, np.uint8), {"encoder": name, "colors": n, "dithered": int(dithered), "photo": k,
                                       "noise": sigma}


def main(argv):
    del argv
    from gif_pipeline.training import loop

    loop.limit_threads(FLAGS.threads)
    from gif_pipeline.data.images import list_image_files, split_files

    part, parts = (int(v) for v in FLAGS.shard.split("/"))
    files = split_files(list_image_files(FLAGS.data), FLAGS.split)
    photos = [_photo(f) for f in files]
    gifs, meta, start = [], [], time.time()
    mine = list(range(part, FLAGS.gifs, parts))
    for j, i in enumerate(mine):
        if FLAGS.mix == "extra":
            gif, m = make_extra_gif(photos, i, FLAGS.seed, FLAGS.size, FLAGS.gifski)
        else:
            gif, m = make_gif(photos, i, FLAGS.seed, FLAGS.size, FLAGS.noise)
        gifs.append(gif)
        meta.append({**m, "index": i})
        if (j + 1) % 50 == 0:
            print(f"make_router_gifs: {j + 1}/{len(mine)} GIFs, {time.time() - start:.0f} s", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    tmp = FLAGS.out + ".tmp.npz"
    np.savez(tmp, gifs=np.stack(gifs), index=np.array([m["index"] for m in meta]),
             encoder=np.array([m["encoder"] for m in meta]), colors=np.array([m["colors"] for m in meta]),
             dithered=np.array([m["dithered"] for m in meta]), photo=np.array([m["photo"] for m in meta]),
             noise=np.array([m["noise"] for m in meta]),
             files=np.array(files))
    os.replace(tmp, FLAGS.out)
    print(f"wrote {FLAGS.out}: {len(gifs)} GIFs from {len(files)} photos")


if __name__ == "__main__":
    define_flags()
    app.run(main)
