"""swinsr.metrics: hand-computed values, scikit-image agreement, torch/numpy agreement, optional LPIPS."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from swinsr.errors import OptionError
from swinsr.metrics import (
    LPIPSMetric,
    MetricUnavailable,
    calculate_psnr,
    calculate_ssim,
    lpips_unavailable_reason,
    psnr_torch,
    rgb_to_y,
    ssim_torch,
    to_uint,
)


def _pair(seed: int = 0, shape=(37, 41, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-25, 26, shape), 0, 255).astype(np.uint8)
    return a, b


def _skimage_ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """scikit-image configured as the SR protocol: Gaussian 11x11 (sigma 1.5, truncate 3.5), population covariance."""
    return structural_similarity(
        a, b, data_range=peak, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        channel_axis=2 if a.ndim == 3 else None,
    )


def test_rgb_to_y_studio_swing_values():
    rgb = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    y = rgb_to_y(rgb) * 255.0
    np.testing.assert_allclose(y[0], [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966], atol=1e-9)
    y8 = rgb_to_y((rgb * 255).astype(np.uint8))
    assert y8.dtype == np.uint8 and y8[0].tolist() == [16, 235, 81, 145, 41]
    t = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    np.testing.assert_allclose(rgb_to_y(t)[0, 0, 0].numpy(), y[0] / 255.0, atol=1e-12)


def test_psnr_hand_computed():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a + 10  # MSE 100 everywhere
    assert calculate_psnr(a, b, 0) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-12)
    # gray offset of 10 on all channels moves studio-swing Y by 10 * 219 / 255
    gray_a, gray_b = np.full((8, 8, 3), 100, np.uint8), np.full((8, 8, 3), 110, np.uint8)
    dy = 10 * 219.0 / 255.0
    assert calculate_psnr(gray_a, gray_b, 0, test_y_channel=True) == pytest.approx(10 * math.log10(255**2 / dy**2))
    assert calculate_psnr(a, a, 0) == math.inf


def test_crop_border_removes_edges():
    a, _ = _pair(4, (16, 16, 3))
    b = a.copy()
    b[:2] = 0
    b[:, -2:] = 255
    assert calculate_psnr(a, b, 2) == math.inf
    assert calculate_psnr(a, b, 1) < 20
    assert calculate_ssim(a, b, 2) == pytest.approx(1.0)
    assert calculate_ssim(a, b, 0) < 0.999
    with pytest.raises(OptionError):  # 16 - 2*3 = 10 pixels: smaller than the SSIM window
        calculate_ssim(a, b, 3)


def test_psnr_and_ssim_match_scikit_image():
    a, b = _pair()
    assert calculate_psnr(a, b, 0) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-10)
    assert calculate_ssim(a, b, 0) == pytest.approx(_skimage_ssim(a, b), abs=1e-9)
    ya, yb = (rgb_to_y(x.astype(np.float64) / 255) * 255 for x in (a, b))
    assert calculate_ssim(a, b, 3, test_y_channel=True) == pytest.approx(_skimage_ssim(ya[3:-3, 3:-3], yb[3:-3, 3:-3]), abs=1e-9)
    assert calculate_psnr(a, b, 3, test_y_channel=True) == pytest.approx(
        peak_signal_noise_ratio(ya[3:-3, 3:-3], yb[3:-3, 3:-3], data_range=255), abs=1e-10
    )


def test_input_order_gray_and_uint16():
    a, b = _pair(1)
    chw = calculate_ssim(a.transpose(2, 0, 1), b.transpose(2, 0, 1), 2, input_order="CHW")
    assert chw == pytest.approx(calculate_ssim(a, b, 2))
    assert calculate_psnr(a[..., 0], b[..., 0], 0) == pytest.approx(peak_signal_noise_ratio(a[..., 0], b[..., 0]))
    # 16-bit data: peak 65535 from the dtype, same PSNR as the 8-bit data scaled by 257
    a16, b16 = a.astype(np.uint16) * 257, b.astype(np.uint16) * 257
    assert calculate_psnr(a16, b16, 0, test_y_channel=True) == pytest.approx(calculate_psnr(a, b, 0, test_y_channel=True))
    assert calculate_ssim(a16, b16, 0) == pytest.approx(calculate_ssim(a, b, 0), abs=1e-9)
    with pytest.raises(OptionError):
        calculate_psnr(a, b[:-1], 0)
    with pytest.raises(OptionError):
        calculate_psnr(a, b, 0, input_order="WHC")


def test_to_uint_rounds_and_clips():
    x = np.array([-0.2, 0.0, 0.5 / 255 - 1e-6, 0.5 / 255 + 1e-6, 1.0, 1.3])
    assert to_uint(x).tolist() == [0, 0, 0, 1, 255, 255]
    assert to_uint(x, bits=16).dtype == np.uint16 and to_uint(x, bits=16)[-1] == 65535
    with pytest.raises(OptionError):
        to_uint(x, bits=10)


def test_torch_batch_metrics_match_numpy():
    pairs = [_pair(s, (30, 34, 3)) for s in (2, 3)]
    sr = torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a, _ in pairs]).double() / 255
    hr = torch.stack([torch.from_numpy(b).permute(2, 0, 1) for _, b in pairs]).double() / 255
    for y in (False, True):
        p = psnr_torch(sr.float(), hr.float(), crop_border=2, test_y_channel=y)
        s = ssim_torch(sr.float(), hr.float(), crop_border=2, test_y_channel=y)
        assert p.shape == s.shape == (2,)
        for i, (a, b) in enumerate(pairs):
            assert p[i].item() == pytest.approx(calculate_psnr(a, b, 2, test_y_channel=y), abs=1e-6)
            assert s[i].item() == pytest.approx(calculate_ssim(a, b, 2, test_y_channel=y), abs=1e-6)
    # quantize: an unrounded SR output scores as its 8-bit rounding does
    noisy = (sr + 0.3 / 255).float()
    assert torch.allclose(psnr_torch(noisy, hr), psnr_torch(sr, hr))
    assert not torch.allclose(psnr_torch(noisy, hr, quantize=False), psnr_torch(sr, hr))


def test_lpips_unavailable_is_a_clear_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # import lpips -> ImportError
    reason = lpips_unavailable_reason()
    assert reason is not None and "lpips" in reason
    with pytest.raises(MetricUnavailable, match="lpips"):
        LPIPSMetric()
    assert "unknown LPIPS network" in lpips_unavailable_reason("resnet")
