"""Image quality metrics with the standard SR evaluation protocol.

The protocol behind published SR tables (and BasicSR's ``calculate_psnr``/``calculate_ssim``):

* the SR output is rounded to the integer grid of the data (uint8, or uint16 for 16-bit data)
  before scoring (:func:`to_uint`);
* ``crop_border`` pixels are removed on every side (usually ``crop_border = scale``);
* ``test_y_channel=True`` scores the luma of ITU-R BT.601 *studio swing*,
  ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` for RGB in ``[0, 1]`` (``Y`` in ``[16, 235]``),
  kept unrounded;
* SSIM uses an 11x11 Gaussian window with sigma 1.5, constants ``K1 = 0.01, K2 = 0.03``,
  only fully-covered window positions, computed per channel and averaged.

Numpy functions take images in their data range (``0..255`` for 8-bit, either uint8 or float);
images here are RGB (BasicSR's functions take BGR, which only matters for the Y weights).
The ``*_torch`` functions take ``(B, C, H, W)`` tensors in ``[0, 1]`` and return one value per
image, for validation during training.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from ._lazy import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .errors import OptionError, SwinSRError

# BT.601 studio-swing luma weights for R, G, B in [0, 1]; output in [16, 235] (8-bit scale)
Y_WEIGHTS_RGB = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


# --------------------------------------------------------------------------- colour / rounding


def rgb_to_y(img: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """BT.601 studio-swing luma of an RGB image.

    * numpy ``(..., 3)`` uint8 -> uint8 ``(...)`` (rounded), float in ``[0, 1]`` -> float in ``[16/255, 235/255]``;
    * torch ``(..., 3, H, W)`` float in ``[0, 1]`` -> ``(..., 1, H, W)`` in the same range convention.
    """
    if isinstance(img, torch.Tensor):
        if img.shape[-3] != 3:
            raise OptionError(f"rgb_to_y expects 3 channels in dim -3, got shape {tuple(img.shape)}")
        w = torch.tensor(Y_WEIGHTS_RGB, dtype=img.dtype, device=img.device).view(3, 1, 1)
        return (img * w).sum(dim=-3, keepdim=True).add(Y_OFFSET).div(255.0)
    arr = np.asarray(img)
    if arr.shape[-1] != 3:
        raise OptionError(f"rgb_to_y expects an (..., 3) RGB array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        y = _y_in_range(arr.astype(np.float64), 255.0)
        return np.clip(np.round(y), 0, 255).astype(np.uint8)
    return _y_in_range(arr.astype(np.float64), 1.0)


def _y_in_range(rgb: np.ndarray, max_value: float) -> np.ndarray:
    """Studio-swing Y of ``(..., 3)`` RGB in ``[0, max_value]``, returned in the same range (float64)."""
    dot = rgb @ np.asarray(Y_WEIGHTS_RGB, dtype=np.float64)  # weights are for [0, 1] input -> 8-bit output
    return (Y_OFFSET + dot / max_value) * (max_value / 255.0)


def to_uint(img: np.ndarray, bits: int = 8) -> np.ndarray:
    """Round a float image in ``[0, 1]`` to ``uint8`` (``bits=8``) or ``uint16`` (``bits=16``), clipping first.

    This is the rounding every published SR number applies to the network output before scoring.
    """
    if bits not in (8, 16):
        raise OptionError(f"to_uint: bits must be 8 or 16, got {bits}")
    peak = 255.0 if bits == 8 else 65535.0
    out = np.round(np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0) * peak)
    return out.astype(np.uint8 if bits == 8 else np.uint16)


def data_range(img: np.ndarray) -> float:
    """Peak value implied by an array's dtype: 65535 for uint16, otherwise 255 (8-bit range)."""
    return 65535.0 if np.asarray(img).dtype == np.uint16 else 255.0


# --------------------------------------------------------------------------- numpy metrics


def _prepare(
    img: np.ndarray, crop_border: int, input_order: str, test_y_channel: bool, max_value: float
) -> np.ndarray:
    """float64 ``(H, W, C)`` array, cropped, optionally reduced to Y (one channel)."""
    if input_order not in ("HWC", "CHW"):
        raise OptionError(f"input_order must be 'HWC' or 'CHW', got {input_order!r}")
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[..., None]
    elif input_order == "CHW":
        arr = arr.transpose(1, 2, 0)
    arr = arr.astype(np.float64)
    if crop_border:
        arr = arr[crop_border:-crop_border, crop_border:-crop_border, ...]
    if test_y_channel and arr.shape[2] == 3:
        arr = _y_in_range(arr, max_value)[..., None]
    return arr


def _check_pair(img: np.ndarray, img2: np.ndarray) -> None:
    if np.shape(img) != np.shape(img2):
        raise OptionError(f"image shapes differ: {np.shape(img)} vs {np.shape(img2)}")


