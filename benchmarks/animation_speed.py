"""Wall time of the default animation encode against gifski on the same frames (issue 25's speed target).

For each bench clip (:func:`gif_pipeline.eval.animation_bench.load_clips`: bikes, bigbuckbunny, carphone, pan, zoom)
and each ``--quality``: :func:`gif_pipeline.animate.encode_frames` (frames in memory -> GIF bytes, default settings)
and gifski with the same ``--quality`` on the same frames as PNG files, alternated ``--repeats`` times; the table has
the medians, their ratio (gifnets / gifski, same run), both files' bytes and the first 12 hex digits of the sha256 of
gifnets' GIF (to check that a speed change left the bytes alone: run it before and after with the same arguments).
``--profile CLIP:Q`` prints a cProfile of one gifnets encode instead; ``--stages CLIP:Q`` the wall time of one encode
split by stage (each stage's own time, without the stages it calls; :func:`stage_times`).

    GIFSKI=node_modules/gifski/bin/debian/gifski python benchmarks/animation_speed.py \\
        [--clips ../shared/data/clips] [--val ../shared/data/val] [--frames 60] [--qualities 50 70 90] \\
        [--only bikes zoom] [--repeats 3] [--no-gifski]
"""
from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image


def _gifnets(clip, quality: int):
    from gif_pipeline import animate

    start = time.perf_counter()
    result = animate.encode_frames(clip.frames, None, fps=clip.fps, quality=quality)
    return time.perf_counter() - start, result.gif_bytes


