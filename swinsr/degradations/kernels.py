"""Blur kernels of the Real-ESRGAN degradation model (numpy, float64).

Deterministic kernels -- :func:`bivariate_gaussian`, :func:`bivariate_generalized_gaussian`,
:func:`bivariate_plateau`, :func:`circular_lowpass_kernel` -- follow BasicSR's
``basicsr/data/degradations.py`` (checked against its outputs in
``../shared/fixtures/degradations/kernels.pt``). The random ones take an explicit
``numpy.random.Generator`` instead of the global numpy/``random`` state, so a sample's kernel
depends only on its seed.

Grids are centred on the middle tap: for size ``k`` the coordinates run ``-(k//2) .. k//2``.
All kernels are normalised to sum 1.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Kernel family names accepted in ``kernel_list`` (the six Real-ESRGAN implements).
KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def mesh_grid(kernel_size: int) -> np.ndarray:
    """``(k, k, 2)`` grid of ``(x, y)`` tap offsets from the kernel centre (x along columns)."""
    ax = np.arange(kernel_size, dtype=np.float64) - (kernel_size // 2)
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)


def sigma_matrix(sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    """Covariance matrix ``R diag(sig_x^2, sig_y^2) R^T`` for a rotation by ``theta`` radians."""
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    return rot @ np.diag([sig_x**2, sig_y**2]) @ rot.T


def _mahalanobis2(kernel_size: int, sig_x: float, sig_y: float, theta: float, isotropic: bool) -> np.ndarray:
    """Squared Mahalanobis distance of every tap; isotropic kernels use ``sig_x`` only."""
    cov = np.diag([sig_x**2, sig_x**2]) if isotropic else sigma_matrix(sig_x, sig_y, theta)
    grid = mesh_grid(kernel_size)
    inv = np.linalg.inv(cov)
    return np.sum((grid @ inv) * grid, axis=-1)


def _normalised(kernel: np.ndarray) -> np.ndarray:
    return kernel / np.sum(kernel)


def bivariate_gaussian(kernel_size: int, sig_x: float, sig_y: float, theta: float, isotropic: bool = True) -> np.ndarray:
    """Normalised (an)isotropic Gaussian kernel ``exp(-d^2 / 2)``."""
    return _normalised(np.exp(-0.5 * _mahalanobis2(kernel_size, sig_x, sig_y, theta, isotropic)))


def bivariate_generalized_gaussian(
    kernel_size: int, sig_x: float, sig_y: float, theta: float, beta: float, isotropic: bool = True
) -> np.ndarray:
    """Normalised generalized Gaussian ``exp(-(d^2)^beta / 2)``; ``beta = 1`` is the Gaussian."""
    return _normalised(np.exp(-0.5 * np.power(_mahalanobis2(kernel_size, sig_x, sig_y, theta, isotropic), beta)))


def bivariate_plateau(
    kernel_size: int, sig_x: float, sig_y: float, theta: float, beta: float, isotropic: bool = True
) -> np.ndarray:
    """Normalised plateau-shaped kernel ``1 / (1 + (d^2)^beta)``."""
    return _normalised(1.0 / (np.power(_mahalanobis2(kernel_size, sig_x, sig_y, theta, isotropic), beta) + 1.0))


def pad_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a square odd kernel symmetrically to ``size x size`` (no-op when already that big)."""
    pad = (size - kernel.shape[0]) // 2
    return np.pad(kernel, ((pad, pad), (pad, pad))) if pad > 0 else kernel


