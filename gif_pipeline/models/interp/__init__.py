"""Frame interpolation for animated GIFs: GIF2Video §4.2 (https://arxiv.org/abs/1901.02840), after Super SloMo
(https://arxiv.org/abs/1712.00080)."""
