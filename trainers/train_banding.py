"""Train BandingNet to imitate the banding teacher (GIFnets §3.3).

    trainers/make_banding_data                       # once: labelled TFRecords in runs/banding_data
    trainers/train_banding --steps=3000              # -> runs/banding/banding_net.keras
    trainers/train_banding --nouse_edge_map --model_dir=runs/banding_noedge   # the paper's ablation

Loss: mean absolute difference (MAD, L1) between BandingNet's score Z(I) and the target (the
teacher's score, lowered for Floyd–Steinberg versions; see :mod:`gif_pipeline.data.banding`).
Adam with a cosine-decayed learning rate; random flips and 90-degree rotations (the teacher is
invariant to them: Sobel magnitudes, NMS and edge lengths do not change).

At the end the model is scored on the whole ``val`` split (sources never seen in training):
MAD against the targets, MAD per dither setting, and the Spearman rank correlation with the
teacher's raw score and with the target (scipy). These go into ``MODEL_DIR/config.json`` under
``validation`` and into TensorBoard. With ``--cambi_images`` the model is also compared with
Netflix CAMBI on quantized versions of those images (:func:`cambi_check`).
"""
from __future__ import annotations

import math
import os
import sys

from absl import app, flags, logging

from trainers import common

FLAGS = flags.FLAGS
DEFAULT_DATA = os.path.join("runs", "banding_data")
flags.DEFINE_bool("use_edge_map", True, "Feed [Y, banding edge map] (Algorithm 1); --nouse_edge_map feeds Y "
                  "alone (the paper's ablation: val MAD 0.057 with, 0.088 without).")
flags.DEFINE_list("channels", ["32", "64", "64", "64"], "Conv channels of the 4 blocks (paper: 32,64,64,64).")
flags.DEFINE_integer("dense_units", 256, "Units of the hidden dense layer (paper: 256).")
flags.DEFINE_integer("kernel_size", 3, "Conv kernel size.")
flags.DEFINE_enum("lr_schedule", "cosine", ["cosine", "constant"], "Learning-rate schedule over --steps.")
flags.DEFINE_integer("shuffle_buffer", 512, "Examples in the shuffle buffer.")
flags.DEFINE_string("init_weights", None, "Start from the weights of this BandingNet (.keras, same layout), "
                    "e.g. to continue a finished run with a new learning-rate schedule.")
flags.DEFINE_integer("threads", 1, "TensorFlow intra- and inter-op threads (0: TensorFlow's default).")
flags.DEFINE_string("cambi_images", None, "Optional folder of images (>= 216 px on one side): after training, "
                    "also report the Spearman correlation with CAMBI on their quantized versions.")
common.define_common_flags(default_model_dir=os.path.join("runs", "banding"), default_steps=3000,
                           default_batch_size=16, default_learning_rate=1e-3)

WEIGHTS = "banding_net.keras"


class MissingBandingData(SystemExit):
    pass


def data_files(data_dirs, split: str) -> list[str]:
    """The shards of one split in the ``--data`` folders; one-line SystemExit if there are none."""
    from gif_pipeline.data import banding as banding_data

    files = []
    for d in data_dirs:
        files.extend(banding_data.shard_paths(d, split))
    if not files:
        where = ", ".join(data_dirs)
        raise MissingBandingData(f"train_banding: no {split} banding data (*{banding_data.SHARD_SUFFIX} shards) "
                                 f"in {where}; run `trainers/make_banding_data --out={data_dirs[0]}` first")
    return files


def _augment(image, seed):
    """Random flips and a random multiple of 90 degrees (stateless, from ``seed``)."""
    import tensorflow as tf

    image = tf.image.stateless_random_flip_left_right(image, seed)
    image = tf.image.stateless_random_flip_up_down(image, seed + 1)
    k = tf.random.stateless_uniform([], seed + 2, minval=0, maxval=4, dtype=tf.int32)
    return tf.image.rot90(image, k)


