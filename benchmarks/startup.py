"""Whole-process start-up, time and memory of ``gifnets encode`` beside pngquant, and the runtime install (issue #24).

    python benchmarks/startup.py [--photo PHOTO] [--repeats 5] [--with-tf] [--weights DIR] [--before DIR]
                                  [--also-env VAR=VALUE ...]
    python benchmarks/startup.py --skip-timing --install /work/scratch35/inst [--keras-weights]

Makes a 1200x800 photo (the first photo of ../shared/data/train resized, unless ``--photo``), then runs each
command ``--repeats`` times as its own process (after one untimed run that warms the page cache; the timed runs
round-robin over the commands) and prints the
median wall time, CPU time (user + system: less sensitive to other jobs on the machine) and peak RSS of the child
(``os.wait4``'s ``ru_utime``, ``ru_stime``, ``ru_maxrss``): ``gifnets encode`` at 256 and
16 colours on the default (LiteRT) backend, ``--backend tf`` with ``--with-tf``, ``gifnets --help``, and pngquant
at 256 and 16 colours. gifnets runs as ``python -m gif_pipeline`` from this checkout.

``--install DIR``: a fresh venv in DIR, ``pip install .`` of this checkout timed twice (the second time into
another fresh venv, with pip's wheel cache warm), the size of its site-packages and of gif_pipeline's files, whether
TensorFlow or Keras got in, and `gifnets encode` of a val photo there at 256 and 16 colours (and --backend tf: one
line naming what to install). ``--keras-weights``: then ``pip install ./keras_weights`` into that venv, its size.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "..", "shared", "data", "train")
VAL = os.path.join(ROOT, "..", "shared", "data", "val")


def make_photo(path: str, source: str | None = None) -> str:
    from PIL import Image

    if source is None:
        for root, _, files in sorted(os.walk(TRAIN)):
            photos = sorted(f for f in files if f.lower().endswith((".jpg", ".png")))
            if photos:
                source = os.path.join(root, photos[0])
                break
    Image.open(source).convert("RGB").resize((1200, 800), Image.Resampling.LANCZOS).save(path)
    return source


def run(cmd: list[str], env: dict) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS (MiB), exit code and CPU seconds (user + system, all threads) of one run of ``cmd``."""
    start = time.perf_counter()
    # from a neutral folder: `python -m` puts the working directory first on sys.path, before $PYTHONPATH
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode, usage.ru_utime + usage.ru_stime


def measure(commands: dict, repeats: int, env: dict) -> list[tuple]:
    """``commands``: name -> argv, or (argv, extra environment). Each runs once untimed (page cache), then the timed
    runs go round-robin over the commands (command A, B, C, A, B, C, ...), so that a change of load on a shared
    machine falls on every row alike."""
    runs = {}
    for name, cmd in commands.items():
        runs[name] = (cmd, env) if isinstance(cmd, list) else (cmd[0], {**env, **cmd[1]})
        run(*runs[name])  # warm the page cache
    results = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (cmd, cmd_env) in runs.items():
            results[name].append(run(cmd, cmd_env))
    rows = []
    for name, res in results.items():
        codes = {r[2] for r in res}
        rows.append((name, statistics.median(r[0] for r in res), min(r[0] for r in res),
                     statistics.median(r[1] for r in res), codes, statistics.median(r[3] for r in res)))
        print(f"| {name} | {rows[-1][1]:.2f} | {rows[-1][2]:.2f} | {rows[-1][5]:.2f} | {rows[-1][3]:.0f} | "
              f"{','.join(map(str, codes))} |", flush=True)
    return rows


