"""Run by tests/test_distributed.py in a fresh process: per-step losses of a few training steps on
one device and under MirroredStrategy over 2 logical CPUs, on the same global batch. Prints JSON."""
import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gif_pipeline.models.gifnets.config import DitherNetConfig, LossConfig, PaletteNetConfig  # noqa: E402
from gif_pipeline.models.gifnets.dither_net import build_dither_net  # noqa: E402
from gif_pipeline.models.gifnets.gif_encoder import GIFEncoder  # noqa: E402
from gif_pipeline.models.gifnets.palette_net import PaletteNet  # noqa: E402

BATCH = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 3)).astype("float32")


def build(kind):
    palette_net = PaletteNet(PaletteNetConfig(num_colors=4, backbone="pointnet", pointnet_widths=(8, 16)))
    if kind == "palette":
        model = palette_net
    else:
        # Different widths per layer, so that mixed-up batch-norm reductions would fail loudly.
        dither_net = build_dither_net(DitherNetConfig(block_channels=(4, 6, 6, 8, 8), bottleneck_channels=(10, 10)))
        model = GIFEncoder(palette_net, dither_net, loss_config=LossConfig(delta=0.0), temperature=0.05)
        model(BATCH[:1])
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    return model


def losses(kind, strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build(kind)
    ds = tf.data.Dataset.from_tensors(BATCH).repeat()
    return model.fit(ds, epochs=3, steps_per_epoch=1, verbose=0).history["loss"]


kind = sys.argv[1]
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                         cross_device_ops=tf.distribute.ReductionToOneDevice())
print(json.dumps({"replicas": mirrored.num_replicas_in_sync, "default": losses(kind, tf.distribute.get_strategy()),
                  "mirrored": losses(kind, mirrored)}))
