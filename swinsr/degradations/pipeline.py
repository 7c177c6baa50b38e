"""The Real-ESRGAN second-order degradation: kernels drawn per sample, the chain run per batch.

* :class:`RealESRGANKernels` draws ``(kernel1, kernel2, sinc_kernel)`` for one training sample
  from the *dataset* option keys, as ``RealESRGANDataset.__getitem__`` does.
* :class:`RealESRGANDegradation` turns a batch of (USM-sharpened) GT images and their kernels into
  LR images from the *top-level* option keys, as ``RealESRNetModel.feed_data`` does:
  blur -> random resize -> noise -> JPEG, then (blur with ``second_blur_prob``) -> random resize
  -> noise, then ``[resize to H/s + sinc] -> JPEG`` or ``JPEG -> [resize + sinc]`` (even odds),
  then clamp and rounding to 8 bits.

Which draws are shared by the batch follows the reference: resize direction, factor and mode,
Gaussian-vs-Poisson, the second-blur coin and the final order are drawn once per batch; noise
strength, gray-vs-colour noise and JPEG quality once per sample; kernels per sample. All draws
come from the ``torch.Generator`` passed in (or torch's default one), so the result depends only
on the seed, on any device.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..errors import OptionError
from .jpeg import jpeg_compress
from .kernels import KERNEL_TYPES, circular_lowpass_kernel, pad_kernel, random_mixed_kernel
from .ops import RESIZE_MODES, choice, filter2d, random_noise, random_resize, resize, uniform, uniform_per_sample

#: Top-level degradation keys and their values in Real-ESRGAN's ``train_realesrgan_x4plus.yml``.
DEGRADATION_DEFAULTS: dict[str, Any] = {
    "resize_prob": [0.2, 0.7, 0.1],  # up, down, keep
    "resize_range": [0.15, 1.5],
    "gaussian_noise_prob": 0.5,
    "noise_range": [1, 30],
    "poisson_scale_range": [0.05, 3],
    "gray_noise_prob": 0.4,
    "jpeg_range": [30, 95],
    "second_blur_prob": 0.8,
    "resize_prob2": [0.3, 0.4, 0.3],
    "resize_range2": [0.3, 1.2],
    "gaussian_noise_prob2": 0.5,
    "noise_range2": [1, 25],
    "poisson_scale_range2": [0.05, 2.5],
    "gray_noise_prob2": 0.4,
    "jpeg_range2": [30, 95],
}

#: Dataset-section kernel keys and their values in the same official file.
KERNEL_DEFAULTS: dict[str, Any] = {
    "blur_kernel_size": 21,
    "kernel_list": list(KERNEL_TYPES),
    "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
    "sinc_prob": 0.1,
    "blur_sigma": [0.2, 3],
    "betag_range": [0.5, 4],
    "betap_range": [1, 2],
    "blur_kernel_size2": 21,
    "kernel_list2": list(KERNEL_TYPES),
    "kernel_prob2": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
    "sinc_prob2": 0.1,
    "blur_sigma2": [0.2, 1.5],
    "betag_range2": [0.5, 4],
    "betap_range2": [1, 2],
    "final_sinc_prob": 0.8,
}

#: Probability of ``[resize + sinc] -> JPEG`` rather than ``JPEG -> [resize + sinc]`` (fixed in the reference).
FINAL_ORDER_PROB = 0.5
#: Size of the final sinc kernel and of the identity ("pulse") kernel used without one.
FINAL_KERNEL_SIZE = 21
#: Smallest blur kernel Real-ESRGAN draws (sizes are odd, from this up to ``blur_kernel_size``).
MIN_KERNEL_SIZE = 7


# --------------------------------------------------------------------------- option checks
def _number(opt: Mapping[str, Any], key: str, where: str) -> float:
    value = opt[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionError(f"{where}{key}: expected a number, got {value!r}")
    return float(value)


def _probability(opt: Mapping[str, Any], key: str, where: str) -> float:
    p = _number(opt, key, where)
    if not 0.0 <= p <= 1.0:
        raise OptionError(f"{where}{key}: a probability must be within 0-1, got {p:g}")
    return p


def _numbers(opt: Mapping[str, Any], key: str, where: str, n: int | None = None) -> list[float]:
    value = opt[key]
    if not isinstance(value, (list, tuple)) or (n is not None and len(value) != n) or not value:
        size = f"{n} numbers" if n else "a list of numbers"
        raise OptionError(f"{where}{key}: expected {size}, got {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise OptionError(f"{where}{key}: expected numbers, got {value!r}")
    return [float(v) for v in value]


def _range(opt: Mapping[str, Any], key: str, where: str, *, low: float = 0.0, high: float = math.inf,
           contains: float | None = None, positive: bool = False) -> tuple[float, float]:
    """``[lo, hi]`` with ``low <= lo <= hi <= high`` (and ``lo <= contains <= hi``, ``lo > 0`` when asked)."""
    lo, hi = _numbers(opt, key, where, 2)
    if lo > hi:
        raise OptionError(f"{where}{key}: [{lo:g}, {hi:g}] is inverted; write [low, high]")
    if positive and lo <= 0:
        raise OptionError(f"{where}{key}: values must be positive, got [{lo:g}, {hi:g}]")
    if lo < low or hi > high:
        bound = f"within {low:g}-{high:g}" if math.isfinite(high) else f"at least {low:g}"
        raise OptionError(f"{where}{key}: values must be {bound}, got [{lo:g}, {hi:g}]")
    if contains is not None and not lo <= contains <= hi:
        raise OptionError(f"{where}{key}: the range must contain {contains:g}, got [{lo:g}, {hi:g}]")
    return lo, hi


def _distribution(opt: Mapping[str, Any], key: str, where: str, n: int | None = None) -> list[float]:
    probs = _numbers(opt, key, where, n)
    if any(p < 0 for p in probs):
        raise OptionError(f"{where}{key}: probabilities must not be negative, got {probs}")
    if abs(sum(probs) - 1.0) > 1e-6:
        raise OptionError(f"{where}{key}: probabilities must sum to 1, got {probs} (sum {sum(probs):g})")
    return probs


def _with_defaults(opt: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> dict[str, Any]:
    opt = {} if opt is None else opt
    if not isinstance(opt, Mapping):
        raise OptionError(f"degradation options: expected a mapping, got {opt!r}")
    return {key: opt[key] if opt.get(key) is not None else value for key, value in defaults.items()}


# --------------------------------------------------------------------------- the batch chain
class RealESRGANDegradation:
    """Real-ESRGAN's second-order degradation of a batch, configured by the top-level option keys.

    Args:
        opt: an option mapping (the whole option file is fine); keys of
            :data:`DEGRADATION_DEFAULTS` that are missing take the official x4plus values.
        scale: the SR factor; the output is ``(H // scale, W // scale)``.

    Raises :class:`OptionError` (one line naming the key) for probabilities outside 0-1,
    ``resize_prob*`` not summing to 1, inverted or negative ranges, resize ranges not containing
    1, and JPEG qualities outside 1-100.
    """

    def __init__(self, opt: Mapping[str, Any] | None, scale: int):
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise OptionError(f"scale: expected a positive integer, got {scale!r}")
        self.scale = scale
        o = _with_defaults(opt, DEGRADATION_DEFAULTS)
        self.stages: list[dict[str, Any]] = []
        for suffix in ("", "2"):
            self.stages.append({
                "resize_prob": _distribution(o, f"resize_prob{suffix}", "", 3),
                "resize_range": _range(o, f"resize_range{suffix}", "", positive=True, contains=1.0),
                "gaussian_noise_prob": _probability(o, f"gaussian_noise_prob{suffix}", ""),
                "noise_range": _range(o, f"noise_range{suffix}", ""),
                "poisson_scale_range": _range(o, f"poisson_scale_range{suffix}", ""),
                "gray_noise_prob": _probability(o, f"gray_noise_prob{suffix}", ""),
                "jpeg_range": _range(o, f"jpeg_range{suffix}", "", low=1.0, high=100.0),
            })
        self.second_blur_prob = _probability(o, "second_blur_prob", "")
        self.options = o

    def _noise(self, x: torch.Tensor, stage: Mapping[str, Any], generator: torch.Generator | None) -> torch.Tensor:
        return random_noise(
            x, stage["gaussian_noise_prob"], stage["noise_range"], stage["poisson_scale_range"],
            stage["gray_noise_prob"], generator,
        )

    @staticmethod
    def _jpeg(x: torch.Tensor, quality_range: Sequence[float], generator: torch.Generator | None) -> torch.Tensor:
        quality = uniform_per_sample(quality_range[0], quality_range[1], x, generator)
        # clamp first: values outside [0, 1] make the JPEG reconstruction ring badly (as the reference notes)
        return jpeg_compress(x.clamp(0, 1), quality)

    @torch.no_grad()
    def __call__(
        self,
        gt_usm: torch.Tensor,
        kernel1: torch.Tensor,
        kernel2: torch.Tensor,
        sinc_kernel: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Degrade ``(B, 3, H, W)`` images in ``[0, 1]`` with their ``(B, k, k)`` kernels.

        Returns ``(B, 3, H // scale, W // scale)`` LR images, clamped and rounded to 8-bit levels.
        """
        if gt_usm.ndim != 4 or gt_usm.shape[1] != 3:
            raise ValueError(f"RealESRGANDegradation: expected (B, 3, H, W) images, got {tuple(gt_usm.shape)}")
        h, w = gt_usm.shape[-2:]
        lr_size = (h // self.scale, w // self.scale)
        first, second = self.stages

        out = filter2d(gt_usm, kernel1)
        out = random_resize(out, first["resize_prob"], first["resize_range"], generator)
        out = self._noise(out, first, generator)
        out = self._jpeg(out, first["jpeg_range"], generator)

        if uniform(0.0, 1.0, out, generator) < self.second_blur_prob:
            out = filter2d(out, kernel2)
        # the second resize is relative to the target LR size (the reference: int(H / scale * factor))
        out = random_resize(out, second["resize_prob"], second["resize_range"], generator,
                            base_size=(h / self.scale, w / self.scale))
        out = self._noise(out, second, generator)

        if uniform(0.0, 1.0, out, generator) < FINAL_ORDER_PROB:
            out = resize(out, RESIZE_MODES[choice((1, 1, 1), out, generator)], size=lr_size)
            out = filter2d(out, sinc_kernel)
            out = self._jpeg(out, second["jpeg_range"], generator)
        else:
            out = self._jpeg(out, second["jpeg_range"], generator)
            out = resize(out, RESIZE_MODES[choice((1, 1, 1), out, generator)], size=lr_size)
            out = filter2d(out, sinc_kernel)
        return (out * 255.0).round().clamp(0, 255) / 255.0


# --------------------------------------------------------------------------- per-sample kernels
class RealESRGANKernels:
    """Draws the three kernels of one Real-ESRGAN training sample from the dataset option keys.

    Args:
        opt: a dataset option section; keys of :data:`KERNEL_DEFAULTS` that are missing take the
            official x4plus values.

    Each blur kernel has an odd size drawn uniformly from 7 to ``blur_kernel_size`` (21 in the
    reference, where this range is hard-coded) and is zero-padded to ``blur_kernel_size``; with
    probability ``sinc_prob`` it is a sinc kernel (cutoff uniform in ``[pi/3, pi)``, or
    ``[pi/5, pi)`` for sizes from 13), else a kernel of ``kernel_list``. The final sinc kernel
    (probability ``final_sinc_prob``, cutoff in ``[pi/3, pi)``) is 21x21; without it the 21x21
    identity pulse is returned, so the final filter step changes nothing.
    """

    def __init__(self, opt: Mapping[str, Any] | None = None, where: str = ""):
        o = _with_defaults(opt, KERNEL_DEFAULTS)
        where = f"{where}." if where and not where.endswith(".") else where
        self.stages = [self._stage(o, suffix, where) for suffix in ("", "2")]
        self.final_sinc_prob = _probability(o, "final_sinc_prob", where)
        self.pulse = torch.zeros(FINAL_KERNEL_SIZE, FINAL_KERNEL_SIZE)
        self.pulse[FINAL_KERNEL_SIZE // 2, FINAL_KERNEL_SIZE // 2] = 1.0

    @staticmethod
    def _stage(o: Mapping[str, Any], suffix: str, where: str) -> dict[str, Any]:
        size_key, list_key, prob_key = f"blur_kernel_size{suffix}", f"kernel_list{suffix}", f"kernel_prob{suffix}"
        size = o[size_key]
        if isinstance(size, bool) or not isinstance(size, int) or size < MIN_KERNEL_SIZE or size % 2 == 0:
            raise OptionError(f"{where}{size_key}: expected an odd kernel size of at least {MIN_KERNEL_SIZE}, got {size!r}")
        kinds = o[list_key]
        if not isinstance(kinds, (list, tuple)) or not kinds or any(k not in KERNEL_TYPES for k in kinds):
            raise OptionError(f"{where}{list_key}: expected kernel types from {', '.join(KERNEL_TYPES)}, got {kinds!r}")
        probs = _distribution(o, prob_key, where, len(kinds))
        return {
            "size": size,
            "sizes": list(range(MIN_KERNEL_SIZE, size + 1, 2)),
            "kernel_list": list(kinds),
            "kernel_prob": probs,
            "sinc_prob": _probability(o, f"sinc_prob{suffix}", where),
            "blur_sigma": _range(o, f"blur_sigma{suffix}", where, positive=True),
            "betag_range": _range(o, f"betag_range{suffix}", where, positive=True, contains=1.0),
            "betap_range": _range(o, f"betap_range{suffix}", where, positive=True, contains=1.0),
        }

    @staticmethod
    def _blur_kernel(stage: Mapping[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        size = int(stage["sizes"][rng.integers(len(stage["sizes"]))])
        if rng.uniform() < stage["sinc_prob"]:
            # cutoffs low enough to ring visibly only for kernels big enough to hold the ringing
            omega = float(rng.uniform(np.pi / 3, np.pi) if size < 13 else rng.uniform(np.pi / 5, np.pi))
            kernel, params = circular_lowpass_kernel(omega, size), {"type": "sinc", "omega": omega}
        else:
            kernel, params = random_mixed_kernel(
                rng, stage["kernel_list"], stage["kernel_prob"], size, stage["blur_sigma"], stage["blur_sigma"],
                (-math.pi, math.pi), stage["betag_range"], stage["betap_range"],
            )
        params["size"] = size
        return pad_kernel(kernel, stage["size"]), params

    def sample_with_params(self, rng: np.random.Generator) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], list[dict[str, Any]]]:
        """:meth:`sample` plus the drawn parameters of each kernel (type, size, sigmas, beta, cutoff)."""
        k1, p1 = self._blur_kernel(self.stages[0], rng)
        k2, p2 = self._blur_kernel(self.stages[1], rng)
        if rng.uniform() < self.final_sinc_prob:
            size = int(range(MIN_KERNEL_SIZE, FINAL_KERNEL_SIZE + 1, 2)[rng.integers(8)])
            omega = float(rng.uniform(np.pi / 3, np.pi))
            sinc = torch.from_numpy(circular_lowpass_kernel(omega, size, pad_to=FINAL_KERNEL_SIZE)).float()
            p3: dict[str, Any] = {"type": "sinc", "omega": omega, "size": size}
        else:
            sinc, p3 = self.pulse.clone(), {"type": "pulse", "size": 1}
        kernels = (torch.from_numpy(k1).float(), torch.from_numpy(k2).float(), sinc)
        return kernels, [p1, p2, p3]

    def sample(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(kernel1, kernel2, sinc_kernel)`` float32 tensors for one sample."""
        return self.sample_with_params(rng)[0]


__all__ = [
    "DEGRADATION_DEFAULTS",
    "FINAL_ORDER_PROB",
    "KERNEL_DEFAULTS",
    "RealESRGANDegradation",
    "RealESRGANKernels",
]