def make_dataset(files, batch_size: int, training: bool, seed: int, augment: bool = True,
                 shuffle_buffer: int = 512, with_meta: bool = False):
    """``(image in [-1, 1], target [1])`` batches from banding shards; ``with_meta`` adds the teacher
    score and the dither flag (for evaluation)."""
    import tensorflow as tf

    from gif_pipeline.data import banding as banding_data

    ds = tf.data.Dataset.from_tensor_slices(files)
    if training:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True).repeat()
    base = tf.constant([seed, 0xBA4D], tf.int64)

    def prepare(index, serialized):
        ex = banding_data.parse_example(serialized)
        image = ex["image"]
        if training and augment:
            image = _augment(image, tf.random.experimental.stateless_fold_in(base, index))
        x = tf.cast(image, tf.float32) / 127.5 - 1.0
        target = tf.reshape(ex["label"], [1])
        if with_meta:
            return x, target, ex["teacher_score"], tf.equal(ex["dither"], "fs"), ex["np"]
        return x, target

    ds = ds.enumerate().map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=training)
    return ds.prefetch(tf.data.AUTOTUNE)


def _spearman(a, b):
    from scipy.stats import spearmanr

    if len(a) < 3:
        return None
    rho = spearmanr(a, b).statistic
    return None if not math.isfinite(rho) else float(rho)


def evaluate(model, files, batch_size: int = 16) -> dict:
    """MAD and Spearman correlations of ``model`` on every example of ``files``."""
    import numpy as np

    preds, targets, teacher, fs, nps = [], [], [], [], []
    for x, target, score, is_fs, n in make_dataset(files, batch_size, training=False, seed=0, with_meta=True):
        preds.append(np.asarray(model(x, training=False)).reshape(-1))
        targets.append(target.numpy().reshape(-1))
        teacher.append(score.numpy())
        fs.append(is_fs.numpy())
        nps.append(n.numpy())
    preds, targets, teacher = np.concatenate(preds), np.concatenate(targets), np.concatenate(teacher)
    fs, nps = np.concatenate(fs), np.concatenate(nps)
    err = np.abs(preds - targets)
    return {
        "examples": int(len(preds)),
        "mad": float(err.mean()),
        "mad_no_dither": float(err[~fs].mean()) if (~fs).any() else None,
        "mad_fs": float(err[fs].mean()) if fs.any() else None,
        # Baselines: the best constant for L1 (the median target) and the mean target.
        "mad_constant_median": float(np.abs(targets - np.median(targets)).mean()),
        "mad_constant_mean": float(np.abs(targets - targets.mean()).mean()),
        "spearman_teacher": _spearman(preds, teacher),
        "spearman_target": _spearman(preds, targets),
        "spearman_teacher_no_dither": _spearman(preds[~fs], teacher[~fs]),
        "mean_prediction": float(preds.mean()),
        "mean_target": float(targets.mean()),
        "originals": int((nps == 0).sum()),
    }


def cambi_set(folder: str, palette_sizes=(8, 16, 32, 64, 128, 256), max_images: int | None = None) -> dict:
    """:func:`gif_pipeline.data.banding.scored_photo_set` with CAMBI: median-cut versions of the images in
    ``folder`` (256x256 centre crops) at ``palette_sizes``, without dithering and with FS, with their teacher and
    CAMBI scores: numpy arrays ``images``, ``teacher``, ``cambi``, ``np``, ``fs`` (bool) and ``files``."""
    from gif_pipeline.data import banding as banding_data

    return banding_data.scored_photo_set(folder, palette_sizes, max_images, with_cambi=True)


def cambi_check(model, folder_or_set, **kwargs) -> dict:
    """Spearman correlations of BandingNet, the teacher and CAMBI over :func:`cambi_set`."""
    import numpy as np

    s = cambi_set(folder_or_set, **kwargs) if isinstance(folder_or_set, str) else folder_or_set
    x = s["images"].astype(np.float32) / 127.5 - 1.0
    net = np.concatenate([np.asarray(model(x[i:i + 8], training=False)).reshape(-1) for i in range(0, len(x), 8)])
    fs = s["fs"].astype(bool)
    teacher, cambis = s["teacher"], s["cambi"]
    return {"images": int(len(s["files"])), "versions": int(len(net)),
            "palette_sizes": sorted({int(n) for n in s["np"]}),
            "spearman_net_cambi": _spearman(net, cambis), "spearman_teacher_cambi": _spearman(teacher, cambis),
            "spearman_net_teacher": _spearman(net, teacher),
            "spearman_net_cambi_no_dither": _spearman(net[~fs], cambis[~fs]),
            "spearman_teacher_cambi_no_dither": _spearman(teacher[~fs], cambis[~fs]),
            "spearman_net_teacher_no_dither": _spearman(net[~fs], teacher[~fs])}


