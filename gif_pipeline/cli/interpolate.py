"""``gifnets interpolate``: animated GIFs -> 2, 4 or 8 times the frames (GIF2Video §4.2), timing kept."""
from __future__ import annotations

import argparse
import os
import sys
import time

from gif_pipeline.cli import args as cli_args
from gif_pipeline.cli import batch

FORMATS = ("gif", "webp", "mp4", "frames")
MAX_BYTES = 2 << 30  # frames held in memory: the input's, plus the output's for .gif/.webp (.mp4 and folders stream)


def factor(text: str) -> int:
    if text not in ("2", "4", "8"):
        raise argparse.ArgumentTypeError(f"--factor must be 2, 4 or 8, got {text!r}")
    return int(text)


def add_parser(sub):
    p = sub.add_parser(
        "interpolate", help="add frames between the frames of animated GIFs",
        description="Interpolate new frames between the frames of animated GIFs with the GIF2Video / Super SloMo "
        "network: --factor times the frames, each lasting 1/factor of its source frame, so the animation keeps its "
        "length. OUT is a .gif, .webp, .mp4, or a folder (PNG frames named 0000.png, 0001.png, ...). Several "
        "inputs: OUT is a folder and each IN becomes NAME.<--format>.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="animated GIFs (or animated WebP / PNG)")
    cli_args.add_output_arguments(p)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--factor", type=factor, default=None, help="2, 4 or 8 times the frames (default: 2)")
    how.add_argument("--fps", type=cli_args.positive_float, default=None,
                     help="the target frame rate: the smallest factor of 2, 4, 8 that reaches it")
    p.add_argument("--format", choices=FORMATS, default="gif", help="output format with several inputs "
                   "(default: %(default)s)")
    p.add_argument("--model", default=None, metavar="PATH", help="an InterpNet .keras file (default: the shipped "
                   "weights, else runs/interp/interp_net.keras)")
    p.set_defaults(func=run)


def _plan(args) -> list[tuple[str, str]]:
    if len(args.inputs) == 1:
        return [(args.inputs[0], args.output)]
    os.makedirs(args.output, exist_ok=True)
    ext = "" if args.format == "frames" else "." + args.format
    return [(src, os.path.join(args.output, os.path.splitext(os.path.basename(src))[0] + ext)) for src in args.inputs]


def run(args) -> int:
    from gif_pipeline.encode import require_tensorflow

    require_tensorflow("gifnets interpolate")  # its networks run on TensorFlow (not yet on the LiteRT runtime)
    from gif_pipeline import interpolate as interp
    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.io import anim_pillow

    def process(src: str, dst: str) -> dict:
        kind = anim_pillow.output_kind(dst)
        if os.path.lexists(dst) and not args.force and kind != "folder":
            raise GifnetsError(f"{dst}: already exists (use --force to overwrite)")
        frames, durations, loop = anim_pillow.read_animation(src, max_pixels=MAX_BYTES // 2)
        n, h, w = frames.shape[:3]
        if n < 2:
            anim_pillow.write_animation(dst, frames, durations, loop, force=args.force, protect=[src])
            raise interp.InterpolationError(f"{src}: a still image (1 frame): nothing to interpolate; "
                                            f"wrote it unchanged to {dst}")
        fps_in = interp.input_fps(durations)
        k = interp.factor_for_fps(args.fps, fps_in) if args.fps else (args.factor or 2)
        if args.fps and not args.quiet:
            print(f"gifnets: {src}: --fps {args.fps:g} from {fps_in:.3g} fps: factor {k} ({fps_in * k:.3g} fps)",
                  file=sys.stderr)
        if kind in (".gif", ".webp") and interp.min_interval_ms(durations, k) < 20:
            raise interp.InterpolationError(
                f"{src}: factor {k} makes frames of {interp.min_interval_ms(durations, k):.3g} ms; browsers show GIF "
                "frames under 20 ms at 100 ms: use a smaller factor or --fps <= 50, or write .mp4 or a folder")
        if kind in (".gif", ".webp") and n * k * h * w * 3 > MAX_BYTES:
            raise interp.InterpolationError(f"{src}: {n} x {k} frames of {w}x{h} need {n * k * h * w * 3 / 2**30:.1f} "
                                            f"GiB as a {kind}; write .mp4 or a folder (streamed) instead")
        start = time.perf_counter()
        interp.check_frames(frames)
        out = interp.iter_interpolated(frames, k, model_path=args.model)  # streamed into .mp4 / a folder
        new_durations = anim_pillow.split_durations(durations, k)
        anim_pillow.write_animation(dst, out, new_durations, loop, force=args.force, protect=[src])
        seconds = time.perf_counter() - start
        return {"input": src, "output": dst, "frames_in": int(n), "frames_out": int(n * k), "factor": k,
                "fps_in": round(fps_in, 3), "fps_out": round(fps_in * k, 3),
                "duration_ms_in": int(sum(durations)), "duration_ms_out": int(sum(new_durations)),
                "size": [int(w), int(h)], "seconds": round(seconds, 3),
                "s_per_new_frame": round(seconds / max(1, (n - 1) * (k - 1)), 4)}

    def describe(s: dict) -> str:
        return (f"{s['input']} -> {s['output']}: {s['frames_in']} -> {s['frames_out']} frames "
                f"({s['fps_in']:g} -> {s['fps_out']:g} fps, {s['duration_ms_out'] / 1000:g} s), "
                f"{s['s_per_new_frame']:.3f} s per new frame, writing included")

    try:
        pairs = _plan(args)
    except OSError as e:
        raise GifnetsError(f"{args.output}: cannot create the output folder ({e.strerror or e})") from None
    return batch.run(pairs, process, desc="interpolate", quiet=args.quiet, as_json=args.json, describe=describe)
