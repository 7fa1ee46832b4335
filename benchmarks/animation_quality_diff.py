"""Quality of the default animation encode before and after a change, on the bench clips, measured side by side.

``--gen DIR`` writes the default encode of each bench clip at each ``--qualities`` value to ``DIR/<clip>_q<Q>.gif``
(run it once from each tree: ``PYTHONPATH=<tree>``); ``--compare BEFORE AFTER`` measures both folders' GIFs with the
animation bench's metrics (:func:`gif_pipeline.eval.animation_bench.measure`: mean PSNR, VMAF, flicker) and prints a
Markdown table with the bytes ratio and the PSNR / VMAF differences.

    PYTHONPATH=<old tree> python benchmarks/animation_quality_diff.py --gen /tmp/q/before
    PYTHONPATH=<new tree> python benchmarks/animation_quality_diff.py --gen /tmp/q/after
    python benchmarks/animation_quality_diff.py --compare /tmp/q/before /tmp/q/after
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    from gif_pipeline.eval import animation_bench as ab

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ab.add_clip_arguments(p, [60, 70, 80])
    p.add_argument("--no-vmaf", action="store_true")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--gen", metavar="DIR")
    mode.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = p.parse_args(argv)
    clips = ab.load_clips(args.clips, args.val, args.frames, args.only)
    if not clips:
        print(f"error: no clips in {args.clips} or {args.val}", file=sys.stderr)
        return 2
    if args.gen:
        from gif_pipeline import animate
        from gif_pipeline.io import files

        os.makedirs(args.gen, exist_ok=True)
        for clip in clips:
            for q in args.qualities:
                data = animate.encode_frames(clip.frames, None, fps=clip.fps, quality=q).gif_bytes
                with files.atomic_open(os.path.join(args.gen, f"{clip.name}_q{q}.gif"), force=True) as f:
                    f.write(data)
                print(clip.name, q, len(data), flush=True)
        return 0
    print("| clip | q | before bytes | PSNR | VMAF | flicker | after bytes | PSNR | VMAF | flicker | bytes ratio | "
          "dPSNR | dVMAF |")
    print("|---|---:|" + "---:|" * 11)
    for clip in clips:
        for q in args.qualities:
            row = []
            for folder in args.compare:
                with open(os.path.join(folder, f"{clip.name}_q{q}.gif"), "rb") as f:
                    data = f.read()
                m, _ = ab.measure(clip, data, not args.no_vmaf)
                row.append((len(data), m["psnr"], m["vmaf"], m["flicker"]))
            (b0, p0, v0, f0), (b1, p1, v1, f1) = row
            print(f"| {clip.name} | {q} | {b0:,} | {p0:.2f} | {v0:.2f} | {f0:.3f} | {b1:,} | {p1:.2f} | {v1:.2f} | "
                  f"{f1:.3f} | {b1 / b0:.4f} | {p1 - p0:+.2f} | {v1 - v0:+.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
