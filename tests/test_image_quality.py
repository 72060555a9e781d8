"""PSNR and SSIM against hand-computed cases."""
import numpy as np

from jgan.metrics import image_quality


def test_psnr_of_a_constant_error():
  targets = np.zeros((3, 16, 16, 3), np.float32)
  outputs = targets + 0.2  # 0.1 on the [0, 1] scale: MSE 0.01, PSNR 20 dB
  scores = image_quality.compare(outputs, targets)
  np.testing.assert_allclose([scores['psnr'], scores['psnr_set']], 20.0, rtol=1e-5)
  np.testing.assert_allclose(scores['mse'], 0.01, rtol=1e-5)
  np.testing.assert_allclose(scores['l1'], 0.2, rtol=1e-5)


def test_psnr_of_the_set_weighs_pixels_and_the_mean_weighs_images():
  targets = np.zeros((2, 16, 16, 1), np.float32)
  outputs = targets.copy()
  outputs[0] += 0.02  # 0.01 on [0, 1]: 40 dB
  outputs[1] += 0.2  # 0.1: 20 dB
  scores = image_quality.compare(outputs, targets)
  np.testing.assert_allclose(scores['psnr'], 30.0, rtol=1e-5)  # (40 + 20) / 2
  np.testing.assert_allclose(scores['psnr_set'], 10 * np.log10(1 / ((0.01**2 + 0.1**2) / 2)), rtol=1e-5)


def test_ssim_is_one_for_equal_images_and_the_luminance_term_for_flat_ones():
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
  np.testing.assert_allclose(image_quality.compare(images, images)['ssim'], 1.0, rtol=1e-5)
  # Flat images of levels x and y (on [0, 1]) have no variance: SSIM = (2xy + C1) / (x^2 + y^2 + C1).
  x, y, c1 = 0.25, 0.75, 0.01**2
  flat_x, flat_y = np.full((1, 16, 16, 1), 2 * x - 1, np.float32), np.full((1, 16, 16, 1), 2 * y - 1, np.float32)
  np.testing.assert_allclose(image_quality.compare(flat_x, flat_y)['ssim'], (2 * x * y + c1) / (x**2 + y**2 + c1),
                             rtol=1e-4)
  noisy = np.clip(images + rng.normal(0, 0.3, images.shape), -1, 1).astype(np.float32)
  assert image_quality.compare(noisy, images)['ssim'] < 0.9