def du(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def install(venv_root: str, keras_weights: bool = False) -> None:
    src = tempfile.mkdtemp(prefix="gifnets-src-")
    try:  # a clean copy of the checkout (no build/ or egg-info from an editable install)
        subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", "-o", os.path.join(src, "src.tar"), "HEAD"],
                       check=True)
        subprocess.run(["tar", "-xf", "src.tar"], cwd=src, check=True)
        os.remove(os.path.join(src, "src.tar"))
        for attempt in ("first (cache may be cold)", "second (wheel cache warm)"):
            venv = os.path.join(venv_root, "venv")
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            pip = os.path.join(venv, "bin", "pip")
            start = time.perf_counter()
            r = subprocess.run([pip, "install", "-q", "--disable-pip-version-check", src], capture_output=True, text=True)
            took = time.perf_counter() - start
            if r.returncode:
                print(r.stdout[-2000:], r.stderr[-2000:])
                raise SystemExit("pip install failed")
            print(f"pip install . ({attempt}): {took:.1f} s")
        code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        site = subprocess.run([os.path.join(venv, "bin", "python"), "-c", code], capture_output=True, text=True,
                              check=True).stdout.strip()
        names = sorted(os.listdir(site))
        print(f"site-packages: {du(site) / 1e6:.1f} MB ({site})")
        biggest = sorted(((du(os.path.join(site, n)), n) for n in names if os.path.isdir(os.path.join(site, n))), reverse=True)
        print("  largest: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for s, n in biggest[:8]))
        print(f"  tensorflow installed: {any(n.startswith('tensorflow') for n in names)}; "
              f"keras installed: {any(n.startswith('keras') for n in names)}")
        package = os.path.join(site, "gif_pipeline")
        weights = os.path.join(package, "weights")
        print(f"  gif_pipeline: {du(package) / 1e6:.1f} MB, of which weights/ {du(weights) / 1e6:.1f} MB "
              f"({', '.join(sorted(f for f in os.listdir(weights) if f.endswith(('.tflite', '.keras'))))})")
        gifnets = os.path.join(venv, "bin", "gifnets")
        photos = sorted(os.path.join(r, f) for r, _, fs in os.walk(VAL) for f in fs if f.endswith(".png"))
        photo = photos[0] if photos else os.path.join(src, "gif_pipeline", "samples", "hopper.jpg")
        out = os.path.join(venv_root, "photo.gif")
        for extra in ([], ["--colors", "16"], ["--backend", "tf"]):
            r = subprocess.run([gifnets, "encode", photo, "-o", out, "-f", *extra], capture_output=True, text=True,
                               cwd=venv_root)
            print(f"  venv's `gifnets encode {os.path.relpath(photo, ROOT)} {' '.join(extra)}`: exit {r.returncode}: "
                  f"{(r.stdout + r.stderr).strip()}")
        if keras_weights:
            start = time.perf_counter()
            r = subprocess.run([pip, "install", "-q", "--disable-pip-version-check", os.path.join(src, "keras_weights")],
                               capture_output=True, text=True)
            took = time.perf_counter() - start
            extra_dir = os.path.join(site, "gifnets_keras_weights")
            print(f"pip install ./keras_weights: exit {r.returncode}, {took:.1f} s; gifnets_keras_weights "
                  f"{du(extra_dir) / 1e6:.1f} MB; site-packages then {du(site) / 1e6:.1f} MB")
            code = "from gif_pipeline.weights import registry; print(registry.missing_keras() or 'none missing')"
            r = subprocess.run([os.path.join(venv, "bin", "python"), "-c", code], capture_output=True, text=True,
                               cwd=venv_root)
            print(f"  .keras files the registry lists and cannot find: {(r.stdout + r.stderr).strip()}")
    finally:
        shutil.rmtree(src, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photo", default=None, help="a photo to resize to 1200x800 (default: the first of ../shared/data/train)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--with-tf", action="store_true", help="also time --backend tf (3 runs)")
    p.add_argument("--install", metavar="DIR", default=None, help="measure a fresh runtime install in DIR")
    p.add_argument("--keras-weights", action="store_true",
                   help="with --install: then add `pip install ./keras_weights` to that venv and measure it")
    p.add_argument("--weights", metavar="DIR", default=None,
                   help="also time the encodes on the weights folder DIR ($GIFNETS_WEIGHTS; e.g. float16 .tflite files)")
    p.add_argument("--before", metavar="DIR", default=None,
                   help="also time the encodes of another checkout DIR (PYTHONPATH=DIR, its own weights), round-robin "
                   "with this one: e.g. `git worktree add DIR <commit>` of the code before a change")
    p.add_argument("--also-env", metavar="VAR=VALUE", action="append", default=[],
                   help="also time the encodes with this environment variable set (repeatable; e.g. GIFNETS_THREADS=2)")
    p.add_argument("--skip-timing", action="store_true", help="only --install")
    args = p.parse_args(argv)
    if args.skip_timing and args.install:
        os.makedirs(args.install, exist_ok=True)
        install(args.install, args.keras_weights)
        return 0
    work = tempfile.mkdtemp(prefix="gifnets-startup-")
    photo = os.path.join(work, "photo_1200x800.png")
    print(f"photo: {photo} (from {make_photo(photo, args.photo)}); {args.repeats} runs each, medians\n")
    env = {**os.environ, "PYTHONPATH": ROOT}
    gifnets = [sys.executable, "-m", "gif_pipeline"]
    out = os.path.join(work, "out.gif")
    commands = {}
    for colors in ("256", "16"):
        name = "gifnets encode (256 colours)" if colors == "256" else "gifnets encode --colors 16"
        cmd = gifnets + ["encode", photo, "-o", out, "-f", "-q"] + ([] if colors == "256" else ["--colors", colors])
        commands[name] = cmd
        if args.weights:  # the same command on another weights folder, next to it
            commands[f"{name}, weights {args.weights}"] = (cmd, {"GIFNETS_WEIGHTS": os.path.abspath(args.weights)})
        for assignment in args.also_env:
            var, _, value = assignment.partition("=")
            commands[f"{name}, {var}={value}"] = (cmd, {var: value})
        if args.before:  # the same command on another checkout, next to it
            commands[f"{name}, before ({args.before})"] = (cmd, {"PYTHONPATH": os.path.abspath(args.before)})
    commands["gifnets --help"] = gifnets + ["--help"]
    if shutil.which("pngquant"):
        png = os.path.join(work, "out.png")
        commands["pngquant 256"] = ["pngquant", "256", "--force", "-o", png, photo]
        commands["pngquant 16"] = ["pngquant", "16", "--force", "-o", png, photo]
    print("| command | median s | min s | median CPU s | median peak RSS MiB | exit |\n|---|---:|---:|---:|---:|---|")
    measure(commands, args.repeats, env)
    if args.with_tf:
        measure({"gifnets encode --backend tf (256)": gifnets + ["encode", photo, "-o", out, "-f", "-q", "--backend", "tf"],
                 "gifnets encode --backend tf --colors 16": gifnets + ["encode", photo, "-o", out, "-f", "-q", "--backend",
                                                                        "tf", "--colors", "16"]}, 3, env)
    shutil.rmtree(work, ignore_errors=True)
    if args.install:
        print()
        os.makedirs(args.install, exist_ok=True)
        install(args.install, args.keras_weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
