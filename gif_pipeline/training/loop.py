"""The flag-free training loop every model family shares (its entry scripts in ``trainers/`` read the flags).

:func:`fit` runs ``model.fit`` with what every stage needs:

* checkpoints that survive a kill (``keras.callbacks.BackupAndRestore`` every ``checkpoint_every``
  steps; rerunning the same command resumes);
* a clear stop on NaN (:class:`StopOnNaN`);
* a progress bar with loss and images/s (Keras' own bar plus :class:`Throughput`);
* TensorBoard scalars, and image summaries where the stage provides them (:class:`ImageSummaries`);
* the weights of the best validation epoch (``best.weights.h5``), restored at the end.

:func:`finish` saves the model and ``config.json`` (:func:`run_record`) beside it.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time

from absl import logging


def run_record(stage: str, weights_name: str, model_config: dict, flag_values: dict) -> dict:
    """What ``config.json`` says of a run: stage, weights file, model config and the trainer's flags."""
    return {"stage": stage, "weights": weights_name, "model": model_config, "flags": dict(flag_values)}


def get_strategy(name: str, tpu: str | None = None):
    """The tf.distribute strategy named ``name`` (default, mirrored, multi_worker, tpu)."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        if gpus:
            return tf.distribute.MirroredStrategy(gpus)
        # On CPUs, reduce through one device: CPU collective all-reduces can pair up the synchronized
        # batch-norm reductions of different layers (seen as shape mismatches in DitherNet).
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise SystemExit("the multi_worker strategy needs the TF_CONFIG environment variable (see BUILD.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        if not tpu:
            raise SystemExit("the tpu strategy needs a TPU name or address (--tpu)")
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise SystemExit(f"unknown strategy {name!r}")


def limit_threads(threads: int) -> None:
    """TensorFlow's intra- and inter-op thread pools at ``threads`` each (0: TensorFlow's default), before its
    runtime starts: one thread per job keeps a shared machine fair."""
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def setup(seed: int | None, mixed_precision: bool, logical_cpus: int = 0):
    """Logical CPUs, seeds and precision policy, before TensorFlow's runtime starts."""
    import tensorflow as tf

    if logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    import keras

    if seed is not None:  # a seeded run is repeatable: same weights, same data, deterministic kernels
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")


def prepare_model_dir(model_dir: str, resume: bool):
    os.makedirs(model_dir, exist_ok=True)
    backup = os.path.join(model_dir, "backup")
    if os.path.isdir(backup):
        if resume:
            logging.info("Resuming the interrupted run in %s", backup)
        else:
            logging.info("--noresume: discarding %s", backup)
            shutil.rmtree(backup)


def write_run_record(model_dir: str, record: dict):
    """Write ``config.json`` (the final config of the run) atomically."""
    path = os.path.join(model_dir, "config.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)
    return path


def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class StopOnNaN(_keras_callback_base()):
    """Stop training at the first non-finite loss with a message that says what to try."""

    def __init__(self):
        super().__init__()
        self.stopped_at = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.stopped_at = batch
            self.model.stop_training = True
            print(f"\nTraining stopped: the loss became {loss} at batch {batch}. "
                  "Try a lower --learning_rate, or --noresume to start over.", file=sys.stderr)


class Throughput(_keras_callback_base()):
    """Adds images/s to the progress bar's logs and to TensorBoard."""

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size = batch_size
        self._start = None
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._batches = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if logs is not None:
            logs["images_per_s"] = self.batch_size * self._batches / max(time.perf_counter() - self._start, 1e-9)


class ImageSummaries(_keras_callback_base()):
    """Writes TensorBoard image summaries from ``make_images(batch) -> {name: [B,H,W,3] in [0,1]}``."""

    def __init__(self, log_dir: str, batch, make_images, every_steps: int = 0, max_outputs: int = 3):
        super().__init__()
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(os.path.join(log_dir, "images"))
        self._batch, self._make_images = batch, make_images
        self._every, self._max = every_steps, max_outputs
        self._step = 0

    def _write(self):
        import tensorflow as tf

        with self._writer.as_default(step=self._step):
            for name, images in self._make_images(self._batch).items():
                tf.summary.image(name, tf.clip_by_value(images, 0.0, 1.0), max_outputs=self._max)
        self._writer.flush()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._every and self._step % self._every == 0:
            self._write()

    def on_epoch_end(self, epoch, logs=None):
        if not self._every:
            self._write()


def fit(model, train_ds, *, model_dir: str, steps: int, epochs: int | None, batch_size: int,
        checkpoint_every: int, val_ds=None, validation_steps: int = 0, extra_callbacks=(), verbose="auto"):
    """Run ``model.fit`` with the callbacks every stage shares; returns the History."""
    import keras

    epochs = epochs or max(1, math.ceil(steps / max(1, checkpoint_every)))
    steps_per_epoch = max(1, math.ceil(steps / epochs))
    nan_guard = StopOnNaN()
    callbacks = [
        # Keras resumes at the start of the epoch it saved in, so a backup taken on the last batch of
        # an epoch would repeat that whole epoch: save at the epoch's end instead.
        # double_checkpoint: a kill while the weights are being written leaves the previous backup to
        # resume from (without it, the truncated file made the resumed run fail).
        keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup"),
                                         save_freq="epoch" if checkpoint_every >= steps_per_epoch
                                         else checkpoint_every, double_checkpoint=True),
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs"), update_freq=max(1, min(50, steps_per_epoch))),
        nan_guard,
        Throughput(batch_size),
        *extra_callbacks,
    ]
    best = os.path.join(model_dir, "best.weights.h5")
    if val_ds is not None and validation_steps:
        callbacks.append(keras.callbacks.ModelCheckpoint(best, monitor="val_loss", save_best_only=True,
                                                         save_weights_only=True))
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                        validation_data=val_ds if validation_steps else None,
                        validation_steps=validation_steps or None, verbose=verbose)
    history.stopped_on_nan = nan_guard.stopped_at is not None
    history.best_val_loss = None
    val_losses = history.history.get("val_loss") or []
    if os.path.exists(best) and val_losses and not history.stopped_on_nan:
        # Keep the weights of the best validation epoch, not the last (training can spike late).
        model.load_weights(best)
        history.best_val_loss = float(min(val_losses))
        logging.info("Restored the weights of the best validation epoch (val_loss %.5f)", history.best_val_loss)
    return history


def save_model_atomically(model, path: str):
    """``model.save`` to a temporary ``.keras`` file, then rename over ``path``."""
    tmp = path[: -len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


def finish(model, model_dir: str, weights_name: str, *, stage: str, record: dict, history,
           extra: dict | None = None):
    """Save the trained model and ``config.json`` (``record``, the run's :func:`run_record`, with the history);
    exit non-zero if training hit NaN."""
    nan_stop = getattr(history, "stopped_on_nan", False)
    final = {k: float(v[-1]) for k, v in history.history.items() if v}
    if nan_stop or any(not math.isfinite(v) for v in final.values()):
        raise SystemExit(f"{stage}: training stopped on a non-finite loss; nothing was saved to {model_dir}")
    path = os.path.join(model_dir, weights_name)
    save_model_atomically(model, path)
    record = dict(record)
    record.update({"final_metrics": final, "best_val_loss": getattr(history, "best_val_loss", None),
                   "history": {k: [float(x) for x in v] for k, v in history.history.items()},
                   "epochs_run": len(next(iter(history.history.values()), []))})
    record.update(extra or {})
    write_run_record(model_dir, record)
    logging.info("Saved %s and config.json in %s", weights_name, model_dir)
    print(f"{stage}: saved {path}", file=sys.stderr)
    return path
