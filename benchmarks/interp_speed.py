"""Speed of InterpNet per new 480x270 frame (issue 27 target: <= 0.5 s on this machine), 1 TensorFlow thread:
wall time and this process's CPU time (on a shared machine the wall time includes waiting for a core).

    python benchmarks/interp_speed.py [--model gif_pipeline/weights/interp.keras] [--pairs 3] [--factor 4]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--factor", type=int, default=4)
    p.add_argument("--clips-dir", default=os.path.join("..", "shared", "data", "clips"))
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from gif_pipeline.eval import interp as bench
    from gif_pipeline.interpolate import iter_interpolated, load_graph

    frames = bench.held_out_clip(args.clips_dir, max_frames=args.pairs * args.factor + 1)[:: args.factor]
    graph = load_graph(args.model)
    list(iter_interpolated(frames[:2], args.factor, graph))  # warm-up (tracing)
    wall, cpu = time.perf_counter(), time.process_time()
    list(iter_interpolated(frames, args.factor, graph))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    new = (len(frames) - 1) * (args.factor - 1)
    print("| frames | factor | new frames | wall s / new frame | CPU s / new frame | new frames / s (wall) | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| 480x270 | {args.factor} | {new} | {wall / new:.3f} | {cpu / new:.3f} | {new / wall:.2f} | "
          f"{os.getloadavg()[0]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
