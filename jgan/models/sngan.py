"""SNGAN with a projection discriminator (Miyato et al. 2018; Miyato and Koyama 2018): BigGAN's ancestor.

The same residual networks as jgan.models.biggan (BigGAN grew out of them): the generator's BatchNorm
is conditioned by per-class gains and biases, z goes whole to the first layer, spectral norm only in D
and no self-attention. At 32x32 with g_ch 64 and d_ch 32: G has 256 channels throughout and D 128, the
CIFAR-10 ResNets of Miyato et al. 2018 (Table 4); at 128x128 with ch 64, the ImageNet networks of the
projection paper (1024 channels at 4x4).
"""
from jgan.models.biggan import Discriminator, Generator, check

DEFAULTS = {
    'z_dim': 128,
    'num_classes': 0,  # 0: unconditional; else conditional BatchNorm in G and the projection head in D
    'g_ch': 64,
    'd_ch': 32,
    'shared_dim': 0,
    'hierarchical_z': False,
    'g_attention': (),
    'd_attention': (),
    'g_spectral_norm': False,
    'd_spectral_norm': True,
}

__all__ = ['DEFAULTS', 'Discriminator', 'Generator', 'check']
