"""The TensorFlow-free runtime of ``gifnets encode`` (issue #24): the shipped networks as LiteRT (``.tflite``)
models built by ``python -m export.export_runtime``, and the non-network steps in numpy (:mod:`.ops`)."""
