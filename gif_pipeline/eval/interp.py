"""The interpolation bench (GIF2Video §4.2, issue 27): frames restored between the kept frames of a GIF, against
the true frames, side by side with the tools people use.

Clips (each row says which kind):

* **real**, held out: ``bigbuckbunny.mp4`` (never trained on), scaled by ffmpeg's area filter to 480x270;
* **synthetic**: pans/zooms/rotations with a moving pasted patch (:func:`gif_pipeline.data.motion.synthetic_frames`)
  of the held-out photos in ``../shared/data/val``.

At each rate 1/k (k = 2, 4, 8) the kept frames 0, k, 2k, ... are quantized to a 32-colour GIF (median cut,
Pillow; no dither unless asked), and each method rebuilds frames 0 .. m k from them:

* ``repeat (hold)``: each kept frame shown until the next (what the GIF at the lower rate plays);
* ``repeat (nearest)``: the nearest kept frame (the paper's "GIF" row);
* ``ffmpeg framerate``: ffmpeg's blending filter (``framerate``);
* ``ffmpeg minterpolate``: ffmpeg's motion-compensated interpolation (``minterpolate=mi_mode=mci``);
* ``interpnet``: this project's network;
* ``... + CCDNet``: with colour dequantization (``gif_pipeline.restore``, CCDNet-2 with its consistency
  post-step, the model of the GIF's known kind: ``plain`` for a GIF without dither, ``dithered`` with it; no
  classifier). ``repeat (nearest) + CCDNet`` and ``interpnet + CCDNet`` restore the kept GIF frames (each with its
  own palette) and then repeat / interpolate them (InterpNet's flows read the GIF frames or the restored ones as
  its config says: the shipped network is "parallel", flows from the GIF frames); ``interpnet sequential +
  CCDNet`` is the same with the flows read from the restored frames (GIF2Video's "sequential" variant, as
  ``gifnets restore --flows restored``); ``ffmpeg minterpolate +
  CCDNet`` runs CCDNet on every frame minterpolate wrote (what ``gifnets restore`` does to that video: a frame
  with more than 256 colours gets its 256-colour median-cut palette and no consistency post-step);
  ``CCDNet after interpnet`` (not in the default set) likewise on every frame InterpNet wrote from the GIF frames.

Two reference rows are not interpolation: ``every frame (GIF)`` is the GIF of every true frame (no frame dropped; the
paper's "1/1" row) and ``every frame (GIF) + CCDNet`` that GIF restored. An interpolated frame is made from the kept
frames, so it carries their quantization error: the second row is a practical ceiling for the ``+ CCDNet`` rows.
(In GIF2Video's Table 4 every rate's result is below its 1/1 row.)

ffmpeg runs on raw frames through ``format=yuv444p`` (no chroma subsampling); the kept frames' PSNR in the
table shows what that round trip costs. PSNR/SSIM are per-frame means over all frames 0 .. m k (as the paper)
and over the new frames only. A ``+ CCDNet`` row's time includes the restoration.
"""
from __future__ import annotations

import csv
import os
import subprocess
import time

import numpy as np

from gif_pipeline.data import motion

RATES = (2, 4, 8)
METHODS = ("repeat (hold)", "repeat (nearest)", "ffmpeg framerate", "ffmpeg minterpolate", "interpnet",
           "repeat (nearest) + CCDNet", "ffmpeg minterpolate + CCDNet", "interpnet + CCDNet",
           "interpnet sequential + CCDNet", "every frame (GIF)", "every frame (GIF) + CCDNet")
#: Not interpolation: every true frame as a GIF, and restored (see the module's docstring); computed once per clip.
REFERENCES = ("every frame (GIF)", "every frame (GIF) + CCDNet")
CCDNET_STEPS = 2


def restore_all(frames, dither: bool, steps: int = CCDNET_STEPS) -> np.ndarray:
    """CCDNet-``steps`` on each frame (its own palette), the model of the GIF's known kind (no classifier)."""
    from gif_pipeline import restore

    results = restore.restore_frames(list(frames), steps=steps, model="dithered" if dither else "plain")
    return np.stack([r.image for r in results])


def held_out_clip(clips_dir: str = motion.DEFAULT_CLIPS_DIR, size=(480, 270), max_frames: int | None = None):
    return motion.read_clip(os.path.join(clips_dir, motion.HELD_OUT_CLIP), max_frames=max_frames, size=size)


