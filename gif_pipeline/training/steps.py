"""The custom ``train_step``/``test_step`` shared by models whose loss has named terms.

A model that mixes in :class:`LossTermsStep` (before ``keras.Model``) defines ``self.trackers`` (a dict of
``keras.metrics.Mean``, ``"loss"`` first) and ``_loss(inputs, training)`` returning ``(total, terms)``; every tracker
other than ``"loss"`` averages ``terms[name]``. ``_step_inputs(data)`` turns a dataset element into ``inputs``
(default: unchanged). Gradients are taken of the total scaled for tf.distribute replicas.
"""
from __future__ import annotations

import tensorflow as tf

from gif_pipeline.layers.common import scale_loss_for_replicas


class LossTermsStep:
    """Mixin: ``train_step``, ``test_step`` and ``metrics`` from ``self.trackers`` and ``self._loss``."""

    def _step_inputs(self, data):
        return data

    def _update(self, total, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(total if name == "loss" else terms[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            total, terms = self._loss(self._step_inputs(data), training=True)
            scaled = scale_loss_for_replicas(total)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return self._update(total, terms)

    def test_step(self, data):
        return self._update(*self._loss(self._step_inputs(data), training=False))

    @property
    def metrics(self):
        return list(self.trackers.values())