def circular_lowpass_kernel(cutoff: float, kernel_size: int, pad_to: int = 0) -> np.ndarray:
    """Normalised 2-D circularly symmetric sinc (ideal low-pass) kernel with cutoff ``cutoff`` radians.

    Tap value ``cutoff * J1(cutoff * r) / (2 pi r)`` at radius ``r``, and its limit
    ``cutoff^2 / (4 pi)`` at the centre. ``pad_to`` (odd, larger than ``kernel_size``) zero-pads it.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"circular_lowpass_kernel: kernel size must be odd, got {kernel_size}")
    grid = mesh_grid(kernel_size)
    r = np.sqrt(np.sum(grid**2, axis=-1))
    centre = kernel_size // 2
    r[centre, centre] = 1.0  # placeholder, replaced by the limit below (avoids a 0/0 warning)
    from scipy import special  # here, not at module level: every `swinsr` import would pay ~17 MB for it

    kernel = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    kernel[centre, centre] = cutoff**2 / (4 * np.pi)
    kernel = _normalised(kernel)
    return pad_kernel(kernel, pad_to) if pad_to and pad_to > kernel_size else kernel


def _beta(rng: np.random.Generator, beta_range: Sequence[float]) -> float:
    # as the reference: half of the draws below 1 (sharper shoulders), half above (flatter top)
    if rng.uniform() < 0.5:
        return float(rng.uniform(beta_range[0], 1))
    return float(rng.uniform(1, beta_range[1]))


def random_mixed_kernel(
    rng: np.random.Generator,
    kernel_list: Sequence[str],
    kernel_prob: Sequence[float],
    kernel_size: int = 21,
    sigma_x_range: Sequence[float] = (0.6, 5.0),
    sigma_y_range: Sequence[float] = (0.6, 5.0),
    rotation_range: Sequence[float] = (-math.pi, math.pi),
    betag_range: Sequence[float] = (0.5, 8.0),
    betap_range: Sequence[float] = (0.5, 8.0),
) -> tuple[np.ndarray, dict[str, float | str]]:
    """One random kernel of a family drawn from ``kernel_list`` with probabilities ``kernel_prob``.

    Returns the kernel and its parameters (``type``, ``sig_x``, ``sig_y``, ``theta``, ``beta``),
    the latter for statistics and debugging. Isotropic families draw ``sig_x`` only
    (``sig_y = sig_x``, ``theta = 0``); generalized and plateau kernels draw ``beta`` below 1 or
    above 1 with equal chance, as Real-ESRGAN does. No multiplicative kernel noise (Real-ESRGAN
    uses none).
    """
    probs = np.asarray(kernel_prob, dtype=np.float64)
    kind = kernel_list[int(rng.choice(len(kernel_list), p=probs / probs.sum()))]
    isotropic = kind.endswith("iso") and not kind.endswith("aniso")
    sig_x = float(rng.uniform(sigma_x_range[0], sigma_x_range[1]))
    if isotropic:
        sig_y, theta = sig_x, 0.0
    else:
        sig_y = float(rng.uniform(sigma_y_range[0], sigma_y_range[1]))
        theta = float(rng.uniform(rotation_range[0], rotation_range[1]))
    params: dict[str, float | str] = {"type": kind, "sig_x": sig_x, "sig_y": sig_y, "theta": theta}
    if kind in ("iso", "aniso"):
        kernel = bivariate_gaussian(kernel_size, sig_x, sig_y, theta, isotropic)
    elif kind.startswith("generalized"):
        params["beta"] = beta = _beta(rng, betag_range)
        kernel = bivariate_generalized_gaussian(kernel_size, sig_x, sig_y, theta, beta, isotropic)
    elif kind.startswith("plateau"):
        params["beta"] = beta = _beta(rng, betap_range)
        kernel = bivariate_plateau(kernel_size, sig_x, sig_y, theta, beta, isotropic)
    else:
        raise ValueError(f"unknown kernel type {kind!r}; choose from {', '.join(KERNEL_TYPES)}")
    return kernel, params


__all__ = [
    "KERNEL_TYPES",
    "bivariate_gaussian",
    "bivariate_generalized_gaussian",
    "bivariate_plateau",
    "circular_lowpass_kernel",
    "mesh_grid",
    "pad_kernel",
    "random_mixed_kernel",
    "sigma_matrix",
]