def build_model(strategy, total_steps: int):
    import keras

    from gif_pipeline.models.gifnets.banding_net import build_banding_net
    from gif_pipeline.models.gifnets.config import BandingNetConfig

    try:
        channels = tuple(int(c) for c in FLAGS.channels)
        config = BandingNetConfig(channels=channels, kernel_size=FLAGS.kernel_size, dense_units=FLAGS.dense_units,
                                  use_edge_map=FLAGS.use_edge_map)
    except ValueError as e:
        raise app.UsageError(f"BandingNet settings: {e}")
    with strategy.scope():
        model = build_banding_net(config)
        lr = FLAGS.learning_rate
        if FLAGS.lr_schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(lr, max(1, total_steps), alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="mean_absolute_error")
        if FLAGS.init_weights:
            _init_from(model, FLAGS.init_weights)
    return model, config


def _init_from(model, path: str):
    import keras

    from gif_pipeline.models.gifnets import banding_net  # noqa: F401  (registers the custom layer)

    if not os.path.exists(path):
        raise app.UsageError(f"--init_weights: no such file {path}")
    source = keras.saving.load_model(path, compile=False)
    theirs, ours = source.get_weights(), model.get_weights()
    if [w.shape for w in theirs] != [w.shape for w in ours]:
        raise app.UsageError(f"--init_weights: {path} has another BandingNet layout than the flags ask for")
    model.set_weights(theirs)
    logging.info("Initialised BandingNet from %s", path)


def _log_scalars(model_dir: str, step: int, values: dict):
    import tensorflow as tf

    writer = tf.summary.create_file_writer(os.path.join(model_dir, "logs", "final"))
    with writer.as_default(step=step):
        for k, v in values.items():
            if isinstance(v, (int, float)) and v is not None:
                tf.summary.scalar(f"val_full/{k}", v)
    writer.flush()


def main(argv):
    del argv
    common.apply_preset("train_banding")
    data_dirs = FLAGS.data or [DEFAULT_DATA]
    try:
        train_files = data_files(data_dirs, "train")
        val_files = data_files(data_dirs, "val")
    except MissingBandingData as e:
        print(str(e), file=sys.stderr)
        raise SystemExit(2)
    seed = FLAGS.seed if FLAGS.seed is not None else 0
    from gif_pipeline.training import loop

    loop.limit_threads(FLAGS.threads)
    common.setup(FLAGS.seed, FLAGS.mixed_precision)
    common.prepare_model_dir(FLAGS.model_dir, FLAGS.resume)
    strategy = common.get_strategy(FLAGS.strategy, FLAGS.tpu)
    logging.info("BandingNet data: %d train and %d val shards from %s", len(train_files), len(val_files),
                 ", ".join(data_dirs))
    train = make_dataset(train_files, FLAGS.batch_size, training=True, seed=seed, augment=FLAGS.augment,
                         shuffle_buffer=FLAGS.shuffle_buffer)
    val = None
    if FLAGS.validation_steps:
        val = make_dataset(val_files, FLAGS.batch_size, training=False, seed=seed).repeat()
    model, config = build_model(strategy, FLAGS.steps)
    history = common.fit(model, train, model_dir=FLAGS.model_dir, steps=FLAGS.steps, epochs=FLAGS.epochs,
                         batch_size=FLAGS.batch_size, checkpoint_every=FLAGS.checkpoint_every, val_ds=val,
                         validation_steps=FLAGS.validation_steps)
    if getattr(history, "stopped_on_nan", False):
        common.finish(model, FLAGS.model_dir, WEIGHTS, stage="banding", model_config=config.to_dict(),
                      history=history)  # raises SystemExit with the NaN message
    validation = evaluate(model, val_files, FLAGS.batch_size)
    extra = {"data": data_dirs, "validation": validation}
    if FLAGS.cambi_images:
        extra["cambi"] = cambi_check(model, FLAGS.cambi_images)
    _log_scalars(FLAGS.model_dir, FLAGS.steps, validation)
    print(f"train_banding: val MAD {validation['mad']:.4f} (best constant {validation['mad_constant_median']:.4f}), "
          f"Spearman vs teacher {validation['spearman_teacher']}, over {validation['examples']} val examples",
          file=sys.stderr)
    common.finish(model, FLAGS.model_dir, WEIGHTS, stage="banding", model_config=config.to_dict(),
                  history=history, extra=extra)


if __name__ == "__main__":
    app.run(main)
