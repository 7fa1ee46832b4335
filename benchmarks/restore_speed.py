"""Speed of `gifnets restore` (CCDNet-k) on a 512x512 32-colour GIF still, TensorFlow and LiteRT side by side.

    python benchmarks/restore_speed.py [--size 512] [--repeats 3] [--rounds 2] [--backends tf,litert]
                                       [--litert-threads 1,2] [--threads 0]
    python benchmarks/restore_speed.py --cli --repeats 5 --steps 2       # whole-process `gifnets restore`
    python benchmarks/restore_speed.py --agree ../shared/data/val        # LiteRT vs TensorFlow outputs on a folder

Times ``restore.restore_image`` (in memory -> in memory: the classifier routing of ``--model auto``, the palette,
the network and the consistency post-step) after a warm-up call, for each backend (``tf``: the ``.keras`` files;
``litert``: the ``.tflite`` files of ``python -m export.export_runtime --kinds restore``, once per XNNPACK thread
count of ``--litert-threads``). The weights are the registry's (``$GIFNETS_WEIGHTS`` to point at another folder).
The configurations take turns, ``--rounds`` times (each round reloads them), so that a machine's changing load
falls on all of them; the table has the median over rounds and repeats, the process's CPU time (all threads) and
the load average. A second table compares each LiteRT output with TensorFlow's (uint8 grey levels).
Compare rows of one run, not across runs.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load_average() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3, help="timed calls per configuration, CCDNet-k and round")
    p.add_argument("--rounds", type=int, default=2, help="turns of every configuration (default: %(default)s)")
    p.add_argument("--steps", default="1,2,3", help="CCDNet-k to time (default: %(default)s)")
    p.add_argument("--backends", default="tf,litert", help="comma-separated: tf, litert (default: %(default)s)")
    p.add_argument("--litert-threads", default="1,2", help="XNNPACK threads of the litert rows (default: %(default)s)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: default)")
    p.add_argument("--agree", default=None, metavar="DIR",
                   help="instead of timing: LiteRT vs TensorFlow on every photo of DIR at 32 colours, plain and "
                   "Floyd-Steinberg (Pillow), every CCDNet-k, post-step on: grey-level differences and routing")
    p.add_argument("--cli", action="store_true",
                   help="instead: whole-process `gifnets restore` (start-up, imports and loading included) per backend")
    args = p.parse_args(argv)
    if args.cli:
        return whole_process(args)
    if args.agree:
        return agreement(args.agree, [int(k) for k in args.steps.split(",") if k])
    backends = [b for b in args.backends.split(",") if b]
    steps = [int(k) for k in args.steps.split(",") if k]
    from PIL import Image

    from gif_pipeline import restore
    from gif_pipeline.runtime import restore as runtime

    if "tf" in backends:
        import tensorflow as tf

        if args.threads:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    configs = [("tf", args.threads or None)] if "tf" in backends else []
    configs += [("litert", int(t)) for t in args.litert_threads.split(",") if t] if "litert" in backends else []
    sample = os.path.join(os.path.dirname(restore.__file__), "samples", "hopper.jpg")
    with Image.open(sample) as im:
        gif = np.asarray(im.convert("RGB").resize((args.size, args.size)).quantize(32).convert("RGB"))
    if "litert" in backends:
        sizes = ", ".join(f"{os.path.basename(runtime.path(k))} {os.path.getsize(runtime.path(k)):,} bytes"
                          for k in runtime.KINDS if runtime.available(k))
        print(f"LiteRT models: {sizes or 'none installed'}")
    print(f"load average (1/5/15 min) at the start: {_load_average()}", flush=True)

    times, cpu, outputs, routed = {}, {}, {}, {}
    for _ in range(args.rounds):
        for backend, threads in configs:
            if threads:
                os.environ["GIFNETS_THREADS"] = str(threads)
            restore.clear_model_cache()
            for k in steps:
                result = restore.restore_image(gif, steps=k, backend=backend)  # warm-up: load, trace, allocate
                key = (backend, threads, k)
                outputs[key], routed[key] = result.image, f"{result.model} ({result.backend})"
                for _ in range(args.repeats):
                    t, c = time.perf_counter(), time.process_time()
                    restore.restore_image(gif, steps=k, backend=backend)
                    times.setdefault(key, []).append(time.perf_counter() - t)
                    cpu.setdefault(key, []).append(time.process_time() - c)
    print(f"load average at the end: {_load_average()}\n")
    n = args.rounds * args.repeats
    print(f"| backend | threads | CCDNet-k | model | {args.size}x{args.size} wall s (median of {n}) | images/s "
          "| CPU s (all threads) |")
    print("|---|---|---|---|---|---|---|")
    for k in steps:
        for backend, threads in configs:
            key = (backend, threads, k)
            m = statistics.median(times[key])
            print(f"| {backend} | {threads or 'default'} | {k} | {routed[key]} | {m:.3f} | {1 / m:.2f} "
                  f"| {statistics.median(cpu[key]):.3f} |", flush=True)
    if "tf" in backends and len(configs) > 1:
        print("\n| LiteRT vs TensorFlow | CCDNet-k | max grey-level difference | values > 1 level apart |")
        print("|---|---|---|---|")
        for k in steps:
            want = outputs[("tf", args.threads or None, k)].astype(int)
            for backend, threads in configs[1:]:
                diff = np.abs(outputs[(backend, threads, k)].astype(int) - want)
                print(f"| litert, {threads} thread(s) | {k} | {diff.max()} | {100 * np.mean(diff > 1):.4f} % |")


def whole_process(args) -> None:
    """`python -m gif_pipeline restore GIF -o OUT --backend B` as a user runs it, median of ``--repeats`` (after one
    untimed run), the backends taking turns; the CCDNet-k of ``--steps`` (first value)."""
    import subprocess
    import tempfile

    from PIL import Image

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    steps = args.steps.split(",")[0]
    backends = [b for b in args.backends.split(",") if b]
    with tempfile.TemporaryDirectory() as tmp:
        gif = os.path.join(tmp, "in.gif")
        with Image.open(os.path.join(root, "gif_pipeline", "samples", "hopper.jpg")) as im:
            im.convert("RGB").resize((args.size, args.size)).quantize(32).save(gif)
        print(f"load average at the start: {_load_average()}")
        times = {}
        for i in range(args.repeats + 1):
            for b in backends:
                cmd = [sys.executable, "-m", "gif_pipeline", "restore", gif, "-o", os.path.join(tmp, "out.png"), "-f",
                       "-q", "--steps", steps, "--backend", b]
                t = time.perf_counter()
                subprocess.run(cmd, check=True, cwd=root)
                if i:
                    times.setdefault(b, []).append(time.perf_counter() - t)
        print(f"load average at the end: {_load_average()}\n")
        print(f"| backend | `gifnets restore` {args.size}x{args.size} GIF, CCDNet-{steps}, whole process s "
              f"(median of {args.repeats}) |")
        print("|---|---|")
        for b in backends:
            print(f"| {b} | {statistics.median(times[b]):.2f} |")


def agreement(folder: str, steps) -> None:
    """LiteRT vs TensorFlow restored images (``--model auto``) over the photos of ``folder``."""
    from PIL import Image

    from gif_pipeline import restore

    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs if f.lower().endswith((".png", ".jpg")))
    stats, routes, p_diff = {}, [0, 0], 0.0
    for path in files:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        plain = rgb.quantize(32)
        for name, q in (("plain", plain), ("fs", rgb.quantize(palette=plain, dither=Image.Dither.FLOYDSTEINBERG))):
            gif = np.asarray(q.convert("RGB"))
            p_diff = max(p_diff, abs(restore.classify(gif, backend="litert") - restore.classify(gif, backend="tf")))
            for k in steps:
                lite, keras_ = (restore.restore_image(gif, steps=k, backend=b) for b in ("litert", "tf"))
                routes[0] += lite.model == keras_.model
                routes[1] += 1
                if lite.model != keras_.model:
                    continue
                d = np.abs(lite.image.astype(int) - keras_.image.astype(int))
                s = stats.setdefault((name, k), [0, 0, 0.0, 0])
                s[0], s[1], s[2], s[3] = max(s[0], int(d.max())), s[1] + int(np.sum(d > 1)), s[2] + float(d.sum()), s[3] + d.size
    print(f"{len(files)} photos of {folder}, 32 colours (Pillow median cut), --model auto, post-step on; "
          f"same routing {routes[0]}/{routes[1]}, largest |P(dithered) LiteRT - TF| {p_diff:.2e}; "
          f"load average {_load_average()}\n")
    print("| GIF | CCDNet-k | max grey-level difference | values > 1 level apart | mean abs difference |")
    print("|---|---|---|---|---|")
    for (name, k), (mx, over, total, n) in sorted(stats.items()):
        print(f"| {name} | {k} | {mx} | {100 * over / n:.4f} % | {total / n:.4f} |")


if __name__ == "__main__":
    main()
