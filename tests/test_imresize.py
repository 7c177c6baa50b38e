"""swinsr.imresize: bit-exact against MATLAB's LR images in ../shared, and basic resize properties."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from swinsr.errors import OptionError
from swinsr.imresize import bicubic_downscale, cubic_kernel, imresize, mod_crop, resize_matrix


def _read(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_matches_matlab_lr_images(shared, dataset, scale):
    """The shared LR_bicubic images are MATLAB imresize outputs of the top-left mod-s HR crop."""
    root = shared / "data" / dataset
    hr_files = sorted((root / "HR").glob("*.png"))
    assert hr_files
    equal = total = 0
    for hr_path in hr_files:
        hr = _read(hr_path)
        lr = _read(root / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png")
        ours = bicubic_downscale(hr, scale)
        assert ours.shape == lr.shape and ours.dtype == np.uint8, hr_path.name
        diff = np.abs(ours.astype(int) - lr.astype(int))
        assert diff.max() == 0, f"{hr_path.name}: max abs diff {diff.max()}"
        equal += int((diff == 0).sum())
        total += diff.size
    assert equal == total


def test_torch_uint8_matches_matlab(shared):
    root = shared / "data" / "Set5"
    hr = mod_crop(_read(root / "HR" / "bird.png"), 3)
    lr = _read(root / "LR_bicubic" / "X3" / "birdx3.png")
    t = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))
    out = imresize(t, 1 / 3)
    assert out.dtype == torch.uint8
    assert np.array_equal(out.numpy().transpose(1, 2, 0), lr)


def test_cubic_kernel_values():
    # Keys kernel with a = -0.5: k(0)=1, k(+-1)=k(+-2)=0, k(0.5)=0.5625, k(1.5)=-0.0625
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, -1.5, 2.5])
    np.testing.assert_allclose(cubic_kernel(x), [1.0, 0.5625, 0.0, -0.0625, 0.0, -0.0625, 0.0], atol=1e-15)


@pytest.mark.parametrize("in_len,out_len", [(12, 4), (12, 36), (7, 5), (5, 11), (3, 1)])
def test_resize_matrix_rows_sum_to_one(in_len, out_len):
    w = resize_matrix(in_len, out_len, out_len / in_len)
    assert w.shape == (out_len, in_len)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)


def test_shapes_dtypes_and_constants():
    rng = np.random.default_rng(0)
    img = rng.random((20, 30, 3))
    up = imresize(img, 2)
    assert up.shape == (40, 60, 3) and up.dtype == img.dtype
    assert imresize(img, output_shape=(7, 9)).shape == (7, 9, 3)
    assert imresize(np.zeros((255, 255), np.uint8), 1 / 3).shape == (85, 85)  # ceil(255/3) without float noise
    assert imresize(img[..., 0], 0.5).shape == (10, 15)
    const = np.full((16, 18, 3), 0.37)
    np.testing.assert_allclose(imresize(const, 0.25), 0.37, atol=1e-12)
    np.testing.assert_allclose(imresize(const, 3), 0.37, atol=1e-12)
    # antialiasing only changes downscaling
    assert not np.allclose(imresize(img, 0.5), imresize(img, 0.5, antialias=False))
    assert np.allclose(imresize(img, 2), imresize(img, 2, antialias=False))


def test_upscale_interpolates_sample_points():
    # x3 upscaling puts output pixel 3k+1 (0-based) exactly on input pixel k: the kernel is interpolating
    rng = np.random.default_rng(1)
    img = rng.random((9, 10))
    up = imresize(img, 3)
    np.testing.assert_allclose(up[1::3, 1::3], img, atol=1e-12)


def test_torch_float_matches_numpy_batched():
    rng = np.random.default_rng(2)
    img = rng.random((2, 3, 21, 17))
    for scale in (0.5, 1 / 3, 2, 3):
        t = imresize(torch.from_numpy(img), scale)
        for b in range(2):
            ref = imresize(img[b].transpose(1, 2, 0), scale)
            np.testing.assert_allclose(t[b].numpy().transpose(1, 2, 0), ref, atol=1e-12)
    t32 = imresize(torch.from_numpy(img).float()[0], 0.25)
    assert t32.dtype == torch.float32 and t32.shape == (3, 6, 5)


def test_bad_arguments():
    with pytest.raises(OptionError):
        imresize(np.zeros((4, 4)))
    with pytest.raises(OptionError):
        imresize(np.zeros((4, 4, 3, 1)), 2)
    with pytest.raises(OptionError):
        imresize(np.zeros((4, 4)), (1, 2, 3))
