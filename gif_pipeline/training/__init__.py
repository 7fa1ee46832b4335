"""Training shared by every model family: the flag-free loop (:mod:`gif_pipeline.training.loop`)."""
