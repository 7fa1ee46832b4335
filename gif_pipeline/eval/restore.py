"""The ``restore`` bench: GIF restoration (CCDNet) against classical smoothing on held-out photos.

Every photo is quantized by each encoder (:data:`ENCODERS`: Pillow median cut, libimagequant, ffmpeg palettegen,
k-means, gifnets) at each palette size, without and with dithering, and each GIF is restored by each method
(:data:`RESTORERS`: the GIF itself, Gaussian smoothing σ = 0.5 and 1.0, ffmpeg ``deband`` and ``gradfun``, and
CCDNet-1/2/3 routed by the dither classifier). PSNR and SSIM of the result against the original, the gain over
the input GIF, and the time of each restoration (image in memory -> image in memory, after a warm-up call).

Writes ``results.csv`` (one row per photo, encoder, Np, dither, method), ``summary.md`` and ``index.html``
(original | GIF | best classical | CCDNet-2 with zoomed crops) into ``--out``.

    python benchmarks/restore_bench.py ../shared/data/val --out results/restore
"""
from __future__ import annotations

import argparse
import csv
import html
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ENCODERS = {  # name -> (plain peer, dithered peer); "own:..." are computed here
    "pillow-mediancut": ("pillow-mediancut:none", "pillow-mediancut:fs"),
    "libimagequant": ("libimagequant:d0", "libimagequant:d1"),
    "ffmpeg": ("ffmpeg:none", "ffmpeg:sierra2_4a"),
    "kmeans": ("kmeans-ref:none", "own:kmeans-fs"),
    "gifnets": ("own:gifnets-none", "own:gifnets-net"),
}
DEFAULT_COLORS = (16, 32, 64, 256)
CLASSICAL = ("gauss0.5", "gauss1.0", "deband", "gradfun")


def _own_encoder(name: str, rgb: np.ndarray, n: int) -> np.ndarray:
    from gif_pipeline.quant import dithering

    if name == "own:kmeans-fs":
        from gif_pipeline.eval.peers import KMEANS_REF_ITERATIONS
        from gif_pipeline.quant.palettes import kmeans

        palette = kmeans(rgb, n, iterations=KMEANS_REF_ITERATIONS)
        return palette[dithering.remap(rgb, palette, "fs")]
    from gif_pipeline.encode import encode_image

    dither = "none" if name == "own:gifnets-none" else "net"
    return encode_image(rgb, colors=n, palette="net+kmeans", dither=dither).rgb


def quantize(encoder: str, dithered: bool, rgb: np.ndarray, n: int) -> np.ndarray:
    """The decoded GIF of ``rgb`` by ``encoder`` at ``n`` colours."""
    name = ENCODERS[encoder][int(dithered)]
    if name.startswith("own:"):
        return _own_encoder(name, rgb, n)
    from gif_pipeline.eval import peers

    return peers.run_peer(name, rgb, n).rgb