def synthetic_clips(photo_dir: str, count: int = 2, frames: int = 33, size: int = 256, seed: int = 0):
    """``count`` synthetic clips of ``frames`` frames (size x size) from the photos of ``photo_dir``."""
    photos = motion.list_images([photo_dir])
    config = motion.MotionConfig(crop_size=size, paste_fraction=1.0, photo_short_side=max(size + 64, 320),
                                 shift_per_frame=2.0, zoom_per_frame=0.004, rotate_per_frame=0.3)
    out = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        times = [j / (frames - 1) for j in range(frames)]
        out.append((f"synthetic{i}", np.stack(motion.synthetic_frames(rng, photos, frames - 1, times, config))))
    return out


def to_gif(frames: np.ndarray, colors: int = 32, dither: bool = False) -> np.ndarray:
    return np.stack([motion.quantize(np.ascontiguousarray(f), colors, dither) for f in frames])


def repeat_hold(kept: np.ndarray, k: int) -> np.ndarray:
    return np.repeat(kept, k, axis=0)[: (len(kept) - 1) * k + 1]


def repeat_nearest(kept: np.ndarray, k: int) -> np.ndarray:
    idx = [min(len(kept) - 1, int(np.floor(j / k + 0.5))) for j in range((len(kept) - 1) * k + 1)]
    return kept[idx]


def ffmpeg_interpolate(kept: np.ndarray, k: int, method: str) -> np.ndarray:
    """Frames 0 .. (M - 1) k from ffmpeg's ``framerate`` or ``minterpolate`` (mci) filter on the kept frames."""
    import imageio_ffmpeg

    n, h, w = kept.shape[:3]
    filt = {"framerate": f"framerate=fps={k}", "minterpolate": f"minterpolate=fps={k}:mi_mode=mci"}[method]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", "1", "-i", "-", "-vf", f"format=yuv444p,{filt},format=rgb24", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-threads", "1", "-filter_threads", "1", "-"]
    r = subprocess.run(cmd, input=np.ascontiguousarray(kept).tobytes(), capture_output=True, check=True)
    out = np.frombuffer(r.stdout, np.uint8).reshape(-1, h, w, 3)
    want = (n - 1) * k + 1
    if len(out) < want:  # the filter ends at the last input frame's timestamp: hold it
        out = np.concatenate([out, np.repeat(out[-1:], want - len(out), axis=0)])
    return out[:want]


def _ssim_batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    return tf.image.ssim(tf.constant(a, tf.float32), tf.constant(b, tf.float32), max_val=255.0).numpy()


def _psnr_batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10))


