"""Speed of `gifnets restore` (CCDNet-k, TensorFlow path) on a 512x512 GIF still: seconds and images/s.

    python benchmarks/restore_speed.py [--size 512] [--repeats 3] [--threads 0]

Times ``restore.restore_image`` (in memory -> in memory, the classifier routing included, `--model auto`) after a
warm-up call; prints the median wall time and the process's CPU time (all threads; on a shared, loaded machine the
wall time includes waiting for a core). Compare rows of one run, not across runs.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: default)")
    args = p.parse_args()
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from PIL import Image

    from gif_pipeline import restore
    from gif_pipeline.data.images import default_sources

    with Image.open(default_sources()[0]) as im:
        gif = np.asarray(im.convert("RGB").resize((args.size, args.size)).quantize(32).convert("RGB"))
    print(f"| CCDNet-k | {args.size}x{args.size} wall s (median of {args.repeats}) | images/s | CPU s (all threads) |")
    print("|---|---|---|---|")
    for steps in (1, 2, 3):
        restore.restore_image(gif, steps=steps)
        times, cpu = [], []
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            restore.restore_image(gif, steps=steps)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        m = statistics.median(times)
        print(f"| {steps} | {m:.3f} | {1 / m:.2f} | {statistics.median(cpu):.3f} |", flush=True)


if __name__ == "__main__":
    main()
