"""Interpolation bench (issue 27): the held-out real clip and synthetic clips, 32-colour GIFs at 1/2, 1/4, 1/8 of
the frames kept; PSNR/SSIM of InterpNet against frame repetition and ffmpeg's framerate / minterpolate, with and
without CCDNet; tables, a plot, speed per new 480x270 frame. See gif_pipeline/eval/interp.py.

    python benchmarks/interp_bench.py --model runs/interp/interp_net.keras --out results/interp
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="InterpNet .keras (default: the registry's, else runs/interp)")
    p.add_argument("--weights", default=None, help="a .weights.h5 (e.g. a run's best.weights.h5) loaded into --model's "
                   "layout or the run's config.json")
    p.add_argument("--out", default="results/interp")
    p.add_argument("--clips-dir", default=os.path.join("..", "shared", "data", "clips"))
    p.add_argument("--val-dir", default=os.path.join("..", "shared", "data", "val"))
    p.add_argument("--rates", default="2,4,8")
    p.add_argument("--colors", type=int, default=32)
    p.add_argument("--dither", action="store_true")
    p.add_argument("--max-frames", type=int, default=None, help="first frames of the held-out clip only")
    p.add_argument("--synthetic", type=int, default=2, help="synthetic clips (0: none)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--methods", default=None, help="comma-separated subset of the methods")
    p.add_argument("--video-rate", type=int, default=4, help="write the held-out clip's videos at this rate (0: none)")
    args = p.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from gif_pipeline.eval import interp as bench
    from gif_pipeline.models.interp.graph import InterpGraph

    model = load_model(args.model, args.weights)
    graph = InterpGraph(model)
    rates = tuple(int(k) for k in args.rates.split(","))
    methods = tuple(args.methods.split(",")) if args.methods else bench.METHODS
    clips = [(bench.motion.HELD_OUT_CLIP.rsplit(".", 1)[0], "real, held out",
              bench.held_out_clip(args.clips_dir, max_frames=args.max_frames))]
    clips += [(name, "synthetic, val photos", f) for name, f in bench.synthetic_clips(args.val_dir, args.synthetic)]
    # Warm-up: trace the graph at each clip size before anything is timed.
    from gif_pipeline.interpolate import iter_interpolated

    for _, _, frames in clips:
        list(iter_interpolated(frames[:2], 2, graph))
        if any(m.endswith("+ CCDNet") for m in methods):
            bench.restore_all(frames[:1], args.dither)
    notes = [f"Model: {args.model or ('registry' if not args.weights else '')}"
             f"{(' + ' if args.model else '') + args.weights if args.weights else ''} "
             f"(width x{model.config.width_multiplier}, {model.count_params():,} parameters, "
             f"{model.count_params() * 4 / 1e6:.1f} MB float32). One run, {args.threads} TensorFlow thread(s), "
             f"ffmpeg with 1 thread; {args.colors}-colour GIF, {'Floyd-Steinberg' if args.dither else 'no'} dither.",
             "Command: `python benchmarks/interp_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]) + "`",
             "All methods read the same GIF frames; '+ CCDNet': CCDNet-2 (plain model for a GIF without dither, dithered "
             "with it; consistency post-step on), see gif_pipeline/eval/interp.py. PSNR/SSIM are per-frame means against "
             "the true frames. "
             "'new frames' = the frames between kept ones; 's per new frame' = the method's wall time / new frames "
             "(mean over the rates)."]
    rows, videos = [], {}
    for i, (name, kind, frames) in enumerate(clips):
        print(f"{name} ({kind}): {len(frames)} frames of {frames.shape[2]}x{frames.shape[1]}", file=sys.stderr)
        rows += bench.evaluate_clip(name, kind, frames, graph, rates, args.colors, args.dither, methods,
                                    videos=videos if i == 0 and args.video_rate in rates else None,
                                    video_rate=args.video_rate)
        if i + 1 < len(clips):  # the finished clips' tables now (a long run can be read as it goes)
            bench.write_results(rows, args.out, "Frame interpolation bench (issue 27) [partial]", notes)
    if videos:  # the held-out clip, side by side
        bench.write_videos(videos, os.path.join(args.out, "videos"), clips[0][0], args.video_rate)
    bench.write_results(rows, args.out, "Frame interpolation bench (issue 27)", notes)
    print(open(os.path.join(args.out, "summary.md")).read())
    return 0


def load_model(path, weights):
    import json

    from gif_pipeline.models.interp.config import InterpNetConfig
    from gif_pipeline.models.interp.interp_net import build_interp_net
    from gif_pipeline.weights import registry

    if weights and not path:  # a run folder's best weights, with the layout from its config.json
        with open(os.path.join(os.path.dirname(weights), "config.json")) as f:
            model = build_interp_net(InterpNetConfig.from_dict(json.load(f)["model"]))
        model.load_weights(weights)
        return model
    model = registry.load("interp", explicit=path)
    if weights:
        model.load_weights(weights)
    return model


if __name__ == "__main__":
    sys.exit(main())