def evaluate_clip(name: str, kind: str, frames: np.ndarray, graph, rates=RATES, colors: int = 32,
                  dither: bool = False, methods=METHODS, videos: dict | None = None, video_rate: int = 4) -> list[dict]:
    """Rows of (clip, kind, rate, method) -> PSNR/SSIM (all frames, new frames, kept frames) and time. With
    ``videos`` (a dict), each method's frames at 1/``video_rate`` (and the truth) are kept in it by name."""
    from gif_pipeline.interpolate import iter_interpolated

    rows = []
    references: dict = {}  # reference row -> (frames of the whole clip, seconds)

    def reference(method):
        if method not in references:
            start = time.perf_counter()
            if method == "every frame (GIF)":
                out = to_gif(frames, colors, dither)
            else:
                out = restore_all(reference("every frame (GIF)")[0], dither)
            references[method] = out, time.perf_counter() - start
        return references[method]

    for k in rates:
        m = (len(frames) - 1) // k
        truth = frames[: m * k + 1]
        kept = to_gif(frames[: m * k + 1: k], colors, dither)
        new = np.array([j % k != 0 for j in range(m * k + 1)])
        done: dict = {}  # method -> (frames, seconds): bases reused by the "+ CCDNet" rows

        def run(method):
            if method in done:
                return done[method]
            start = time.perf_counter()
            extra = 0.0
            if method == "repeat (hold)":
                out = repeat_hold(kept, k)
            elif method == "repeat (nearest)":
                out = repeat_nearest(kept, k)
            elif method in ("ffmpeg framerate", "ffmpeg minterpolate"):
                out = ffmpeg_interpolate(kept, k, method.split()[1])
            elif method == "interpnet":
                out = np.stack(list(iter_interpolated(kept, k, graph)))[: m * k + 1]
            elif method in REFERENCES:
                whole, seconds = reference(method)
                out, extra = whole[: m * k + 1], seconds * (m * k + 1) / len(frames)
            elif method == "restored kept":
                out = restore_all(kept, dither)
            elif method == "repeat (nearest) + CCDNet":
                restored, extra = run("restored kept")
                start = time.perf_counter()  # the base's time is in extra
                out = repeat_nearest(restored, k)
            elif method in ("interpnet + CCDNet", "interpnet sequential + CCDNet"):
                restored, extra = run("restored kept")
                start = time.perf_counter()  # the base's time is in extra
                flows = "restored" if "sequential" in method else None  # None: the network's own (the shipped: gif)
                out = np.stack(list(iter_interpolated(kept, k, graph, restored=restored, flow_input=flows)))[: m * k + 1]
            elif method in ("ffmpeg minterpolate + CCDNet", "CCDNet after interpnet"):
                base, extra = run("ffmpeg minterpolate" if method.startswith("ffmpeg") else "interpnet")
                start = time.perf_counter()  # the base's time is in extra
                out = restore_all(base, dither)
            else:
                raise ValueError(f"unknown method {method!r}")
            done[method] = out, time.perf_counter() - start + extra
            return done[method]

        for method in methods:
            out, seconds = run(method)
            p, s = _psnr_batch(out, truth), _ssim_batch(out, truth)
            if videos is not None and k == video_rate:
                videos[method] = out
                videos["truth"] = truth
            rows.append({"clip": name, "kind": kind, "rate": f"1/{k}", "k": k, "method": method, "colors": colors,
                         "dither": int(dither), "frames": len(truth), "new_frames": int(new.sum()),
                         "psnr": float(p.mean()), "ssim": float(s.mean()), "psnr_new": float(p[new].mean()),
                         "ssim_new": float(s[new].mean()), "psnr_kept": float(p[~new].mean()),
                         "seconds": seconds, "s_per_new_frame": seconds / max(1, int(new.sum())),
                         "size": f"{frames.shape[2]}x{frames.shape[1]}"})
    return rows


