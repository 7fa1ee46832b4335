#!/usr/bin/env python
"""The DitherNet runtime network alone on LiteRT: ms per image at 1 and 2 threads, files side by side (issue 24).

    python benchmarks/dither_net_speed.py shipped=gif_pipeline/weights/dither_np16.tflite cand=DIR/dither_np16.tflite

Each file's ``unet`` signature (the network after its padding, as ``gifnets encode`` runs it: the runtime's
:meth:`gif_pipeline.runtime.litert.Model.compiled`, i.e. LiteRT's CompiledModel API with XNNPACK where it works) runs
on one ``--size`` x ``--size`` input of random values. The files take turns, one call each per round, so that the
machine's load falls on all alike; the table gives the median and the minimum over ``--rounds`` rounds after
``--warmup`` calls, and each file's median as a ratio to the first file's at the same thread count.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def unet_runner(path: str, threads: int):
    """``(run, channels)``: the file's ``unet`` signature as the runtime runs it, and its input's channel count."""
    from gif_pipeline.runtime import litert

    model = litert.Model(path, num_threads=threads)
    details = model.interpreter.get_signature_runner("unet").get_input_details()
    (spec,) = details.values()
    return model.compiled("unet"), int(spec["shape"][-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", metavar="NAME=FILE", help="DitherNet runtime files (.tflite)")
    p.add_argument("--size", type=int, default=256, help="input side, a multiple of 8 (default: %(default)s)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=25, help="timed rounds (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per file first (default: %(default)s)")
    args = p.parse_args(argv)
    files = []
    for spec in args.files:
        name, _, path = spec.partition("=")
        if not name or not path:
            p.error(f"wanted NAME=FILE, got {spec!r}")
        if not os.path.isfile(path):
            print(f"dither_net_speed: error: no file {path}", file=sys.stderr)
            return 2
        files.append((name, path))
    if args.size % 8:
        p.error("--size must be a multiple of 8")
    rng = np.random.default_rng(0)
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        runners = [unet_runner(path, threads) for _, path in files]
        inputs = [rng.uniform(-1, 1, (1, args.size, args.size, c)).astype(np.float32) for _, c in runners]
        for (run, _), x in zip(runners, inputs):
            for _ in range(args.warmup):
                run(x)
        times = [[] for _ in files]
        for _ in range(args.rounds):
            for i, ((run, _), x) in enumerate(zip(runners, inputs)):
                start = time.perf_counter()
                run(x)
                times[i].append(1000 * (time.perf_counter() - start))
        first = statistics.median(times[0])
        for (name, path), t in zip(files, times):
            rows.append((name, threads, statistics.median(t), min(t), statistics.median(t) / first))
    print(f"DitherNet runtime network alone, {args.size}x{args.size}, {args.rounds} alternating rounds "
          f"(load average {os.getloadavg()[0]:.1f} at the end)\n")
    print("| file | threads | median ms | min ms | vs first |")
    print("|---|---:|---:|---:|---:|")
    for name, threads, median, low, ratio in rows:
        print(f"| {name} | {threads} | {median:.1f} | {low:.1f} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
