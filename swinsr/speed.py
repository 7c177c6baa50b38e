"""Speed benchmark: seconds per image, output megapixels per second and peak memory.

Models are built in-process with random weights (speed does not depend on the values), so the
benchmark runs from a fresh clone with nothing downloaded. Modes are timed *interleaved*
(one run of each mode per round, medians over rounds) so load from other processes on a
shared machine hits every mode alike.
"""

from __future__ import annotations

import contextlib
import importlib
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn as nn

from .archs import build_model
from .errors import OptionError
from .layers.fastpath import plain_path

#: Released configurations (random weights): name -> (architecture, reference constructor kwargs).
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "swinir-s-x4": ("SwinIR", dict(
        upscale=4, img_size=64, window_size=8, img_range=1.0, depths=[6] * 4, embed_dim=60, num_heads=[6] * 4,
        mlp_ratio=2, upsampler="pixelshuffledirect", resi_connection="1conv")),
    "swinir-m-x4": ("SwinIR", dict(
        upscale=4, img_size=64, window_size=8, img_range=1.0, depths=[6] * 6, embed_dim=180, num_heads=[6] * 6,
        mlp_ratio=2, upsampler="pixelshuffle", resi_connection="1conv")),
    "swin2sr-s-x4": ("Swin2SR", dict(
        upscale=4, img_size=64, window_size=8, img_range=1.0, depths=[6] * 4, embed_dim=60, num_heads=[6] * 4,
        mlp_ratio=2, upsampler="pixelshuffledirect", resi_connection="1conv")),
}
#: eager = fast path fp32; plain = reference-style path fp32; compiled = torch.compile fp32;
#: bf16 = fast path under bf16 autocast; reference = the reference network_swinir.py (SwinIR only).
MODES = ("eager", "plain", "compiled", "bf16", "reference")


