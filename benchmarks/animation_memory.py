"""Peak memory of ``gifnets encode`` on a 1080p, 300-frame clip (issue 25: at most 2 GB).

Makes a synthetic clip with ffmpeg (``testsrc2``, 1920x1080, 30 fps, 10 s: 300 frames, H.264), encodes it with
``python -m gif_pipeline encode`` in a child process (default settings: LiteRT networks, --quality 90) and prints a
table: frames, GIF bytes, wall seconds and the child's peak resident memory (``ru_maxrss`` of the encoder process;
ffmpeg's decoder is another process, measured separately by the same counter when it is the largest child).

    python benchmarks/animation_memory.py [--seconds 10] [--fps 30] [--size 1920x1080] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more gifnets encode arguments")
    args = p.parse_args(argv)
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="gifnets_mem_") as tmp:
        clip, out = os.path.join(tmp, "clip.mp4"), os.path.join(tmp, "clip.gif")
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size={args.size}:rate={args.fps:g}:duration={args.seconds:g}", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip], check=True)
        cmd = [sys.executable, "-m", "gif_pipeline", "encode", clip, "-o", out, "--json", "--quiet", *args.extra]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size = os.path.getsize(out)
    print("| clip | frames | GIF bytes | wall s | peak RSS MB (largest child) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| testsrc2 {args.size}, {args.seconds:g} s at {args.fps:g} fps | {int(args.seconds * args.fps)} | "
          f"{size:,} | {seconds:.1f} | {peak_kb / 1024:.0f} |")
    print(proc.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
