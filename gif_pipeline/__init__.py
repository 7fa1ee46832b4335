"""gifnets: GIF encoding with learned palettes and dithering (GIFnets, Yoo et al., CVPR 2020)."""
__version__ = "0.1.0"
