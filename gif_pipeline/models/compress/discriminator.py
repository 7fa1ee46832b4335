"""GC's discriminator (§3.2): the multi-scale PatchGAN of pix2pixHD (Wang et al. 2018).

Each scale is ``C64-C128-C256-C512`` (4 x 4 convolutions, stride 2 but the last, instance norm but the first,
LeakyReLU 0.2) and a 4 x 4 convolution to one patch score; scale s reads the image average-pooled s times
(3 x 3, stride 2). Returns, per scale, the list of every layer's output (the last is the score map) for the
feature-matching loss.
"""
from __future__ import annotations

import keras

from gif_pipeline.models.compress.blocks import InstanceNorm
from gif_pipeline.models.compress.config import DiscriminatorConfig


def _patch_gan(widths, name):
    x = inputs = keras.Input((None, None, 3))
    outputs = []
    for i, w in enumerate(widths):
        x = keras.layers.Conv2D(w, 4, strides=2 if i < len(widths) - 1 else 1, padding="same", name=f"{name}_c{i}")(x)
        if i:
            x = InstanceNorm(name=f"{name}_n{i}")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"{name}_a{i}")(x)
        outputs.append(x)
    outputs.append(keras.layers.Conv2D(1, 4, padding="same", name=f"{name}_score")(x))
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="gifnets.compress")
class Discriminator(keras.Model):
    def __init__(self, config: DiscriminatorConfig | None = None, **kwargs):
        if isinstance(config, dict):
            config = DiscriminatorConfig.from_dict(config)
        config = config or DiscriminatorConfig()
        super().__init__(**kwargs)
        self.config = config
        self.scales = [_patch_gan(config.widths, f"d_scale{s}") for s in range(config.scales)]
        self.pool = keras.layers.AveragePooling2D(3, strides=2, padding="same")
        self.built = True

    def call(self, x):
        features = []
        for s, net in enumerate(self.scales):
            if s:
                x = self.pool(x)
            features.append(net(x))
        return features

    def get_config(self):
        return {"config": self.config.to_dict()}
