"""Extreme learned image compression with a GAN (Agustsson et al., ICCV 2019, https://arxiv.org/abs/1804.02958)."""