def _gifski(exe: str, clip, quality: int, pngs: list[str], tmp: str):
    h, w = clip.frames[0].shape[:2]
    out = os.path.join(tmp, "gifski.gif")
    start = time.perf_counter()
    subprocess.run([exe, "--quiet", "--fps", f"{clip.fps:g}", "--quality", str(quality), "--width", str(w), "--height",
                    str(h), "-o", out, *pngs], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return seconds, os.path.getsize(out)


#: ``--stages``: stage name -> the functions whose own time counts for it (``module:qualname``).
STAGES = {
    "palette (network, warm Lloyd steps, mixed checks)": ("gif_pipeline.animate:_Encoder._choose_palette",
                                                          "gif_pipeline.runtime.backend:network_palette"),
    "remap / dither": ("gif_pipeline.animate:_NearestCache.__call__", "gif_pipeline.quant.ordered:PatternDither.__call__",
                       "gif_pipeline.quant.dithering:remap", "gif_pipeline.animate:_ErrorDiffusion.__call__",
                       "gif_pipeline.animate:_ErrorDiffusion.batch"),
    "frame diff, keep margin, transparency, canvas": ("gif_pipeline.animate:_Encoder.add", "gif_pipeline.animate:_Encoder.flush",
                                                      "gif_pipeline.animate:_Encoder._finish"),
    "LZW / GIF writing (Pillow encoder, verified)": ("gif_pipeline.io.animation:AnimationWriter.add",
                                                     "gif_pipeline.io.animation:AnimationWriter.close"),
    "auto's trial (other than the above)": ("gif_pipeline.animate:_pick_mode",),
    "global palette mosaic": ("gif_pipeline.animate:_mosaic",),
}


def stage_times(run) -> dict:
    """Call ``run()`` with the :data:`STAGES` functions wrapped by timers: ``{stage: own seconds}`` (a function's time
    less that of the wrapped functions it calls), plus ``total`` and ``other``."""
    import importlib

    own, stack, saved = {}, [], []

    def wrap(fn, stage):
        def timed(*a, **k):
            stack.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                elapsed = time.perf_counter() - start
                inner = stack.pop()
                own[stage] = own.get(stage, 0.0) + elapsed - inner
                if stack:
                    stack[-1] += elapsed
        return timed

    for stage, names in STAGES.items():
        for name in names:
            module, qual = name.split(":")
            owner = importlib.import_module(module)
            *path, attr = qual.split(".")
            for part in path:
                owner = getattr(owner, part)
            if not hasattr(owner, attr):
                continue
            saved.append((owner, attr, getattr(owner, attr)))
            setattr(owner, attr, wrap(getattr(owner, attr), stage))
    try:
        start = time.perf_counter()
        run()
        total = time.perf_counter() - start
    finally:
        for owner, attr, fn in reversed(saved):
            setattr(owner, attr, fn)
    own["other"] = total - sum(own.values())
    own["total"] = total
    return own


def main(argv=None) -> int:
    from gif_pipeline.eval import animation_bench as ab

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ab.add_clip_arguments(p, [50, 70, 90])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-gifski", action="store_true")
    p.add_argument("--profile", default=None, metavar="CLIP:Q", help="print a cProfile of one encode of CLIP at Q")
    p.add_argument("--stages", default=None, metavar="CLIP:Q", help="print one encode's time by stage (median of "
                   "--repeats)")
    args = p.parse_args(argv)
    start = time.perf_counter()
    clips = ab.load_clips(args.clips, args.val, args.frames, args.only)
    print(f"clips loaded (ffmpeg decode and scaling, synthetic pans/zooms) in {time.perf_counter() - start:.2f} s",
          file=sys.stderr)
    if args.stages:
        name, q = args.stages.split(":")
        clip = next(c for c in clips if c.name == name)
        _gifnets(clip, int(q))
        runs = [stage_times(lambda: _gifnets(clip, int(q))) for _ in range(args.repeats)]
        print(f"| {name} q{q} stage | s (median of {args.repeats}) |\n|---|---:|")
        for stage in runs[0]:
            print(f"| {stage} | {statistics.median(r.get(stage, 0.0) for r in runs):.3f} |")
        return 0
    if not clips:
        print(f"error: no clips in {args.clips} or {args.val}", file=sys.stderr)
        return 2
    if args.profile:
        name, q = args.profile.split(":")
        clip = next(c for c in clips if c.name == name)
        _gifnets(clip, int(q))  # loads the models
        prof = cProfile.Profile()
        prof.enable()
        seconds, _ = _gifnets(clip, int(q))
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(40)
        print(f"{name} q{q}: {seconds:.3f} s\n{out.getvalue()}")
        return 0
    exe = None if args.no_gifski else ab.gifski_exe()
    if not args.no_gifski and exe is None:
        print("gifski not found ($GIFSKI or npm install gifski); use --no-gifski", file=sys.stderr)
        return 2
    _gifnets(clips[0], args.qualities[0])  # loads the models once, outside the timings
    print("| clip | size | quality | gifnets s | gifski s | ratio | gifnets bytes | gifski bytes | gifnets sha256 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for clip in clips:
        with tempfile.TemporaryDirectory(prefix="gifnets_speed_") as tmp:
            pngs = []
            for i, rgb in enumerate(clip.frames):
                pngs.append(os.path.join(tmp, f"{i:04d}.png"))
                Image.fromarray(rgb).save(pngs[-1])
            pngs.sort()
            for q in args.qualities:
                ours, theirs, digests = [], [], set()
                size = their_size = 0
                for _ in range(args.repeats):
                    seconds, data = _gifnets(clip, q)
                    ours.append(seconds)
                    digests.add(hashlib.sha256(data).hexdigest()[:12])
                    size = len(data)
                    if exe:
                        seconds, their_size = _gifski(exe, clip, q, pngs, tmp)
                        theirs.append(seconds)
                a = statistics.median(ours)
                b = statistics.median(theirs) if theirs else float("nan")
                h, w = clip.frames[0].shape[:2]
                print(f"| {clip.name} | {w}x{h}x{len(clip.frames)} | {q} | {a:.2f} | {b:.2f} | {a / b:.2f} | {size:,} | "
                      f"{their_size:,} | {'/'.join(sorted(digests))} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
