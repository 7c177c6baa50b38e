"""Batched torch degradation operators: blur, USM sharpening, noise, resize.

Semantics follow BasicSR (``utils/img_process_util.py``, ``data/degradations.py``), proven by
``../shared/fixtures/degradations/ops.pt``. Everything works on tensors of any device; random
draws come from an optional ``torch.Generator`` (see :func:`rand`), never from ``.cuda()``
state, so one seed gives the same degradation on every run.
"""

from __future__ import annotations

from typing import Sequence

from .._lazy import cv2
import numpy as np
import torch
import torch.nn.functional as F

#: ``F.interpolate`` modes the random resize chooses from, with equal probability.
RESIZE_MODES = ("area", "bilinear", "bicubic")


# --------------------------------------------------------------------------- random draws
def _draw_device(generator: torch.Generator | None, like: torch.Tensor) -> torch.device:
    # a generator only fills tensors on its own device; draw there and move the (small) result
    return generator.device if generator is not None else like.device


def rand(n: int | Sequence[int], like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform ``[0, 1)`` values of shape ``n`` on ``like``'s device and dtype, drawn from ``generator``."""
    shape = (n,) if isinstance(n, int) else tuple(n)
    out = torch.rand(shape, generator=generator, device=_draw_device(generator, like), dtype=torch.float64)
    return out.to(device=like.device, dtype=like.dtype)


def uniform(low: float, high: float, like: torch.Tensor, generator: torch.Generator | None = None) -> float:
    """One uniform draw in ``[low, high)`` (a Python float)."""
    return low + (high - low) * float(torch.rand((), generator=generator, device=_draw_device(generator, like), dtype=torch.float64))


def choice(probs: Sequence[float], like: torch.Tensor, generator: torch.Generator | None = None) -> int:
    """Index ``i`` drawn with probability ``probs[i]``."""
    u = uniform(0.0, float(sum(probs)), like, generator)
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return len(probs) - 1  # u == sum(probs) cannot happen; guards float round-off


def uniform_per_sample(low: float, high: float, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B,)`` independent uniform draws in ``[low, high)``, one per sample of the batch ``like``."""
    return rand(like.shape[0], like, generator) * (high - low) + low


# --------------------------------------------------------------------------- blur
def _reflect_pad(img: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect padding (mirror without repeating the edge) by ``pad`` on all four sides.

    Torch refuses a reflection wider than the image; then the reflection is repeated in steps
    (the reference simply fails there), and a 1-pixel side is replicated.
    """
    while pad > 0:
        step = min(pad, img.shape[-2] - 1, img.shape[-1] - 1)
        if step <= 0:
            return F.pad(img, (pad, pad, pad, pad), mode="replicate")
        img = F.pad(img, (step, step, step, step), mode="reflect")
        pad -= step
    return img


def filter2d(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve ``(B, C, H, W)`` images with ``(B, k, k)`` per-sample kernels (or one ``(1, k, k)``).

    Same size out as in (reflect padding by ``k // 2``), every channel with its sample's kernel;
    ``k`` must be odd. Like ``cv2.filter2D`` this is a correlation (kernels are not flipped).
    """
    b, c, h, w = img.shape
    k = kernel.shape[-1]
    if k % 2 != 1 or kernel.shape[-2] != k:
        raise ValueError(f"filter2d: kernels must be square with an odd size, got {tuple(kernel.shape)}")
    kernel = kernel.to(device=img.device, dtype=img.dtype).reshape(-1, k, k)
    padded = _reflect_pad(img, k // 2)
    if kernel.shape[0] == 1:
        out = F.conv2d(padded.reshape(b * c, 1, *padded.shape[-2:]), kernel.view(1, 1, k, k))
    else:
        if kernel.shape[0] != b:
            raise ValueError(f"filter2d: {kernel.shape[0]} kernels for a batch of {b}")
        weight = kernel.repeat_interleave(c, dim=0).view(b * c, 1, k, k)
        out = F.conv2d(padded.reshape(1, b * c, *padded.shape[-2:]), weight, groups=b * c)
    return out.view(b, c, h, w)


class USMSharp(torch.nn.Module):
    """Unsharp masking as Real-ESRGAN sharpens its GT: ``radius`` x ``radius`` Gaussian blur (OpenCV's
    sigma rule for ``sigma=0``), edges where ``|I - blur| * 255 > threshold``, softened by the same blur.

    ``out = m * clip(I + weight (I - blur), 0, 1) + (1 - m) * I`` with ``m`` the blurred edge mask.
    """

    def __init__(self, radius: int = 50, sigma: float = 0.0):
        super().__init__()
        if radius % 2 == 0:
            radius += 1  # an odd kernel has a centre tap
        self.radius = radius
        g = cv2.getGaussianKernel(radius, sigma)
        self.register_buffer("kernel", torch.from_numpy(np.outer(g, g)).float().unsqueeze(0))

    def forward(self, img: torch.Tensor, weight: float = 0.5, threshold: float = 10) -> torch.Tensor:
        """Sharpen ``(B, C, H, W)`` images in ``[0, 1]``."""
        blur = filter2d(img, self.kernel)
        residual = img - blur
        mask = (residual.abs() * 255 > threshold).to(img.dtype)
        soft_mask = filter2d(mask, self.kernel)
        sharp = (img + weight * residual).clamp(0, 1)
        return soft_mask * sharp + (1 - soft_mask) * img


# --------------------------------------------------------------------------- resize
def resize(img: torch.Tensor, mode: str, *, scale: float | None = None, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``F.interpolate`` by a ``scale`` factor or to a ``size``, as Real-ESRGAN calls it.

    A factor is passed through as a factor (bilinear/bicubic then sample at ``scale``, not at the
    rounded size ratio, as the reference does); a side that would shrink to 0 pixels is kept at 1.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode {mode!r}: choose from {', '.join(RESIZE_MODES)}")
    h, w = img.shape[-2:]
    if size is None:
        if scale is None:
            raise ValueError("resize: give scale or size")
        if int(h * scale) < 1 or int(w * scale) < 1:
            size = (max(1, int(h * scale)), max(1, int(w * scale)))
        else:
            return F.interpolate(img, scale_factor=scale, mode=mode)
    size = (max(1, int(size[0])), max(1, int(size[1])))
    return F.interpolate(img, size=size, mode=mode)


def random_resize(
    img: torch.Tensor,
    resize_prob: Sequence[float],
    resize_range: Sequence[float],
    generator: torch.Generator | None = None,
    *,
    base_size: tuple[float, float] | None = None,
) -> torch.Tensor:
    """One up/down/keep resize for the whole batch (probabilities ``resize_prob``).

    The factor is uniform in ``[1, resize_range[1])`` (up) or ``[resize_range[0], 1)`` (down), the
    mode uniform over area/bilinear/bicubic; all per batch, as in the reference. With
    ``base_size`` the output is ``int(base * factor)`` pixels (the second degradation resizes
    relative to the target LR size), else the factor scales the input.
    """
    kind = choice(resize_prob, img, generator)
    if kind == 0:
        factor = uniform(1.0, float(resize_range[1]), img, generator)
    elif kind == 1:
        factor = uniform(float(resize_range[0]), 1.0, img, generator)
    else:
        factor = 1.0
    mode = RESIZE_MODES[choice((1, 1, 1), img, generator)]
    if base_size is not None:
        return resize(img, mode, size=(int(base_size[0] * factor), int(base_size[1] * factor)))
    return resize(img, mode, scale=factor)


# --------------------------------------------------------------------------- noise
def rgb_to_gray(img: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` -> ``(B, 1, H, W)`` with ITU-R 601 luma weights (torchvision's ``rgb_to_grayscale``)."""
    r, g, b = img.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def _per_sample(value: float | torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=img.dtype, device=img.device)
    return t.view(-1, 1, 1, 1) if t.ndim else t


def _randn(like: torch.Tensor, shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
    out = torch.randn(tuple(shape), generator=generator, device=_draw_device(generator, like), dtype=like.dtype)
    return out.to(like.device)


def gaussian_noise(
    img: torch.Tensor, sigma: float | torch.Tensor, gray: float | torch.Tensor = 0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Additive white Gaussian noise (not added: returned) with std ``sigma`` on the 0-255 scale.

    ``sigma`` and ``gray`` (0/1: the same noise on all three channels) are numbers or ``(B,)``
    tensors. Unlike the reference, whose gray noise is one pattern shared by the whole batch
    (scaled per sample), each sample gets its own gray pattern: the per-sample distribution is
    the same and samples stay independent.
    """
    b, c, h, w = img.shape
    sig = _per_sample(sigma, img) / 255.0
    noise = _randn(img, (b, c, h, w), generator) * sig
    g = _per_sample(gray, img)
    if bool((g > 0).any()):
        noise_gray = _randn(img, (b, 1, h, w), generator) * sig
        noise = noise * (1 - g) + noise_gray * g
    return noise


def _poisson_of(img: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Shot noise of 8-bit-rounded images: ``poisson(x * v) / v - x`` with ``v`` the number of distinct
    levels of each sample rounded up to a power of two (as scikit-image's ``random_noise``)."""
    x = (img * 255.0).round().clamp(0, 255)
    levels = x.to(torch.int64).flatten(1)
    present = torch.zeros(img.shape[0], 256, dtype=torch.bool, device=img.device)
    present.scatter_(1, levels, True)  # distinct values per sample, without a Python loop over torch.unique
    count = present.sum(dim=1).to(torch.float64)
    vals = torch.exp2(torch.ceil(torch.log2(count))).to(img.dtype).view(-1, 1, 1, 1)
    x = x / 255.0
    rate = (x * vals).to(_draw_device(generator, img))
    out = torch.poisson(rate, generator=generator).to(img.device) / vals
    return out - x


def poisson_noise(
    img: torch.Tensor, scale: float | torch.Tensor, gray: float | torch.Tensor = 0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Poisson (shot) noise of ``(B, 3, H, W)`` images in ``[0, 1]``, multiplied by ``scale``.

    ``gray`` samples (0/1 per sample) take the noise of their luma image on all channels.
    """
    noise = _poisson_of(img, generator)
    g = _per_sample(gray, img)
    if bool((g > 0).any()):
        noise_gray = _poisson_of(rgb_to_gray(img), generator).expand_as(noise)
        noise = noise * (1 - g) + noise_gray * g
    return noise * _per_sample(scale, img)


def random_noise(
    img: torch.Tensor,
    gaussian_prob: float,
    sigma_range: Sequence[float],
    poisson_scale_range: Sequence[float],
    gray_prob: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Real-ESRGAN's noise step, clipped to ``[0, 1]``: Gaussian (probability ``gaussian_prob``, per
    batch) or Poisson noise; the strength and the gray/colour choice drawn per sample."""
    use_gaussian = uniform(0.0, 1.0, img, generator) < gaussian_prob
    lo, hi = (sigma_range if use_gaussian else poisson_scale_range)
    strength = uniform_per_sample(float(lo), float(hi), img, generator)
    gray = (rand(img.shape[0], img, generator) < gray_prob).to(img.dtype)
    noise = (gaussian_noise if use_gaussian else poisson_noise)(img, strength, gray, generator)
    return (img + noise).clamp(0, 1)


__all__ = [
    "RESIZE_MODES",
    "USMSharp",
    "choice",
    "filter2d",
    "gaussian_noise",
    "poisson_noise",
    "rand",
    "random_noise",
    "random_resize",
    "resize",
    "rgb_to_gray",
    "uniform",
    "uniform_per_sample",
]