def calculate_psnr(
    img: np.ndarray,
    img2: np.ndarray,
    crop_border: int,
    input_order: str = "HWC",
    test_y_channel: bool = False,
    max_value: float | None = None,
    **_: object,
) -> float:
    """PSNR in dB between two RGB (or gray) images in their data range (``0..255`` for 8-bit).

    Args:
        img, img2: arrays of equal shape, ``(H, W[, C])`` or ``(C, H, W)`` with ``input_order='CHW'``.
        crop_border: pixels removed on each side before scoring.
        test_y_channel: score BT.601 studio-swing Y instead of all channels.
        max_value: peak value; default from the dtype of ``img`` (65535 for uint16, else 255).

    Returns ``inf`` for identical images.
    """
    _check_pair(img, img2)
    peak = data_range(img) if max_value is None else float(max_value)
    a = _prepare(img, crop_border, input_order, test_y_channel, peak)
    b = _prepare(img2, crop_border, input_order, test_y_channel, peak)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(peak * peak / mse)


@lru_cache(maxsize=4)
def _gaussian_kernel_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    return cv2.getGaussianKernel(size, sigma)  # (size, 1), sums to 1


def _gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    k = _gaussian_kernel_1d(size, sigma)
    return np.outer(k, k)


def _ssim_channel(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """Mean SSIM of two 2-D float64 arrays over the window positions fully inside the image."""
    c1, c2 = (SSIM_K1 * peak) ** 2, (SSIM_K2 * peak) ** 2
    k = _gaussian_kernel_1d()
    r = SSIM_WINDOW // 2

    def blur(x: np.ndarray) -> np.ndarray:
        # the 2-D Gaussian is separable: two 11-tap passes instead of 121 taps (same result to ~1e-13)
        return cv2.sepFilter2D(x, -1, k, k)[r:-r, r:-r]  # drop positions whose window leaves the image

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def calculate_ssim(
    img: np.ndarray,
    img2: np.ndarray,
    crop_border: int,
    input_order: str = "HWC",
    test_y_channel: bool = False,
    max_value: float | None = None,
    **_: object,
) -> float:
    """SSIM (Wang et al. 2004) as in the SR protocol; same arguments as :func:`calculate_psnr`.

    11x11 Gaussian window (sigma 1.5), valid positions only, per channel, averaged.
    """
    _check_pair(img, img2)
    peak = data_range(img) if max_value is None else float(max_value)
    a = _prepare(img, crop_border, input_order, test_y_channel, peak)
    b = _prepare(img2, crop_border, input_order, test_y_channel, peak)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise OptionError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} after cropping, got {a.shape[:2]}")
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], peak) for c in range(a.shape[2])]))


# PSNR-B (Yim & Bovik 2011, "Quality assessment of deblocked images"): PSNR with the MSE raised by
# the blocking-effect factor of the *restored* image, as SwinIR's ``calculate_psnrb`` scores JPEG
# artifact removal. JPEG blocks are 8x8.
JPEG_BLOCK = 8


