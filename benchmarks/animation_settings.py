"""Encoder settings of ``encode_frames`` compared on the animation bench's clips (one row per clip and setting).

Each setting is a Python dict of ``encode_frames`` keywords; ``threshold=N`` overrides the reuse threshold that
``--quality`` would set; ``candidates=`` and ``multiplier=`` set ``dither='ordered'``'s ``animate.ORDERED_CANDIDATES``
and ``ORDERED_MULTIPLIER``; an upper-case key sets that ``animate`` constant for the row (``TIER_SCENE=0.3``); a key
``"ed:NAME"`` sets ``NAME`` of ``dithering.ED_SETTINGS`` (``{"quality": 100, "ed:attenuation": 0.5}``).
Prints bytes, mean PSNR, VMAF (``--vmaf``), colour error, flicker and encode seconds; the lab notebook
(docs/experiments/animation.md) records the runs that chose the defaults.

    python benchmarks/animation_settings.py --clips bigbuckbunny carphone_pristine --vmaf \\
        "dict(quality=90, dither='none')" "dict(quality=90, dither='fs')" "dict(threshold=8, colors=128)"
"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("settings", nargs="+", help="dicts of encode_frames keywords (threshold= overrides --quality's)")
    p.add_argument("--clips", nargs="+", default=None, help="bench clip names (default: all)")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--clips-dir", default="../shared/data/clips")
    p.add_argument("--val", default="../shared/data/val")
    p.add_argument("--vmaf", action="store_true")
    args = p.parse_args(argv)
    from gif_pipeline import animate
    from gif_pipeline.eval import animation_bench as ab
    from gif_pipeline.quant import dithering

    clips = ab.load_clips(args.clips_dir, args.val, args.frames, args.clips)
    animate.encode_frames(iter(clips[0].frames[:3]), None, fps=clips[0].fps)  # load the networks
    original = animate.quality_settings
    print("| clip | setting | bytes | PSNR dB | VMAF | colour ΔE | flicker | s | palettes |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for clip in clips:
        for text in args.settings:
            options = eval(text, {"dict": dict})  # noqa: S307 - a benchmark's own command line
            threshold = options.pop("threshold", None)
            ordered = {k: options.pop(k) for k in ("candidates", "multiplier") if k in options}
            knobs = {k: options.pop(k) for k in list(options) if k.isupper()}  # animate's module constants
            ed_knobs = {k[3:]: options.pop(k) for k in list(options) if k.startswith("ed:")}
            saved_ed = dict(dithering.ED_SETTINGS)
            dithering.ED_SETTINGS.update(ed_knobs)
            saved_knobs = {k: getattr(animate, k) for k in knobs}
            for k, v in knobs.items():
                setattr(animate, k, v)
            saved = animate.ORDERED_CANDIDATES, animate.ORDERED_MULTIPLIER
            animate.ORDERED_CANDIDATES = ordered.get("candidates", saved[0])
            animate.ORDERED_MULTIPLIER = ordered.get("multiplier", saved[1])
            if threshold is not None:
                animate.quality_settings = lambda q, t=threshold: {**original(q), "threshold": int(t)}
            try:
                start = time.perf_counter()
                r = animate.encode_frames(clip.frames, None, fps=clip.fps, **options)
                seconds = time.perf_counter() - start
            finally:
                animate.quality_settings = original
                animate.ORDERED_CANDIDATES, animate.ORDERED_MULTIPLIER = saved
                for k, v in saved_knobs.items():
                    setattr(animate, k, v)
                dithering.ED_SETTINGS.clear()
                dithering.ED_SETTINGS.update(saved_ed)
            m, _ = ab.measure(clip, r.gif_bytes, args.vmaf)
            print(f"| {clip.name} | `{text}` | {r.bytes:,} | {m['psnr']:.2f} | {m['vmaf']:.2f} | {m['colour']:.2f} | "
                  f"{m['flicker']:.3f} | {seconds:.2f} | {r.palette_mode} ({r.palettes}) |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
