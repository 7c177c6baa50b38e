"""Real-ESRGAN degradations: BasicSR golden fixtures, per-batch/per-sample draws, option checks,
statistics of the random draws, and the RealESRGAN datasets."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from swinsr.data import DATASET_REGISTRY, RealESRGANDataset, RealESRGANPairedDataset, build_dataset
from swinsr.data.io import write_image
from swinsr.degradations import (
    DEGRADATION_DEFAULTS,
    KERNEL_DEFAULTS,
    KERNEL_TYPES,
    RealESRGANDegradation,
    RealESRGANKernels,
    USMSharp,
    bivariate_gaussian,
    bivariate_generalized_gaussian,
    bivariate_plateau,
    circular_lowpass_kernel,
    filter2d,
    gaussian_noise,
    jpeg_compress,
    poisson_noise,
)
from swinsr.degradations import jpeg as jpeg_mod
from swinsr.degradations import ops as ops_mod
from swinsr.degradations import pipeline as pipeline_mod
from swinsr.errors import OptionError
from swinsr.train.schema import check_section

KERNEL_FUNCTIONS = {
    "bivariate_Gaussian": bivariate_gaussian,
    "bivariate_generalized_Gaussian": bivariate_generalized_gaussian,
    "bivariate_plateau": bivariate_plateau,
    "circular_lowpass_kernel": circular_lowpass_kernel,
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # these are many small tensor ops: on a busy CPU extra intra-op threads only spin (100x slower here)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def kernel_fixtures(shared):
    return torch.load(shared / "fixtures/degradations/kernels.pt", weights_only=True)


@pytest.fixture(scope="module")
def ops_fixture(shared):
    return torch.load(shared / "fixtures/degradations/ops.pt", weights_only=True)


def batch_kernels(n: int, seed: int = 0, opt=None):
    sampler = RealESRGANKernels(opt)
    rng = np.random.default_rng(seed)
    return [torch.stack(k) for k in zip(*(sampler.sample(rng) for _ in range(n)))]


# ----------------------------------------------------------------------------- golden fixtures
def test_kernels_match_basicsr(kernel_fixtures):
    assert len(kernel_fixtures) >= 8
    for name, case in kernel_fixtures.items():
        out = KERNEL_FUNCTIONS[case["function"]](**case["args"])
        ref = case["kernel"].numpy()
        assert out.shape == ref.shape, name
        assert np.abs(out - ref).max() < 1e-6, name


def test_filter2d_and_usm_match_basicsr(ops_fixture):
    x = ops_fixture["input"]
    assert (filter2d(x, ops_fixture["kernel"]) - ops_fixture["filter2D"]).abs().max() < 1e-5
    assert (USMSharp()(x) - ops_fixture["usm"]).abs().max() < 1e-5


def fixture_qualities(factors: torch.Tensor) -> torch.Tensor:
    # BasicSR's DiffJPEG overwrites the quality tensor it is given with the table factors, and the
    # fixture stored it after the call: invert quality_to_factor (q < 50: 50/q; else 2 - q/50)
    f = factors.double()
    return torch.where(f > 1, 50.0 / f, (2.0 - f) * 50.0).round().float()


def test_diffjpeg_matches_basicsr(ops_fixture):
    q = fixture_qualities(ops_fixture["jpeg_q"])
    assert q.tolist() == [37.0, 88.0]
    assert torch.allclose(jpeg_mod.quality_to_factor(q), ops_fixture["jpeg_q"])
    diff = (jpeg_compress(ops_fixture["input"], q) - ops_fixture["diffjpeg"]).abs()
    within = (diff <= 1 / 255).float().mean().item()
    assert within >= 0.999, f"only {within:.4%} within 1/255 (max {diff.max():.3g})"
    assert diff.max() < 1e-4  # measured: 1.8e-7, float32 round-off only


# ----------------------------------------------------------------------------- operators
def test_filter2d_per_sample_kernels_and_pulse():
    x = torch.rand(3, 3, 17, 19)
    k1, _, _ = batch_kernels(3)
    out = filter2d(x, k1)
    for i in range(3):
        assert torch.allclose(out[i : i + 1], filter2d(x[i : i + 1], k1[i : i + 1]), atol=1e-6)
    pulse = torch.zeros(1, 21, 21)
    pulse[0, 10, 10] = 1
    assert torch.equal(filter2d(x, pulse), x)
    # images smaller than the kernel radius still work (repeated reflection)
    assert filter2d(torch.rand(2, 3, 5, 6), k1[:2]).shape == (2, 3, 5, 6)


def test_jpeg_per_sample_quality_and_shapes():
    x = torch.rand(1, 3, 21, 30).repeat(2, 1, 1, 1)
    both = jpeg_compress(x, torch.tensor([20.0, 90.0]))
    assert torch.allclose(both[0], jpeg_compress(x[:1], 20.0)[0], atol=1e-6)
    assert torch.allclose(both[1], jpeg_compress(x[:1], 90.0)[0], atol=1e-6)
    assert (both[0] - x[0]).abs().mean() > (both[1] - x[1]).abs().mean()  # lower quality, larger error
    assert both.shape == x.shape and both.min() >= 0 and both.max() <= 1
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32)
    assert (jpeg_compress(smooth, 100.0) - smooth).abs().max() < 4 / 255


def test_gaussian_noise_sigma_and_gray():
    img = torch.full((2, 3, 64, 64), 0.5)
    gen = torch.Generator().manual_seed(1)
    noise = gaussian_noise(img, torch.tensor([5.0, 20.0]), torch.tensor([0.0, 1.0]), generator=gen)
    assert abs(noise[0].std().item() * 255 - 5) < 0.5 and abs(noise[1].std().item() * 255 - 20) < 2
    assert torch.equal(noise[1, 0], noise[1, 2]) and not torch.equal(noise[0, 0], noise[0, 2])


def test_poisson_noise_is_zero_mean_and_gray_per_sample():
    img = torch.rand(2, 3, 48, 48)
    gen = torch.Generator().manual_seed(2)
    noise = poisson_noise(img, torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0]), generator=gen)
    assert abs(noise.mean().item()) < 2e-3
    assert torch.equal(noise[0, 0], noise[0, 1]) and not torch.equal(noise[1, 0], noise[1, 1])
    # a uniform image has one level: v = 1, so the noise is poisson(x)/1 - x, scaled
    flat = poisson_noise(torch.full((1, 3, 8, 8), 0.0), 1.0, generator=gen)
    assert torch.equal(flat, torch.zeros_like(flat))


# ----------------------------------------------------------------------------- the chain
def test_degradation_shape_rounding_and_determinism():
    deg = RealESRGANDegradation({"scale": 4}, 4)
    x = torch.rand(3, 3, 64, 48)
    k1, k2, sinc = batch_kernels(3)
    a = deg(x, k1, k2, sinc, torch.Generator().manual_seed(7))
    b = deg(x, k1, k2, sinc, torch.Generator().manual_seed(7))
    c = deg(x, k1, k2, sinc, torch.Generator().manual_seed(8))
    assert a.shape == (3, 3, 16, 12) and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1 and torch.equal(a * 255, (a * 255).round())
    assert deg(x[:1], k1[:1], k2[:1], sinc[:1]).shape == (1, 3, 16, 12)  # global RNG when no generator


def test_degradation_float64_and_scale_2():
    deg = RealESRGANDegradation({}, 2)
    k1, k2, sinc = batch_kernels(2)
    out = deg(torch.rand(2, 3, 30, 34, dtype=torch.float64), k1, k2, sinc, torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 15, 17) and out.dtype == torch.float64


class Recorder:
    """Wraps a module function and records its calls."""

    def __init__(self, monkeypatch, module, name):
        self.calls = []
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            self.calls.append((args, kwargs))
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)


def test_draws_per_batch_and_per_sample(monkeypatch):
    jpeg = Recorder(monkeypatch, pipeline_mod, "jpeg_compress")
    resize = Recorder(monkeypatch, ops_mod, "resize")  # the two random resizes
    final_resize = Recorder(monkeypatch, pipeline_mod, "resize")  # the resize back to H / scale
    gauss = Recorder(monkeypatch, ops_mod, "gaussian_noise")
    poisson = Recorder(monkeypatch, ops_mod, "poisson_noise")
    deg = RealESRGANDegradation({}, 4)
    b = 4
    k1, k2, sinc = batch_kernels(b)
    gen = torch.Generator().manual_seed(3)
    grays: list[float] = []
    for _ in range(12):
        jpeg.calls.clear()
        deg(torch.rand(b, 3, 32, 32), k1, k2, sinc, gen)
        assert len(jpeg.calls) == 2  # first stage + final
        for args, _ in jpeg.calls:
            q = args[1]
            assert q.shape == (b,) and len(set(q.tolist())) == b  # one quality per sample
            assert ((q >= 30) & (q < 95)).all()
    for args, _ in gauss.calls + poisson.calls:
        strength, gray = args[1], args[2]
        assert strength.shape == (b,) and len(set(strength.tolist())) == b  # one strength per sample
        grays += gray.tolist()
    for args, _ in gauss.calls:
        assert ((args[1] >= 1) & (args[1] < 30)).all()
    for args, _ in poisson.calls:
        assert ((args[1] >= 0.05) & (args[1] < 3)).all()
    assert len(gauss.calls) + len(poisson.calls) == 24 and 3 <= len(gauss.calls) <= 21  # Gaussian or Poisson per batch
    assert set(grays) == {0.0, 1.0}  # gray and colour noise both occur, chosen per sample
    # resize: one call per stage per batch (3 per chain), the same factor/mode for the whole batch
    assert len(resize.calls) == 24 and len(final_resize.calls) == 12
    assert all(args[0].shape[0] == b for args, _ in resize.calls + final_resize.calls)
    assert all(kw["size"] == (8, 8) for _, kw in final_resize.calls)


def test_noise_and_jpeg_frequencies(monkeypatch):
    """Over many batches: Gaussian in ~50% of noise steps, gray noise in ~40% of samples."""
    gauss = Recorder(monkeypatch, ops_mod, "gaussian_noise")
    poisson = Recorder(monkeypatch, ops_mod, "poisson_noise")
    deg = RealESRGANDegradation({}, 4)
    k1, k2, sinc = batch_kernels(8)
    gen = torch.Generator().manual_seed(4)
    for _ in range(25):
        deg(torch.rand(8, 3, 16, 16), k1, k2, sinc, gen)
    n_steps = len(gauss.calls) + len(poisson.calls)
    assert n_steps == 50
    assert 0.3 < len(gauss.calls) / n_steps < 0.7
    gray = torch.cat([args[2] for args, _ in gauss.calls + poisson.calls])
    assert 0.3 < gray.mean().item() < 0.5


BAD_OPTIONS = [
    ({"resize_prob": [0.2, 0.7, 0.2]}, "resize_prob"),
    ({"resize_prob2": [0.5, 0.5]}, "resize_prob2"),
    ({"resize_range": [1.5, 0.15]}, "resize_range"),
    ({"resize_range2": [-0.3, 1.2]}, "resize_range2"),
    ({"noise_range": [30, 1]}, "noise_range"),
    ({"noise_range2": [-1, 25]}, "noise_range2"),
    ({"poisson_scale_range": [3, 0.05]}, "poisson_scale_range"),
    ({"jpeg_range": [0, 95]}, "jpeg_range"),
    ({"jpeg_range2": [30, 101]}, "jpeg_range2"),
    ({"gaussian_noise_prob": 1.5}, "gaussian_noise_prob"),
    ({"gray_noise_prob2": -0.1}, "gray_noise_prob2"),
    ({"second_blur_prob": "often"}, "second_blur_prob"),
]


@pytest.mark.parametrize("bad,key", BAD_OPTIONS)
def test_degradation_option_errors_name_the_key(bad, key):
    with pytest.raises(OptionError) as exc:
        RealESRGANDegradation({**DEGRADATION_DEFAULTS, **bad}, 4)
    msg = str(exc.value)
    assert msg.startswith(f"{key}:") and "\n" not in msg


@pytest.mark.parametrize(
    "bad,key",
    [
        ({"kernel_prob": [0.5, 0.5, 0, 0, 0, 0.1]}, "kernel_prob"),
        ({"kernel_prob2": [1.0]}, "kernel_prob2"),
        ({"kernel_list": ["iso", "skew"], "kernel_prob": [0.5, 0.5]}, "kernel_list"),
        ({"blur_sigma": [3, 0.2]}, "blur_sigma"),
        ({"blur_sigma2": [0, 1.5]}, "blur_sigma2"),
        ({"betag_range": [2, 4]}, "betag_range"),
        ({"sinc_prob": 2}, "sinc_prob"),
        ({"final_sinc_prob": -1}, "final_sinc_prob"),
        ({"blur_kernel_size": 20}, "blur_kernel_size"),
    ],
)
def test_kernel_option_errors_name_the_key(bad, key):
    with pytest.raises(OptionError, match=rf"^datasets\.train\.{key}:"):
        RealESRGANKernels({**KERNEL_DEFAULTS, **bad}, "datasets.train")
    with pytest.raises(OptionError) as exc:
        RealESRGANDegradation({"scale": 4}, 0)
    assert str(exc.value).startswith("scale:")


# ----------------------------------------------------------------------------- kernel statistics
def test_kernel_draws_follow_the_configuration():
    sampler = RealESRGANKernels()
    rng = np.random.default_rng(123)
    n = 1500
    types = [Counter(), Counter()]
    sizes: Counter = Counter()
    final = Counter()
    for _ in range(n):
        kernels, params = sampler.sample_with_params(rng)
        for k in kernels:
            assert k.shape == (21, 21) and k.dtype == torch.float32
            assert abs(k.sum().item() - 1) < 1e-5
        for stage, (p, sigma) in enumerate(zip(params[:2], ([0.2, 3], [0.2, 1.5]))):
            types[stage][p["type"]] += 1
            sizes[p["size"]] += 1
            assert p["size"] % 2 == 1 and 7 <= p["size"] <= 21
            if p["type"] == "sinc":
                low = math.pi / 3 if p["size"] < 13 else math.pi / 5
                assert low <= p["omega"] < math.pi
                continue
            assert sigma[0] <= p["sig_x"] < sigma[1] and sigma[0] <= p["sig_y"] < sigma[1]
            assert -math.pi <= p["theta"] < math.pi
            if p["type"].startswith("generalized"):
                assert 0.5 <= p["beta"] <= 4
            if p["type"].startswith("plateau"):
                assert 1 <= p["beta"] <= 2
            if not p["type"].endswith("aniso"):
                assert p["sig_x"] == p["sig_y"] and p["theta"] == 0
        final[params[2]["type"]] += 1
        if params[2]["type"] == "pulse":
            assert kernels[2][10, 10] == 1
    # each odd size 7..21 about equally often (3000 draws, 8 sizes: 375 each)
    assert set(sizes) == set(range(7, 22, 2)) and min(sizes.values()) > 300 and max(sizes.values()) < 450
    probs = dict(zip(KERNEL_TYPES, KERNEL_DEFAULTS["kernel_prob"]))
    for counts in types:
        assert abs(counts["sinc"] / n - 0.1) < 0.025
        blur = n - counts["sinc"]
        for kind, p in probs.items():
            assert abs(counts[kind] / blur - p) < 4 * math.sqrt(p * (1 - p) / blur) + 0.005, kind
    assert abs(final["sinc"] / n - 0.8) < 0.035


def test_kernel_sampler_is_deterministic_and_custom_list():
    sampler = RealESRGANKernels({"kernel_list": ["aniso"], "kernel_prob": [1.0], "sinc_prob": 0, "final_sinc_prob": 0,
                                 "blur_kernel_size": 11})
    a = sampler.sample_with_params(np.random.default_rng(5))
    b = sampler.sample_with_params(np.random.default_rng(5))
    assert all(torch.equal(x, y) for x, y in zip(a[0], b[0]))
    assert a[0][0].shape == (11, 11) and a[1][0]["type"] == "aniso" and a[1][2]["type"] == "pulse"


# ----------------------------------------------------------------------------- datasets
@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("realesrgan_data")
    rng = np.random.default_rng(0)
    (root / "gt").mkdir()
    (root / "lq").mkdir()
    for name, (h, w) in {"a": (40, 52), "b": (24, 30), "c": (64, 64)}.items():
        gt = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        write_image(root / "gt" / f"{name}.png", gt)
        write_image(root / "lq" / f"{name}.png", gt[::2, ::2].copy())
    (root / "meta.txt").write_text("a.png\nc.png 64x64\n")
    (root / "pairs.txt").write_text("a.png, a.png\nc.png, c.png\n")
    return root


def test_realesrgan_dataset_samples(image_dir):
    ds = build_dataset({"type": "RealESRGANDataset", "dataroot_gt": str(image_dir / "gt"), "gt_size": 32, "scale": 2,
                        "use_hflip": True, "use_rot": False, "phase": "train"})
    assert isinstance(ds, RealESRGANDataset) and len(ds) == 3
    for i in range(3):
        s = ds[(i, 100 + i)]
        assert set(s) == {"gt", "kernel1", "kernel2", "sinc_kernel", "gt_path"}
        assert s["gt"].shape == (3, 32, 32) and s["kernel1"].shape == (21, 21) and s["sinc_kernel"].shape == (21, 21)
    again, other = ds[(1, 101)], ds[(1, 102)]
    assert torch.equal(again["gt"], ds[(1, 101)]["gt"]) and torch.equal(again["kernel1"], ds[(1, 101)]["kernel1"])
    assert not torch.equal(again["kernel1"], other["kernel1"])
    # b is 24x30: reflect-padded up to the 32x32 patch
    assert ds[(1, 0)]["gt"].shape == (3, 32, 32)
    val = RealESRGANDataset({"dataroot_gt": str(image_dir / "gt"), "phase": "val", "scale": 4, "use_hflip": True,
                             "use_rot": True, "cache": False, "cache_gb": 1.0})
    assert val[0]["gt"].shape == (3, 40, 52) and val[1]["gt"].shape == (3, 24, 28)


def test_realesrgan_dataset_from_option_section(image_dir):
    """The official dataset section (paths edited) validates and builds; meta_info lists the images."""
    section = {"name": "DF2K+OST", "type": "RealESRGANDataset", "dataroot_gt": str(image_dir / "gt"),
               "meta_info": str(image_dir / "meta.txt"), "io_backend": {"type": "disk"},
               **KERNEL_DEFAULTS, "gt_size": 32, "use_hflip": True, "use_rot": False, "use_shuffle": True,
               "num_worker_per_gpu": 0, "batch_size_per_gpu": 2, "dataset_enlarge_ratio": 1, "prefetch_mode": None,
               "phase": "train", "scale": 4}
    warnings: list[str] = []
    opt = check_section(section, DATASET_REGISTRY.get("RealESRGANDataset").option_fields(), "datasets.train",
                        warn=warnings.append)
    assert warnings == []
    ds = build_dataset(opt)
    assert [p.name for p in ds.store.paths] == ["a.png", "c.png"]
    with pytest.raises(OptionError, match="color"):
        build_dataset({**opt, "color": "gray"})
    with pytest.raises(OptionError, match=r"^datasets\.DF2K\+OST\.kernel_prob:"):
        build_dataset({**opt, "kernel_prob": [0.5, 0.5, 0.5, 0, 0, 0]})


def test_realesrgan_dataset_loader_batches(image_dir):
    from torch.utils.data import DataLoader

    ds = RealESRGANDataset({"dataroot_gt": str(image_dir / "gt"), "gt_size": 16, "scale": 4, "phase": "train",
                            "use_hflip": True, "use_rot": True, "cache": "auto", "cache_gb": 1.0})
    batch = next(iter(DataLoader(ds, batch_size=3)))
    deg = RealESRGANDegradation({}, 4)
    lq = deg(batch["gt"], batch["kernel1"], batch["kernel2"], batch["sinc_kernel"], torch.Generator().manual_seed(0))
    assert lq.shape == (3, 3, 4, 4)


def test_realesrgan_paired_dataset(image_dir):
    base = {"type": "RealESRGANPairedDataset", "dataroot_gt": str(image_dir / "gt"), "dataroot_lq": str(image_dir / "lq"),
            "scale": 2, "filename_tmpl": "{}", "use_hflip": True, "use_rot": False, "color": "rgb", "cache": False,
            "cache_gb": 1.0}
    folder = build_dataset({**base, "phase": "train", "gt_size": 16})
    assert isinstance(folder, RealESRGANPairedDataset) and len(folder) == 3
    s = folder[(0, 1)]
    assert set(s) == {"lq", "gt", "lq_path", "gt_path"} and s["gt"].shape == (3, 16, 16) and s["lq"].shape == (3, 8, 8)
    listed = build_dataset({**base, "phase": "val", "meta_info": str(image_dir / "pairs.txt"), "mean": [0.5, 0.5, 0.5],
                            "std": [0.5, 0.5, 0.5]})
    assert len(listed) == 2
    v = listed[1]
    assert v["gt"].shape == (3, 64, 64) and v["lq"].shape == (3, 32, 32) and v["gt"].min() < 0
    (image_dir / "bad_pairs.txt").write_text("a.png\n")
    with pytest.raises(OptionError, match="bad_pairs.txt:1"):
        build_dataset({**base, "phase": "val", "meta_info": str(image_dir / "bad_pairs.txt")})


def test_random_resize_frequencies(monkeypatch):
    """up / down / keep at resize_prob, factors inside resize_range, the three modes equally often."""
    calls = []
    monkeypatch.setattr(ops_mod, "resize", lambda img, mode, scale=None, size=None: calls.append((mode, scale)) or img)
    x = torch.zeros(1, 3, 8, 8)
    gen = torch.Generator().manual_seed(9)
    n = 2000
    for _ in range(n):
        ops_mod.random_resize(x, [0.2, 0.7, 0.1], [0.15, 1.5], gen)
    factors = np.array([s for _, s in calls])
    assert ((factors >= 0.15) & (factors < 1.5)).all()
    freq = [(factors > 1).mean(), (factors < 1).mean(), (factors == 1).mean()]
    assert np.allclose(freq, [0.2, 0.7, 0.1], atol=0.03)
    modes = Counter(m for m, _ in calls)
    assert set(modes) == {"area", "bilinear", "bicubic"} and min(modes.values()) > n / 3 - 80


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_degradation_on_cuda_with_cpu_and_cuda_generators():
    deg = RealESRGANDegradation({}, 4)
    k1, k2, sinc = batch_kernels(2)
    x = torch.rand(2, 3, 64, 64)
    on_cpu = deg(x, k1, k2, sinc, torch.Generator().manual_seed(0))
    on_gpu = deg(x.cuda(), k1.cuda(), k2.cuda(), sinc.cuda(), torch.Generator().manual_seed(0))
    assert on_gpu.device.type == "cuda" and on_gpu.shape == on_cpu.shape
    # the same draws (CPU generator): only float round-off differs (cuDNN may blur in TF32, as for the
    # reference), which can flip 8-bit levels
    assert ((on_gpu.cpu() - on_cpu).abs() <= 1 / 255 + 1e-6).float().mean() > 0.9
    cuda_gen = torch.Generator(device="cuda").manual_seed(0)
    assert deg(x.cuda(), k1, k2, sinc, cuda_gen).device.type == "cuda"


@pytest.mark.slow
def test_whole_chain_strength_matches_basicsr_made_set14(shared):
    """Our chain and BasicSR's (different random streams) degrade Set14 about equally: the PSNR-Y of
    bicubic-upsampled LR vs HR agrees with ``Set14_realx4`` (made by BasicSR's functions) within 0.6 dB."""
    from swinsr.degradations.presets import Degrader
    from swinsr.imageio import read_image
    from swinsr.imresize import imresize
    from swinsr.metrics import calculate_psnr

    root = shared / "data/Set14_realx4"
    degrader = Degrader(4)
    ours, theirs = [], []
    for i, hr_path in enumerate(sorted((root / "HR").glob("*.png"))):
        hr = read_image(hr_path).array
        (lr_path,) = (root / "LR_realesrgan/X4").glob(hr_path.stem + "*")
        lr, _ = degrader(hr, i)
        for lr_img, acc in ((lr, ours), (read_image(lr_path).array, theirs)):
            acc.append(calculate_psnr(imresize(lr_img, 4.0), hr, crop_border=4, test_y_channel=True))
    assert abs(np.mean(theirs) - 22.19) < 0.01  # the README figure of that set
    assert abs(np.mean(ours) - np.mean(theirs)) < 0.6, (np.mean(ours), np.mean(theirs))
