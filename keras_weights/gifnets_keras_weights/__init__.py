"""The ``.keras`` weights of gifnets, installed beside a runtime (wheel) install of ``gifnets``: this folder holds them,
and ``gif_pipeline.weights.registry`` reads it as a second weights folder (keras_weights/setup.py)."""