def gaussian(rgb: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(rgb.astype(np.float32), sigma=(sigma, sigma, 0), mode="reflect")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def ffmpeg_filter(rgb: np.ndarray, vf: str) -> np.ndarray:
    """``rgb`` (``[H, W, 3]``, or ``[N, H, W, 3]``: frames filtered one by one in one process) through an ffmpeg video
    filter chain (the imageio-ffmpeg binary), raw RGB in and out."""
    import imageio_ffmpeg

    h, w = rgb.shape[-3:-1]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-i", "-", "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.run(cmd, input=np.ascontiguousarray(rgb).tobytes(), capture_output=True, check=False)
    if proc.returncode or len(proc.stdout) != rgb.nbytes:
        raise RuntimeError(f"ffmpeg {vf}: {proc.stderr.decode(errors='replace').strip()[-200:]}")
    return np.frombuffer(proc.stdout, np.uint8).reshape(rgb.shape).copy()


def _batched(function):
    """A restorer of one image applied to a list of same-size images (the bench's batch interface)."""
    return lambda images: [function(g) for g in images]


#: Batch restorers: a list of same-size GIF frames -> their restorations. The ffmpeg filters take every frame in one
#: process (deband and gradfun are spatial filters: each frame is filtered on its own); the bench times the batch
#: and divides by its size.
BATCH_RESTORERS = {
    "gif": lambda gs: list(gs),
    "gauss0.5": _batched(lambda g: gaussian(g, 0.5)),
    "gauss1.0": _batched(lambda g: gaussian(g, 1.0)),
    "deband": lambda gs: list(ffmpeg_filter(np.stack(gs), "format=gbrp,deband,format=rgb24")),
    "gradfun": lambda gs: list(ffmpeg_filter(np.stack(gs), "format=yuv444p,gradfun,format=rgb24")),
}
RESTORERS = {
    "gif": lambda g: g,
    "gauss0.5": lambda g: gaussian(g, 0.5),
    "gauss1.0": lambda g: gaussian(g, 1.0),
    "deband": lambda g: ffmpeg_filter(g, "format=gbrp,deband,format=rgb24"),
    "gradfun": lambda g: ffmpeg_filter(g, "format=yuv444p,gradfun,format=rgb24"),
}
#: CCDNet-1/2/3 come from one 3-step pass per GIF (:func:`ccdnet_all_steps`); their speed is
#: benchmarks/restore_speed.py's.
#: CCDNet-k as ``gifnets restore`` runs it (with the consistency post-step), and CCDNet-2's raw network output.
CCDNET = ("ccdnet-1", "ccdnet-2", "ccdnet-3", "ccdnet-2-raw")


def network_output(net, gif: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """A CCDNet's raw output for one GIF frame and its palette (uint8 in), in 0..255 as float, without the batch axis
    (``[H, W, 3]``, or ``[steps, H, W, 3]`` for a network with ``all_steps``)."""
    import tensorflow as tf

    out = net([tf.constant(gif.astype(np.float32)[None] / 127.5 - 1.0),
               tf.constant(palette.astype(np.float32)[None] / 127.5 - 1.0)], training=False)
    return (np.asarray(out[0]) + 1.0) * 127.5


def ccdnet_all_steps(gif: np.ndarray, model: str = "auto") -> tuple[list[np.ndarray], str, float | None]:
    """CCDNet-1, -2 and -3 of one GIF frame from one 3-step pass (the estimates of CCDNet-3's steps are those of
    CCDNet-1 and -2), routed like ``gifnets restore`` and with its consistency post-step, then CCDNet-2 without
    the post-step: ``(images in the order of CCDNET, model that ran, P(dithered))``."""
    from gif_pipeline import restore
    from gif_pipeline.models.restore import consistency

    which, probability = restore._route([gif], model)
    palette, _ = restore.image_palette(gif)
    raw = list(network_output(_all_steps_net(which), gif, palette)[:3])
    images = [consistency.make_consistent(r, gif, palette, which) for r in raw] + [raw[1]]
    return [np.clip(np.rint(x), 0, 255).astype(np.uint8) for x in images], which, probability


_NETS = {}


def _all_steps_net(which: str):
    if which not in _NETS:
        from gif_pipeline import restore
        from gif_pipeline.models.restore import ccdnet

        step1, update = ccdnet.parts(restore._model(restore.KINDS[which]))
        _NETS[which] = ccdnet.compose(step1, update, 3, all_steps=True)
    return _NETS[which]


def _find_images(folder: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        out += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith((".png", ".jpg", ".jpeg"))]
    return out


def _load(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.uint8).copy()


def prepare(images_dir: str, out: str, colors=DEFAULT_COLORS, encoders=None, limit: int = 0, log=print,
            shard: tuple[int, int] = (0, 1)) -> str:
    """Phase 1 (no networks of this family): every photo's GIFs by every encoder, Np and dither, and the classical
    restorations' rows. Writes ``out/prepared.npz`` (GIFs, originals) and ``out/classical.csv``; returns the npz."""
    from gif_pipeline.metrics import image as metrics

    encoders = list(encoders or ENCODERS)
    files = _find_images(images_dir)[: limit or None][shard[0]::shard[1]]
    if not files:
        raise SystemExit(f"no images in {images_dir}")
    os.makedirs(out, exist_ok=True)
    warm = _load(files[0])[:64, :64]
    for m in RESTORERS:
        RESTORERS[m](warm)
    rows, keys, gifs, originals = [], [], [], {}
    start = time.time()
    for i, path in enumerate(files):
        rgb = _load(path)
        name = os.path.relpath(path, images_dir)
        originals[name] = rgb
        for encoder in encoders:
            for n in colors:
                for dithered in (False, True):
                    try:
                        gif = quantize(encoder, dithered, rgb, n)
                    except Exception as e:  # an unavailable peer: say so, go on
                        log(f"skip {encoder} dithered={dithered} n={n}: {e}")
                        continue
                    keys.append((name, encoder, n, int(dithered)))
                    gifs.append(gif)
        mine = [(k, g) for k, g in zip(keys, gifs) if k[0] == name]
        for m, restorer in BATCH_RESTORERS.items():
            t = time.perf_counter()
            restored = restorer([g for _, g in mine])
            seconds = (time.perf_counter() - t) / max(1, len(mine))
            for (_, encoder, n, dithered), r in zip([k for k, _ in mine], restored):
                rows.append({"image": name, "encoder": encoder, "colors": n, "dithered": dithered, "method": m,
                             "psnr": metrics.psnr(rgb, r), "ssim": metrics.ssim(rgb, r), "seconds": seconds,
                             "routed": ""})
        log(f"restore bench (prepare): {i + 1}/{len(files)} images, {time.time() - start:.0f} s")
    tag = f"{shard[0]}of{shard[1]}"
    path = os.path.join(out, f"prepared_{tag}.npz")
    np.savez(path, gifs=np.stack(gifs), keys=np.array([json.dumps(k) for k in keys]),
             names=np.array(list(originals)), originals=np.stack(list(originals.values())))
    _write_csv(os.path.join(out, f"classical_{tag}.csv"), rows)
    return path


def _prepared(out: str):
    import glob

    gifs, keys, originals = [], [], {}
    for path in sorted(glob.glob(os.path.join(out, "prepared_*.npz"))):
        with np.load(path) as z:
            gifs += list(z["gifs"])
            keys += [tuple(json.loads(k)) for k in z["keys"]]
            originals.update(zip(z["names"].tolist(), z["originals"]))
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    return [gifs[i] for i in order], [keys[i] for i in order], originals


def _read_rows(out: str, prefix: str) -> list[dict]:
    import glob

    rows = []
    for path in sorted(glob.glob(os.path.join(out, f"{prefix}_*.csv"))):
        for r in csv.DictReader(open(path, encoding="utf-8")):
            rows.append(dict(r, colors=int(r["colors"]), dithered=int(r["dithered"]), psnr=float(r["psnr"]),
                             ssim=float(r["ssim"]), seconds=float(r["seconds"])))
    return rows


def run(out: str, model: str = "auto", log=print, shard: tuple[int, int] = (0, 1)) -> str:
    """Phase 2: CCDNet-1/2/3 on the prepared GIFs (this shard's share); writes ``ccdnet_<shard>.csv``."""
    from gif_pipeline.metrics import image as metrics

    gifs, keys, originals = _prepared(out)
    ccdnet_all_steps(gifs[0][:64, :64], model)  # warm-up
    rows, start = [], time.time()
    mine = list(range(shard[0], len(keys), shard[1]))
    for j, i in enumerate(mine):
        (name, encoder, n, dithered), gif = keys[i], gifs[i]
        rgb = originals[name]
        t = time.perf_counter()
        images, which, probability = ccdnet_all_steps(gif, model)
        seconds = time.perf_counter() - t
        for m, restored in zip(CCDNET, images):
            rows.append({"image": name, "encoder": encoder, "colors": n, "dithered": dithered, "method": m,
                         "psnr": metrics.psnr(rgb, restored), "ssim": metrics.ssim(rgb, restored),
                         "seconds": seconds if m == "ccdnet-3" else math.nan,
                         "routed": f"{which}:{probability:.3f}" if probability is not None else which})
        if (j + 1) % 50 == 0:
            log(f"restore bench (ccdnet): {j + 1}/{len(mine)} GIFs, {time.time() - start:.0f} s")
    path = os.path.join(out, f"ccdnet_{shard[0]}of{shard[1]}.csv")
    _write_csv(path, rows)
    return path


def summarize(out: str, model: str = "auto", html_colors: int = 32, examples: int = 8) -> list[dict]:
    """Phase 3: merge the shards' rows, add the gains over the input GIF, write results.csv, summary.md, index.html."""
    rows = _read_rows(out, "classical") + _read_rows(out, "ccdnet")
    base = {(r["image"], r["encoder"], r["colors"], r["dithered"]): r for r in rows if r["method"] == "gif"}
    for r in rows:
        b = base.get((r["image"], r["encoder"], r["colors"], r["dithered"]))
        r["gain_psnr"] = r["psnr"] - b["psnr"] if b else math.nan
        r["gain_ssim"] = r["ssim"] - b["ssim"] if b else math.nan
    _write_csv(os.path.join(out, "results.csv"), rows)
    gifs, keys, originals = _prepared(out)
    encoders = list(dict.fromkeys(k[1] for k in keys))
    colors = sorted({k[2] for k in keys})
    methods = list(RESTORERS) + [m for m in CCDNET if any(r["method"] == m for r in rows)]
    with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as f:
        f.write(summary_markdown(rows, methods, encoders, colors, len(originals), model))
    chosen = [i for i, k in enumerate(keys) if k[1] == "pillow-mediancut" and k[2] == html_colors][:examples]
    shown = []
    for i in chosen:
        name, _, n, dithered = keys[i]
        outputs = {"gif": gifs[i], **{m: RESTORERS[m](gifs[i]) for m in CLASSICAL}}
        outputs.update(zip(CCDNET, ccdnet_all_steps(gifs[i], model)[0]))
        shown.append((name, n, bool(dithered), originals[name], outputs))
    if shown:
        _write_html(out, shown, rows)
    return rows


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def _mean(rows, key):
    v = [r[key] for r in rows if not math.isnan(r[key])]
    return float(np.mean(v)) if v else math.nan


def summary_markdown(rows, methods, encoders, colors, n_images, model="auto") -> str:
    lines = [f"# restore bench ({n_images} held-out photos, CCDNet --model {model})", ""]
    routed = [r for r in rows if r["method"] == "ccdnet-1" and r["routed"]]
    if model == "auto" and routed:
        right = [r["routed"].startswith("dithered") == bool(r["dithered"]) for r in routed]
        lines += [f"Classifier routing: {np.mean(right):.1%} of {len(right)} GIFs to the model of their kind "
                  f"(plain GIFs: {np.mean([x for x, r in zip(right, routed) if not r['dithered']]):.1%}, dithered: "
                  f"{np.mean([x for x, r in zip(right, routed) if r['dithered']]):.1%}).", ""]
    for dithered in (0, 1):
        lines += [f"## {'dithered' if dithered else 'no dithering'}: mean PSNR (dB) / SSIM at 32 colours, per encoder",
                  "", "| method | " + " | ".join(encoders) + " | all |", "|---|" + "---|" * (len(encoders) + 1)]
        for m in methods:
            cells = []
            for e in encoders + ["all"]:
                sel = [r for r in rows if r["method"] == m and r["colors"] == 32 and r["dithered"] == dithered
                       and (e == "all" or r["encoder"] == e)]
                cells.append(f"{_mean(sel, 'psnr'):.2f} / {_mean(sel, 'ssim'):.3f}" if sel else "–")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    for m in [m for m in methods if m != "gif"]:
        lines += [f"## {m}: mean PSNR gain over the input GIF (dB), worst photo in brackets", "",
                  "| encoder | dither | " + " | ".join(f"Np={n}" for n in colors) + " |",
                  "|---|---|" + "---|" * len(colors)]
        for e in encoders:
            for dithered in (0, 1):
                cells = []
                for n in colors:
                    sel = [r for r in rows if r["method"] == m and r["encoder"] == e and r["colors"] == n
                           and r["dithered"] == dithered]
                    cells.append(f"{_mean(sel, 'gain_psnr'):+.2f} ({min(r['gain_psnr'] for r in sel):+.2f})"
                                 if sel else "–")
                lines.append(f"| {e} | {'yes' if dithered else 'no'} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## time per 256x256 image (s, mean; CCDNet: one 3-step pass incl. routing, in the ccdnet-3 row)", "",
              "| method | seconds |", "|---|---|"]
    for m in methods:
        sel = [r for r in rows if r["method"] == m]
        if sel and not math.isnan(_mean(sel, "seconds")):
            lines.append(f"| {m} | {_mean(sel, 'seconds'):.4f} |")
    return "\n".join(lines) + "\n"


def _png(path, rgb):
    Image.fromarray(rgb).save(path)


def _write_html(out, examples, rows):
    from gif_pipeline.eval.bench import smooth_crop_box

    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>gifnets restore bench</title>",
             "<style>body{font-family:sans-serif}td{text-align:center;font-size:12px;padding:3px}"
             "img{image-rendering:pixelated;display:block;margin:2px auto}</style></head><body>",
             "<h1>gifnets restore: original | GIF | best classical | CCDNet-2</h1>",
             "<p>Pillow median cut at 32 colours, plain and Floyd–Steinberg. Below each full image, a 4x "
             "nearest-neighbour enlargement of its smoothest gradient (64 px). "
             "<a href='summary.md'>summary.md</a>, <a href='results.csv'>results.csv</a></p>"]
    for k, (name, n, dithered, rgb, outputs) in enumerate(examples):
        key = lambda m: [r for r in rows if r["image"] == name and r["encoder"] == "pillow-mediancut"  # noqa: E731
                         and r["colors"] == n and r["dithered"] == int(dithered) and r["method"] == m][0]
        classical = [m for m in CLASSICAL if m in outputs]
        best = max(classical, key=lambda m: key(m)["psnr"]) if classical else None
        cells = [("original", rgb, "")] + [(m, outputs[m], f"{key(m)['psnr']:.2f} dB / {key(m)['ssim']:.3f}")
                                             for m in ["gif", best, "ccdnet-2"] if m in outputs]
        y, x = smooth_crop_box(rgb, 64)
        parts.append(f"<h2>{html.escape(name)}: {n} colours, {'Floyd–Steinberg' if dithered else 'no dither'}</h2>"
                     "<table><tr>")
        for label, img, caption in cells:
            stem = f"img/{k}_{label}"
            _png(os.path.join(out, stem + ".png"), img)
            crop = np.repeat(np.repeat(img[y:y + 64, x:x + 64], 4, 0), 4, 1)
            _png(os.path.join(out, stem + "_crop.png"), crop)
            parts.append(f"<td><b>{html.escape(label)}</b><img src='{stem}.png'><img src='{stem}_crop.png'>"
                         f"{html.escape(caption)}</td>")
        parts.append("</tr></table>")
    parts.append("</body></html>")
    with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as f:
        f.write("\n".join(parts))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="gifnets bench --task restore", description=__doc__.split("\n\n")[0])
    p.add_argument("images", help="folder of held-out photos")
    p.add_argument("--out", required=True)
    p.add_argument("--phase", choices=["prepare", "ccdnet", "summarize", "all"], default="all",
                   help="prepare: GIFs + classical baselines (no CCDNet); ccdnet: CCDNet on the prepared GIFs; "
                   "summarize: tables and page from every shard's rows")
    p.add_argument("--shard", default="0/1", help="K/N: this process takes photos (prepare) or GIFs (ccdnet) "
                   "K, K+N, ... (run N processes, then --phase summarize)")
    p.add_argument("--colors", type=int, nargs="+", default=list(DEFAULT_COLORS))
    p.add_argument("--encoders", nargs="+", choices=list(ENCODERS), default=None)
    p.add_argument("--model", choices=["auto", "plain", "dithered"], default="auto")
    p.add_argument("--limit", type=int, default=0, help="only the first N photos")
    args = p.parse_args(argv)

    def log(s):
        print(s, file=sys.stderr, flush=True)

    k, n = (int(x) for x in args.shard.split("/"))
    if args.phase in ("prepare", "all"):
        prepare(args.images, args.out, args.colors, args.encoders, args.limit, log=log, shard=(k, n))
    if args.phase in ("ccdnet", "all"):
        run(args.out, args.model, log=log, shard=(k, n))
    if args.phase in ("summarize", "all"):
        summarize(args.out, args.model)
    return 0