def blocking_effect_factor(img: np.ndarray) -> float:
    """Blocking-effect factor of a 2-D float image in ``[0, 1]`` (8x8 blocks).

    The mean squared step across block boundaries (between columns/rows ``8k+7`` and ``8k+8``)
    minus the mean squared step elsewhere, times ``log2(8) / log2(min(H, W))``; 0 when the
    boundaries are no rougher than the rest. The boundary counts are the reference's,
    ``H * (W // 8 - 1) + W * (H // 8 - 1)``, used as they are (for sides that are not
    multiples of 8 they differ from the number of steps actually summed, as in the reference).
    """
    arr = np.asarray(img, dtype=np.float64)
    h, w = arr.shape
    if min(h, w) < 2 * JPEG_BLOCK:
        raise OptionError(f"PSNR-B needs images of at least {2 * JPEG_BLOCK}x{2 * JPEG_BLOCK}, got {w}x{h}")
    step_x = (arr[:, :-1] - arr[:, 1:]) ** 2  # (H, W-1): column j to j+1
    step_y = (arr[:-1, :] - arr[1:, :]) ** 2  # (H-1, W): row i to i+1
    at_x = np.zeros(w - 1, dtype=bool)
    at_x[JPEG_BLOCK - 1 : w - 1 : JPEG_BLOCK] = True
    at_y = np.zeros(h - 1, dtype=bool)
    at_y[JPEG_BLOCK - 1 : h - 1 : JPEG_BLOCK] = True
    n_boundary = h * (w // JPEG_BLOCK - 1) + w * (h // JPEG_BLOCK - 1)
    n_other = h * (w - 1) + w * (h - 1) - n_boundary
    boundary = (step_x[:, at_x].sum() + step_y[at_y, :].sum()) / n_boundary
    other = (step_x[:, ~at_x].sum() + step_y[~at_y, :].sum()) / n_other
    if boundary <= other:
        return 0.0
    return float(math.log2(JPEG_BLOCK) / math.log2(min(h, w)) * (boundary - other))


def calculate_psnrb(
    img: np.ndarray,
    img2: np.ndarray,
    crop_border: int,
    input_order: str = "HWC",
    test_y_channel: bool = False,
    max_value: float | None = None,
) -> float:
    """PSNR-B in dB of a restored image ``img`` against the clean ``img2`` (same arguments as
    :func:`calculate_psnr`; the order matters: the blocking factor is measured on ``img``).

    Per channel ``10 log10(1 / (MSE + BEF(img)))`` in ``[0, 1]`` units, averaged over channels.
    """
    _check_pair(img, img2)
    peak = data_range(img) if max_value is None else float(max_value)
    a = _prepare(img, crop_border, input_order, test_y_channel, peak) / peak
    b = _prepare(img2, crop_border, input_order, test_y_channel, peak) / peak
    total = 0.0
    for c in range(a.shape[2]):
        denom = float(np.mean((a[..., c] - b[..., c]) ** 2)) + blocking_effect_factor(a[..., c])
        total += float("inf") if denom == 0 else -10.0 * math.log10(denom)
    return total / a.shape[2]


# --------------------------------------------------------------------------- torch metrics


def _prepare_torch(x: torch.Tensor, crop_border: int, test_y_channel: bool, quantize: bool) -> torch.Tensor:
    if x.ndim != 4:
        raise OptionError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    x = x.detach().to(torch.float64)
    if quantize:
        x = x.clamp(0.0, 1.0).mul(255.0).round().div(255.0)
    if crop_border:
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
    if test_y_channel and x.shape[1] == 3:
        x = rgb_to_y(x)  # type: ignore[assignment]
    return x


def psnr_torch(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, test_y_channel: bool = False, quantize: bool = True
) -> torch.Tensor:
    """Per-image PSNR (dB, shape ``(B,)``, float64) of ``(B, C, H, W)`` tensors in ``[0, 1]``.

    ``quantize`` rounds both to the 8-bit grid first (the protocol; HR read from 8-bit files is
    unchanged by it), so values agree with :func:`calculate_psnr` on the saved images.
    """
    if sr.shape != hr.shape:
        raise OptionError(f"tensor shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    a = _prepare_torch(sr, crop_border, test_y_channel, quantize)
    b = _prepare_torch(hr, crop_border, test_y_channel, quantize)
    mse = (a - b).pow(2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(1.0 / mse)  # inf where identical


def ssim_torch(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, test_y_channel: bool = False, quantize: bool = True
) -> torch.Tensor:
    """Per-image SSIM (shape ``(B,)``, float64) of ``(B, C, H, W)`` tensors in ``[0, 1]``; as :func:`calculate_ssim`."""
    if sr.shape != hr.shape:
        raise OptionError(f"tensor shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    a = _prepare_torch(sr, crop_border, test_y_channel, quantize)
    b = _prepare_torch(hr, crop_border, test_y_channel, quantize)
    channels = a.shape[1]
    win = torch.from_numpy(_gaussian_window().copy()).to(a.device, a.dtype)
    win = win.expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, win, groups=channels)  # no padding: valid window positions only

    c1, c2 = SSIM_K1**2, SSIM_K2**2  # data range 1
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean(dim=(1, 2, 3))


# --------------------------------------------------------------------------- LPIPS (optional)

# torchvision's file names of the ImageNet backbones the ``lpips`` package builds on
_LPIPS_BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}


class MetricUnavailable(SwinSRError):
    """An optional metric whose package or weights are not installed locally."""


def lpips_unavailable_reason(net: str = "alex") -> str | None:
    """Why LPIPS cannot be computed offline (``None`` when it can).

    LPIPS needs the ``lpips`` package (with torchvision) and its ImageNet backbone weights in
    torch's hub cache; swinsr never downloads them at run time.
    """
    if net not in _LPIPS_BACKBONE_FILES:
        return f"unknown LPIPS network {net!r} (choose from {', '.join(_LPIPS_BACKBONE_FILES)})"
    try:
        import lpips  # noqa: F401
    except Exception as exc:  # ImportError, or a broken torchvision underneath
        return f"LPIPS skipped: the 'lpips' package cannot be imported ({exc.__class__.__name__}: {exc}); pip install lpips"
    weights = Path(torch.hub.get_dir()) / "checkpoints" / _LPIPS_BACKBONE_FILES[net]
    if not weights.is_file():
        return f"LPIPS skipped: backbone weights {weights} are not present locally (swinsr does not download them)"
    return None


class LPIPSMetric:
    """LPIPS distance (lower is better) on ``(B, 3, H, W)`` tensors in ``[0, 1]``.

    Construction raises :class:`MetricUnavailable` with a one-line reason when the package or
    weights are missing; use :func:`lpips_unavailable_reason` to check without raising.
    """

    def __init__(self, net: str = "alex", device: str | torch.device | None = None) -> None:
        reason = lpips_unavailable_reason(net)
        if reason is not None:
            raise MetricUnavailable(reason)
        import lpips

        self.device = torch.device(device or "cpu")
        self.model = lpips.LPIPS(net=net, verbose=False).to(self.device).eval()

    @torch.no_grad()
    def __call__(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Per-image distances, shape ``(B,)``."""
        to_pm1 = lambda t: t.to(self.device, torch.float32).clamp(0, 1) * 2 - 1  # noqa: E731  lpips wants [-1, 1]
        return self.model(to_pm1(sr), to_pm1(hr)).flatten().cpu().double()
