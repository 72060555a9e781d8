"""Layers the model families share: jgan.nn.layers (conditioning, normalisation, spectral norm, attention,
projection), jgan.nn.equalized (Karras et al.'s layers), jgan.nn.resample (resolution-changing convolutions) and
jgan.nn.convolution (the stride-1 convolution with its CPU weight gradient)."""
