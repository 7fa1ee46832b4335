"""Training throughput of each stage on this machine: steps/s and images/s, default vs mirrored.

    python benchmarks/train_throughput.py                # the trainers' default sizes
    python benchmarks/train_throughput.py --size 128 --steps 5

Each stage's real train step (PaletteNet Eq. 2; GIFEncoder stage 2 with Eq. 6 incl. the banding
loss; BandingNet MAD) runs on a fixed synthetic batch after ``--warmup`` compiled steps. "mirrored"
splits the CPU into 2 logical devices: on one CPU it shows the cost of replication, not a speed-up.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from gif_pipeline.models.gifnets.banding_net import build_banding_net  # noqa: E402
from gif_pipeline.models.gifnets.config import BandingNetConfig, DitherNetConfig, LossConfig, PaletteNetConfig  # noqa: E402
from gif_pipeline.models.gifnets.dither_net import build_dither_net  # noqa: E402
from gif_pipeline.models.gifnets.gif_encoder import GIFEncoder  # noqa: E402
from gif_pipeline.models.gifnets.palette_net import PaletteNet  # noqa: E402


def palette_stage(args):
    model = PaletteNet(PaletteNetConfig(num_colors=16, depth_multiplier=args.depth_multiplier))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model, None, 8


def dither_stage(args):
    palette_net = PaletteNet(PaletteNetConfig(num_colors=16, depth_multiplier=args.depth_multiplier))
    model = GIFEncoder(palette_net, build_dither_net(DitherNetConfig()), build_banding_net(BandingNetConfig()),
                       loss_config=LossConfig.for_num_colors(16), stage="dither")
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    return model, None, 4


def banding_stage(args):
    model = build_banding_net(BandingNetConfig())
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
    return model, "labels", 16


STAGES = {"palette": palette_stage, "dither": dither_stage, "banding": banding_stage}


def measure(stage, strategy, args):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model, labels, batch = STAGES[stage](args)
    images = tf.random.uniform([batch, args.size, args.size, 3], -1, 1, seed=1)
    if isinstance(model, GIFEncoder):
        model(images[:1])
    data = (images, tf.random.uniform([batch, 1])) if labels else images
    ds = tf.data.Dataset.from_tensors(data).repeat()
    model.fit(ds, epochs=1, steps_per_epoch=args.warmup, verbose=0)
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=args.steps, verbose=0)
    seconds = time.perf_counter() - start
    return args.steps / seconds, args.steps * batch / seconds, batch


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="training crop size (default 256)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--depth_multiplier", type=float, default=0.5, help="PaletteNet width (trainer default)")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    args = parser.parse_args()
    strategies = {"default": tf.distribute.get_strategy,
                  "mirrored(2 cpu)": lambda: tf.distribute.MirroredStrategy(
                      ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())}
    print("| stage | strategy | batch | size | steps/s | images/s |\n|---|---|---:|---:|---:|---:|")
    for stage in args.stages:
        for name, make in strategies.items():
            steps_s, images_s, batch = measure(stage, make(), args)
            print(f"| {stage} | {name} | {batch} | {args.size} | {steps_s:.3f} | {images_s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
