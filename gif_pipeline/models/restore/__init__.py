"""GIF colour dequantization: GIF2Video's CCDNet and dither classifier (Wang et al., CVPR 2019, https://arxiv.org/abs/1901.02840)."""