def build_preset(name: str, device: torch.device | str = "cpu") -> nn.Module:
    """A preset model in eval mode with (seeded) random weights."""
    if name not in PRESETS:
        raise OptionError(f"unknown model {name!r}; choose from {', '.join(PRESETS)}")
    arch, kwargs = PRESETS[name]
    torch.manual_seed(0)
    return build_model(arch, **kwargs).eval().to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or the process's peak RSS growth on CPU.

    On Linux the RSS high-water mark is reset through ``/proc/self/clear_refs`` so each block is
    measured on its own; where that is unavailable the CPU value is ``None``.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mb: float | None = None

    @staticmethod
    def _status(field_name: str) -> float | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field_name + ":"):
                    return float(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")
                self._base = self._status("VmRSS")
            except OSError:
                self._base = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20 - self._base
        elif self._base is not None:
            hwm = self._status("VmHWM")
            self.peak_mb = None if hwm is None else max(hwm - self._base, 0.0)


@dataclass
class Result:
    """One benchmark row."""

    model: str
    size: int
    mode: str
    device: str
    seconds: float
    out_mpix_per_s: float
    peak_mb: float | None
    max_abs_diff: float | None = None
    runs: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load_reference(reference_dir: Path) -> Any:
    """Import ``network_swinir`` from a folder holding the reference file (and its timm needs)."""
    sys.path.insert(0, str(reference_dir))
    try:
        return importlib.import_module("network_swinir")
    except ImportError as exc:
        raise OptionError(f"--reference-dir {reference_dir}: cannot import network_swinir ({exc})") from exc
    finally:
        sys.path.remove(str(reference_dir))


def _runners(
    name: str, model: nn.Module, modes: list[str], device: torch.device, size: int, reference_dir: Path | None
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    from .checkpoint import reference_state_dict

    runners: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for mode in modes:
        if mode == "eager":
            runners[mode] = model
        elif mode == "plain":
            def run_plain(x: torch.Tensor) -> torch.Tensor:
                with plain_path():
                    return model(x)
            runners[mode] = run_plain
        elif mode == "compiled":
            from .export import compile_model

            runners[mode] = compile_model(model, size)
        elif mode == "bf16":
            def run_bf16(x: torch.Tensor) -> torch.Tensor:
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    return model(x)
            runners[mode] = run_bf16
        elif mode == "reference":
            arch, kwargs = PRESETS[name]
            if reference_dir is None or arch != "SwinIR":
                continue
            ref = _load_reference(reference_dir).SwinIR(**kwargs).eval().to(device)
            ref.load_state_dict(reference_state_dict(model), strict=False)
            runners[mode] = ref
        else:
            raise OptionError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    return runners


def bench_inference(
    name: str,
    size: int,
    modes: list[str],
    *,
    device: torch.device,
    rounds: int = 3,
    reference_dir: Path | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> list[Result]:
    """Time each mode on a ``size x size`` random input; rounds are interleaved across modes."""
    model = build_preset(name, device)
    runners = _runners(name, model, modes, device, size, reference_dir)
    x = torch.rand(1, model.in_chans, size, size, device=device)
    times: dict[str, list[float]] = {m: [] for m in runners}
    peaks: dict[str, float | None] = {}
    diffs: dict[str, float | None] = {}
    with torch.inference_mode():
        baseline = model(x).float()
        for mode, run in runners.items():  # warm-up (compilation, caches) + memory + accuracy
            with PeakMemory(device) as mem:
                out = run(x)
                _sync(device)
            peaks[mode] = mem.peak_mb
            diffs[mode] = float((out.float() - baseline).abs().max())
        for r in range(rounds):
            for mode, run in runners.items():
                _sync(device)
                t0 = time.perf_counter()
                run(x)
                _sync(device)
                times[mode].append(time.perf_counter() - t0)
            log(f"{name} {size}px round {r + 1}/{rounds}: " + ", ".join(f"{m} {t[-1]:.2f}s" for m, t in times.items()))
    out_mpix = (size * model.upscale) ** 2 / 1e6
    results = []
    for mode, ts in times.items():
        sec = statistics.median(ts)
        results.append(Result(name, size, mode, str(device), sec, out_mpix / sec, peaks[mode], diffs[mode], ts))
    return results


def bench_train_step(
    name: str = "swinir-s-x4",
    *,
    batch: int = 16,
    patch: int = 64,
    steps: int = 2,
    device: torch.device,
    modes: tuple[str, ...] = ("eager", "plain"),
    log: Callable[[str], None] = lambda s: None,
) -> list[Result]:
    """Seconds per training step (forward, L1 loss, backward, Adam) on ``batch`` LR patches."""
    model = build_preset(name, device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    lr = torch.rand(batch, model.in_chans, patch, patch, device=device)
    hr = torch.rand(batch, model.in_chans, patch * model.upscale, patch * model.upscale, device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(model(lr), hr).backward()
        opt.step()

    def run(mode: str) -> None:
        ctx = plain_path() if mode == "plain" else contextlib.nullcontext()
        with ctx:
            step()

    times: dict[str, list[float]] = {m: [] for m in modes}
    peaks: dict[str, float | None] = {}
    for mode in modes:
        with PeakMemory(device) as mem:
            run(mode)  # warm-up
            _sync(device)
        peaks[mode] = mem.peak_mb
    for s in range(steps):
        for mode in modes:
            t0 = time.perf_counter()
            run(mode)
            _sync(device)
            times[mode].append(time.perf_counter() - t0)
        log(f"train step {s + 1}/{steps}: " + ", ".join(f"{m} {t[-1]:.2f}s" for m, t in times.items()))
    out_mpix = batch * (patch * model.upscale) ** 2 / 1e6
    return [
        Result(f"{name} train b{batch}", patch, mode, str(device), statistics.median(ts), out_mpix / statistics.median(ts),
               peaks[mode], None, ts)
        for mode, ts in times.items()
    ]


def bench_tiled_memory(
    name: str, out_sides: list[int], *, tile: int, device: torch.device, log: Callable[[str], None] = lambda s: None
) -> list[Result]:
    """Peak memory of :class:`swinsr.Upscaler` with fixed tiles as the image grows."""
    try:
        from .inference import Upscaler
    except ImportError as exc:  # another part of the package; report rather than fail
        raise OptionError(f"--tiled needs swinsr.inference.Upscaler ({exc})") from exc
    model = build_preset(name, device)
    up = Upscaler(model, tile=tile, device=device, precision="fp32")
    results = []
    for side in out_sides:
        lr = torch.rand(1, model.in_chans, side // model.upscale, side // model.upscale)
        with PeakMemory(device) as mem:
            t0 = time.perf_counter()
            up.upscale_tensor(lr)
            _sync(device)
            sec = time.perf_counter() - t0
        log(f"tiled {name} -> {side}px: {sec:.1f}s, peak {mem.peak_mb} MB")
        results.append(Result(f"{name} tiled {tile}", side // model.upscale, "eager", str(device), sec,
                              side * side / 1e6 / sec, mem.peak_mb))
    return results


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Temporarily set the intra-op thread count (``None``: leave as is)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