def write_results(rows: list[dict], out: str, title: str, notes: list[str]) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
    lines = [f"# {title}", ""] + notes + [""]
    by = {(r["clip"], r["k"], r["method"]): r for r in rows}
    clips = list(dict.fromkeys((r["clip"], r["kind"], r["size"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    rates = sorted({r["k"] for r in rows})
    for clip, kind, size in clips:
        lines += [f"## {clip} ({kind}, {size}, {rows[0]['colors']}-colour GIF)", "",
                  "| method | " + " | ".join(f"1/{k} PSNR / SSIM (all) | 1/{k} new frames" for k in rates)
                  + " | s per new frame |",
                  "|---|" + "---:|---:|" * len(rates) + "---:|"]
        for method in methods:
            cells = []
            for k in rates:
                r = by.get((clip, k, method))
                cells += [f"{r['psnr']:.2f} / {r['ssim']:.3f}", f"{r['psnr_new']:.2f} / {r['ssim_new']:.3f}"] if r else ["", ""]
            speeds = [by[(clip, k, method)]["s_per_new_frame"] for k in rates if (clip, k, method) in by]
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {np.mean(speeds):.3f} |")
        lines.append("")
        base = {k: by.get((clip, k, "repeat (hold)")) for k in rates}
        if all(base.values()) and any((clip, k, "interpnet") in by for k in rates):
            lines.append("Differences (dB, all frames): " + "; ".join(
                f"1/{k}: interpnet - repeat (hold) {by[(clip, k, 'interpnet')]['psnr'] - base[k]['psnr']:+.2f}, "
                f"- repeat (nearest) {by[(clip, k, 'interpnet')]['psnr'] - by[(clip, k, 'repeat (nearest)')]['psnr']:+.2f}, "
                f"- minterpolate {by[(clip, k, 'interpnet')]['psnr'] - by[(clip, k, 'ffmpeg minterpolate')]['psnr']:+.2f}, "
                f"- framerate {by[(clip, k, 'interpnet')]['psnr'] - by[(clip, k, 'ffmpeg framerate')]['psnr']:+.2f}"
                for k in rates if (clip, k, "interpnet") in by and (clip, k, "ffmpeg minterpolate") in by))
            lines.append("")
        ccd = [k for k in rates if (clip, k, "interpnet + CCDNet") in by]
        if ccd:
            def diff(k, other):
                r = by.get((clip, k, other))
                return f"{by[(clip, k, 'interpnet + CCDNet')]['psnr'] - r['psnr']:+.2f}" if r else "n/a"

            lines.append("With CCDNet (dB, all frames): " + "; ".join(
                f"1/{k}: interpnet + CCDNet - repeat (hold) {diff(k, 'repeat (hold)')}, - repeat (nearest) "
                f"{diff(k, 'repeat (nearest)')}, - repeat (nearest) + CCDNet {diff(k, 'repeat (nearest) + CCDNet')}, "
                f"- minterpolate + CCDNet {diff(k, 'ffmpeg minterpolate + CCDNet')}, - interpnet {diff(k, 'interpnet')}"
                for k in ccd))
            lines.append("")
        ref = [k for k in rates if (clip, k, REFERENCES[1]) in by and (clip, k, "repeat (hold)") in by]
        if ref:
            def gain(k, method):
                r = by.get((clip, k, method))
                return f"{r['psnr'] - by[(clip, k, 'repeat (hold)')]['psnr']:+.2f}" if r else "n/a"

            lines.append(f"Over repeat (hold), the reference {REFERENCES[1]!r} (no frame dropped; not interpolation) gains "
                         + ", ".join(f"1/{k} {gain(k, REFERENCES[1])}" for k in ref)
                         + " dB; interpnet + CCDNet " + ", ".join(f"1/{k} {gain(k, 'interpnet + CCDNet')}" for k in ref)
                         + " dB.")
            lines.append("")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    _plot(rows, os.path.join(out, "psnr.png"))


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = list(dict.fromkeys(r["clip"] for r in rows))
    fig, axes = plt.subplots(1, len(clips), figsize=(4.5 * len(clips), 3.6), squeeze=False)
    for ax, clip in zip(axes[0], clips):
        for method in dict.fromkeys(r["method"] for r in rows):
            rs = sorted((r for r in rows if r["clip"] == clip and r["method"] == method), key=lambda r: r["k"])
            ax.plot([r["k"] for r in rs], [r["psnr"] for r in rs], marker="o", label=method)
        kind = next(r["kind"] for r in rows if r["clip"] == clip)
        ax.set_xscale("log", base=2)
        ax.set_xticks([2, 4, 8], ["1/2", "1/4", "1/8"])
        ax.set_xlabel("frames kept")
        ax.set_ylabel("PSNR (dB), all frames")
        ax.set_title(f"{clip} ({kind})")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_videos(videos: dict, out: str, clip: str, rate: int, fps: float = 25.0, max_frames: int = 65) -> str:
    """Each method's first ``max_frames`` frames as an .mp4 and an ``index.html`` that plays them side by side."""
    from gif_pipeline.io import anim_pillow

    os.makedirs(out, exist_ok=True)
    cells = []
    for name in ["truth", *[m for m in METHODS if m in videos]]:
        file = name.replace(" + ", "_").replace(" ", "_").replace("(", "").replace(")", "") + ".mp4"
        frames = videos[name][:max_frames]
        anim_pillow.write_animation(os.path.join(out, file), frames, [1000.0 / fps] * len(frames), force=True)
        label = "true frames" if name == "truth" else name
        cells.append(f'<figure><video src="{file}" autoplay loop muted playsinline></video><figcaption>{label}'
                     "</figcaption></figure>")
    html = f"""<!doctype html><meta charset="utf-8"><title>Interpolation: {clip} at 1/{rate}</title>
<style>body{{font-family:sans-serif;margin:16px}}figure{{display:inline-block;margin:6px}}video{{width:480px}}</style>
<h1>{clip}: 32-colour GIF at 1/{rate} of the frames, rebuilt to the full rate</h1>
<p>The first {max_frames} frames, each video at {fps:g} fps, looping; all start together. Numbers: ../summary.md.</p>
{"".join(cells)}
<script>const v=[...document.querySelectorAll('video')];
setInterval(()=>{{const t=v[0].currentTime;v.forEach(x=>{{if(Math.abs(x.currentTime-t)>0.08)x.currentTime=t;}});}},1000);</script>
"""
    path = os.path.join(out, "index.html")
    with open(path, "w") as f:
        f.write(html)
    return path
