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


def factor(text: str, option: str = "--factor") -> int:
    if text not in ("2", "4", "8"):
        raise argparse.ArgumentTypeError(f"{option} must be 2, 4 or 8, got {text!r}")
    return int(text)


def add_parser(sub):
    p = sub.add_parser(
        "interpolate", help="add frames between the frames of animated GIFs",
        description="Interpolate new frames between the frames of animated GIFs with the GIF2Video / Super SloMo "
        "network: --factor times the frames, each lasting 1/factor of its source frame, so the animation keeps its "
        "length. OUT is a .gif, .webp, .mp4, or a folder (PNG frames named 0000.png, 0001.png, ...). Several "
        "inputs: OUT is a folder and each IN becomes NAME.<--format>.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="animated GIFs (or animated WebP / PNG)")
    cli_args.add_output_arguments(p, output_help="output .gif, .webp, .mp4 file or a folder")
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


def plan(src: str, dst: str, frames, durations, *, factor: int | None, fps: float | None, force: bool,
         quiet: bool = False) -> int:
    """The factor for ``frames`` written to ``dst`` (``--factor`` or the one that reaches ``--fps``), after the checks
    that come before any work: ``dst`` not there (without ``force``), GIF/WebP frames of 20 ms or more, memory.
    ``gifnets interpolate`` and ``gifnets restore --interpolate`` call it."""
    from gif_pipeline import interpolate as interp
    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.io import anim_pillow

    kind = anim_pillow.output_kind(dst)
    if os.path.lexists(dst) and not force and kind != "folder":
        raise GifnetsError(f"{dst}: already exists (use --force to overwrite)")
    n, h, w = frames.shape[:3] if hasattr(frames, "shape") else (len(frames), *frames[0].shape[:2])
    fps_in = interp.input_fps(durations)
    k = interp.factor_for_fps(fps, fps_in) if fps else (factor or 2)
    if fps and not quiet:
        print(f"gifnets: {src}: --fps {fps:g} from {fps_in:.3g} fps: factor {k} ({fps_in * k:.3g} fps)", file=sys.stderr)
    if kind in (".gif", ".webp") and interp.min_interval_ms(durations, k) < 20:
        raise interp.InterpolationError(
            f"{src}: factor {k} makes frames of {interp.min_interval_ms(durations, k):.3g} ms; browsers show GIF "
            "frames under 20 ms at 100 ms: use a smaller factor or --fps <= 50, or write .mp4 or a folder")
    if kind in (".gif", ".webp") and n * k * h * w * 3 > MAX_BYTES:
        raise interp.InterpolationError(f"{src}: {n} x {k} frames of {w}x{h} need {n * k * h * w * 3 / 2**30:.1f} "
                                        f"GiB as a {kind}; write .mp4 or a folder (streamed) instead")
    return k


def write(src: str, dst: str, frames, durations, loop: int, k: int, *, force: bool, protect=(),
          model_path: str | None = None, restored=None, flow_input: str | None = None) -> dict:
    """Interpolate ``frames`` ``k`` times (warping ``restored``, an iterable of restored frames, if given) into
    ``dst`` with the timing kept, streamed into .mp4 and folders; the stats of the run."""
    from gif_pipeline import interpolate as interp
    from gif_pipeline.io import anim_pillow

    start = time.perf_counter()
    frames = interp.check_frames(frames)
    n, h, w = frames.shape[:3]
    fps_in = interp.input_fps(durations)
    # streamed into .mp4 / a folder
    out = interp.iter_interpolated(frames, k, model_path=model_path, restored=restored, flow_input=flow_input)
    new_durations = anim_pillow.split_durations(durations, k)
    anim_pillow.write_animation(dst, out, new_durations, loop, force=force, protect=[src, *protect])
    seconds = time.perf_counter() - start
    return {"input": src, "output": dst, "frames_in": int(n), "frames_out": int(n * k), "factor": k,
            "fps_in": round(fps_in, 3), "fps_out": round(fps_in * k, 3),
            "duration_ms_in": int(sum(durations)), "duration_ms_out": int(sum(new_durations)),
            "size": [int(w), int(h)], "seconds": round(seconds, 3),
            "s_per_new_frame": round(seconds / max(1, (n - 1) * (k - 1)), 4)}


def describe_frames(s: dict) -> str:
    return (f"{s['frames_in']} -> {s['frames_out']} frames ({s['fps_in']:g} -> {s['fps_out']:g} fps, "
            f"{s['duration_ms_out'] / 1000:g} s)")


def run(args) -> int:
    from gif_pipeline.encode import require_tensorflow

    # its networks run on TensorFlow (not yet on the LiteRT runtime)
    require_tensorflow("gifnets interpolate", () if args.model else ("interp",))
    from gif_pipeline import interpolate as interp
    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.io import anim_pillow

    def process(src: str, dst: str) -> dict:
        if os.path.lexists(dst) and not args.force and anim_pillow.output_kind(dst) != "folder":
            raise GifnetsError(f"{dst}: already exists (use --force to overwrite)")  # before any reading
        frames, durations, loop = anim_pillow.read_animation(src, max_pixels=MAX_BYTES // 2)
        if len(frames) < 2:
            anim_pillow.write_animation(dst, frames, durations, loop, force=args.force, protect=[src])
            raise interp.InterpolationError(f"{src}: a still image (1 frame): nothing to interpolate; "
                                            f"wrote it unchanged to {dst}")
        k = plan(src, dst, frames, durations, factor=args.factor, fps=args.fps, force=args.force, quiet=args.quiet)
        return write(src, dst, frames, durations, loop, k, force=args.force, model_path=args.model)

    def describe(s: dict) -> str:
        return (f"{s['input']} -> {s['output']}: {describe_frames(s)}, "
                f"{s['s_per_new_frame']:.3f} s per new frame, writing included")

    try:
        pairs = _plan(args)
    except OSError as e:
        raise GifnetsError(f"{args.output}: cannot create the output folder ({e.strerror or e})") from None
    return batch.run(pairs, process, desc="interpolate", quiet=args.quiet, as_json=args.json, describe=describe)
