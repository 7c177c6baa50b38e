"""Speed benchmark: seconds per image, output megapixels per second and peak memory.

Models are built in-process with random weights (speed does not depend on the values), so the
benchmark runs from a fresh clone with nothing downloaded. Modes are timed *interleaved*
(one run of each mode per round, medians over rounds) so load from other processes on a
shared machine hits every mode alike.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn as nn

from .archs import build_model
from .archs import presets as family_presets
from .errors import OptionError
from .layers import cpu_attention
from .layers.fastpath import plain_path
from .layers.linear import packed_linear_available
from .layers.token_norm import token_norm_status
from .layers.winograd import winograd_status

#: Released configurations (random weights): name -> (architecture, reference constructor kwargs);
#: each family declares its own (``Family.presets``), e.g. ``swinir-s-x4``, ``hat-s-x4``.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = family_presets()
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


def machine_description(device: torch.device) -> str:
    """What the numbers were measured on: GPU name, or CPU model and core count; plus torch."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        name = f"{name}, {os.cpu_count()} cores, {cpu_capability()}, attention kernel {cpu_attention.kernel_status()}, Winograd {winograd_status()}, fused LayerNorm {token_norm_status()}"
    return f"{name}, torch {torch.__version__}"


def cpu_capability() -> str:
    """The CPU kernel level PyTorch dispatches to (``AVX2``, ``AVX512``, ...; ``ATEN_CPU_CAPABILITY`` can lower it)."""
    getter = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    return f"ATen {getter()}" if getter is not None else "ATen capability unknown"


def precision_settings(device: torch.device) -> dict[str, Any]:
    """The numeric settings that change fp32 speed: CPU kernel level, TF32 on CUDA (recorded with every run)."""
    info: dict[str, Any] = {"cpu_capability": cpu_capability(),
                            "float32_matmul_precision": torch.get_float32_matmul_precision()}
    if device.type == "cpu":
        info["cpu_attention_kernel"] = cpu_attention.kernel_status()
        info["packed_onednn_linear"] = packed_linear_available()
        info["winograd_conv3x3"] = winograd_status()
        info["fused_layer_norm"] = token_norm_status()
    if device.type == "cuda":
        info["cuda_matmul_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
        info["cudnn_tf32"] = bool(torch.backends.cudnn.allow_tf32)
    return info


#: Dense peak TFLOP/s of known GPUs (vendor datasheets, without sparsity) by precision, for
#: "achieved vs peak"; the first name fragment found in ``torch.cuda.get_device_name`` wins.
GPU_PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    ("H200", {"bf16": 989.0, "fp16": 989.0, "tf32": 494.7, "fp32": 66.9}),
    ("H100 PCIe", {"bf16": 756.0, "fp16": 756.0, "tf32": 378.0, "fp32": 51.2}),
    ("H100", {"bf16": 989.0, "fp16": 989.0, "tf32": 494.7, "fp32": 66.9}),
    ("A100", {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    ("L40S", {"bf16": 362.0, "fp16": 362.0, "tf32": 183.0, "fp32": 91.6}),
]


def gpu_peak_tflops(device: torch.device) -> dict[str, float] | None:
    """The peak table of this GPU (:data:`GPU_PEAK_TFLOPS`), or None for CPUs and unknown GPUs."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peaks for fragment, peaks in GPU_PEAK_TFLOPS if fragment in name), None)


def mode_precision(mode: str, device: torch.device) -> str:
    """Which peak a mode's matmuls run at: bf16, tf32 (fp32 with TF32 allowed on CUDA) or fp32."""
    if mode == "bf16":
        return "bf16"
    tf32 = device.type == "cuda" and bool(torch.backends.cuda.matmul.allow_tf32)
    return "tf32" if tf32 else "fp32"


def count_flops(call: Callable[[torch.Tensor], Any], x: torch.Tensor) -> float | None:
    """Floating-point operations of one ``call(x)`` (matmuls, convolutions, attention) by
    :class:`torch.utils.flop_counter.FlopCounterMode`; None where it cannot count."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            call(x)
        return float(counter.get_total_flops()) or None
    except Exception:  # counting is a report extra: never fail a benchmark over it
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or the process's peak RSS growth on CPU.

    On Linux the RSS high-water mark is reset through ``/proc/self/clear_refs`` so each block is
    measured on its own; where that is unavailable the CPU value is ``None``. On CPU the
    allocator keeps freed memory for reuse, so an in-process number after earlier work
    underestimates; :func:`cpu_peak_memory` measures in a fresh process instead.
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
    output_mb: float | None = None
    #: achieved TFLOP/s (counted FLOPs of one run / seconds), when counted
    tflops: float | None = None
    #: that as a fraction of the device's peak for the mode's precision, when the peak is known
    peak_fraction: float | None = None

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

            # Every model shares the block code objects: after a few models and sizes in one
            # process, dynamo's recompile limit would silently run later "compiled" rows eagerly.
            torch._dynamo.reset()
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


#: glibc malloc settings for the memory child: a fixed (not self-raising) mmap threshold and no
#: trim slack return freed tensors to the OS at once, so RSS follows the live tensor bytes.
_MEMORY_CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def cpu_peak_memory(task: dict[str, Any], timeout: float = 1800.0) -> float | None:
    """Peak RSS growth (MB) of one benchmark task, measured in a fresh Python process.

    ``task`` is what :func:`_memory_task` understands (``kind`` inference/train/tiled plus its
    arguments). A fresh process has no allocator cache from earlier runs, which is what makes
    the number comparable across modes; ``None`` when it cannot be measured (non-Linux, or the
    child failed: ``python -m swinsr.speed '<task as JSON>'`` reproduces it).
    """
    env = dict(os.environ, **_MEMORY_CHILD_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "swinsr.speed", json.dumps(task)],
            capture_output=True, text=True, env=env, timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line).get("peak_mb")
    return None


def _memory_task(task: dict[str, Any]) -> float | None:
    """Run one task once in this (fresh) process and return its peak RSS growth in MB."""
    device = torch.device("cpu")
    if task.get("threads"):
        torch.set_num_threads(int(task["threads"]))
    kind = task["kind"]
    reference_dir = Path(task["reference_dir"]) if task.get("reference_dir") else None
    if kind == "inference":
        model = build_preset(task["model"], device)
        run = _runners(task["model"], model, [task["mode"]], device, task["size"], reference_dir)[task["mode"]]
        x = torch.rand(task.get("batch", 1), model.in_chans, task["size"], task["size"])
        call: Callable[[], Any] = lambda: run(x)  # noqa: E731
    elif kind == "train":
        call = _train_step(task["model"], task["mode"], batch=task["batch"], patch=task["patch"], device=device,
                           reference_dir=reference_dir)
    elif kind == "tiled":
        from .inference import Upscaler

        model = build_preset(task["model"], device)
        up = Upscaler(model, tile=task["tile"], device=device, precision="fp32", tile_batch=task.get("tile_batch"),
                      tile_overlap=task.get("tile_overlap", 32))
        lr = torch.rand(1, model.in_chans, task["size"], task["size"])
        call = lambda: up.upscale_tensor(lr)  # noqa: E731
    else:
        raise ValueError(f"unknown memory task kind {kind!r}")
    grad = torch.enable_grad() if kind == "train" else torch.inference_mode()
    with grad, PeakMemory(device) as mem:
        call()
    return mem.peak_mb


def _measure_memory(
    device: torch.device, task: dict[str, Any], in_process: "PeakMemory | None", log: Callable[[str], None]
) -> float | None:
    """CUDA: the allocator peak taken in-process; CPU: a fresh process per task."""
    if device.type == "cuda":
        return None if in_process is None else in_process.peak_mb
    peak = cpu_peak_memory(dict(task, threads=torch.get_num_threads()))
    if peak is None:
        log(f"peak memory not measured; to see why, run: python -m swinsr.speed '{json.dumps(task)}'")
    return peak


def _time_interleaved(
    calls: dict[str, Callable[[], Any]], rounds: int, device: torch.device, log_round: Callable[[int, str], None]
) -> dict[str, list[float]]:
    """Seconds of each call per round, one call of every mode per round (so load hits all alike)."""
    times: dict[str, list[float]] = {m: [] for m in calls}
    for r in range(rounds):
        for mode, call in calls.items():
            _sync(device)
            t0 = time.perf_counter()
            call()
            _sync(device)
            times[mode].append(time.perf_counter() - t0)
        log_round(r + 1, ", ".join(f"{m} {t[-1]:.2f}s" for m, t in times.items()))
    return times


def bench_inference(
    name: str,
    size: int,
    modes: list[str],
    *,
    device: torch.device,
    rounds: int = 3,
    reference_dir: Path | None = None,
    memory: bool = True,
    batch: int = 1,
    flops: bool = False,
    log: Callable[[str], None] = lambda s: None,
) -> list[Result]:
    """Time each mode on a ``batch`` of ``size x size`` random inputs; rounds are interleaved across modes.

    Every mode runs once untimed first (compilation, caches) and its output is compared with
    the fast eager path. ``memory`` adds the peak memory of one forward per mode; ``flops``
    counts the FLOPs of one eager forward and reports achieved TFLOP/s (and the fraction of the
    GPU's peak for each mode's precision, see :data:`GPU_PEAK_TFLOPS`). Rows of ``batch > 1`` are
    named ``"<model> b<batch>"``; seconds are per batch.
    """
    model = build_preset(name, device)
    runners = _runners(name, model, modes, device, size, reference_dir)
    x = torch.rand(batch, model.in_chans, size, size, device=device)
    peaks: dict[str, float | None] = {}
    diffs: dict[str, float | None] = {}
    counted = count_flops(model, x) if flops else None
    with torch.inference_mode():
        baseline = model(x).float()
        for mode, run in runners.items():  # warm-up (compilation, caches) + memory + accuracy
            with PeakMemory(device) as mem:
                out = run(x)
                _sync(device)
            diffs[mode] = float((out.float() - baseline).abs().max())
            del out
            task = dict(kind="inference", model=name, size=size, mode=mode, batch=batch,
                        reference_dir=str(reference_dir) if reference_dir else None)
            peaks[mode] = _measure_memory(device, task, mem, log) if memory else None
        times = _time_interleaved({m: functools.partial(run, x) for m, run in runners.items()}, rounds, device,
                                  lambda r, line: log(f"{name} {size}px round {r}/{rounds}: {line}"))
    out_mpix = batch * (size * model.upscale) ** 2 / 1e6
    label = name if batch == 1 else f"{name} b{batch}"
    peak_table = gpu_peak_tflops(device)
    results = []
    for mode, ts in times.items():
        sec = statistics.median(ts)
        row = Result(label, size, mode, str(device), sec, out_mpix / sec, peaks[mode], diffs[mode], ts)
        if counted is not None:
            row.tflops = counted / sec / 1e12
            peak = (peak_table or {}).get(mode_precision(mode, device))
            row.peak_fraction = row.tflops / peak if peak else None
        results.append(row)
    return results


def _train_step(
    name: str, mode: str, *, batch: int, patch: int, device: torch.device, reference_dir: Path | None = None
) -> Callable[[], None]:
    """One training step (forward, L1 loss, backward, Adam) of ``mode`` on random LR/HR patches."""
    model = build_preset(name, device).train()
    if mode == "reference":
        from .checkpoint import reference_state_dict

        arch, kwargs = PRESETS[name]
        if reference_dir is None or arch != "SwinIR":
            raise OptionError("the reference training step needs --reference-dir and a SwinIR preset")
        ref = _load_reference(reference_dir).SwinIR(**kwargs).train().to(device)
        ref.load_state_dict(reference_state_dict(model), strict=False)
        model = ref
    elif mode not in ("eager", "plain"):
        raise OptionError(f"training-step mode {mode!r}: choose from eager, plain, reference")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    scale = PRESETS[name][1]["upscale"]
    lr = torch.rand(batch, 3, patch, patch, generator=gen).to(device)
    hr = torch.rand(batch, 3, patch * scale, patch * scale, generator=gen).to(device)

    def step() -> None:
        ctx = plain_path() if mode == "plain" else contextlib.nullcontext()
        with ctx:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.l1_loss(model(lr), hr).backward()
            opt.step()

    return step


def bench_train_step(
    name: str = "swinir-s-x4",
    *,
    batch: int = 16,
    patch: int = 64,
    steps: int = 2,
    device: torch.device,
    modes: tuple[str, ...] = ("eager", "plain"),
    reference_dir: Path | None = None,
    memory: bool = True,
    log: Callable[[str], None] = lambda s: None,
) -> list[Result]:
    """Seconds per training step (forward, L1 loss, backward, Adam) on ``batch`` LR patches.

    Each mode trains its own copy of the model (same initial weights); ``reference`` trains the
    reference network (needs ``reference_dir``). Steps are interleaved across modes.
    """
    steps_by_mode = {m: _train_step(name, m, batch=batch, patch=patch, device=device, reference_dir=reference_dir)
                     for m in modes}
    peaks: dict[str, float | None] = {}
    for mode, step in steps_by_mode.items():
        with PeakMemory(device) as mem:
            step()  # warm-up
            _sync(device)
        task = dict(kind="train", model=name, mode=mode, batch=batch, patch=patch,
                    reference_dir=str(reference_dir) if reference_dir else None)
        peaks[mode] = _measure_memory(device, task, mem, log) if memory else None
    times = _time_interleaved(steps_by_mode, steps, device, lambda r, line: log(f"train step {r}/{steps}: {line}"))
    scale = PRESETS[name][1]["upscale"]
    out_mpix = batch * (patch * scale) ** 2 / 1e6
    return [
        Result(f"{name} train b{batch}", patch, mode, str(device), statistics.median(ts), out_mpix / statistics.median(ts),
               peaks[mode], None, ts)
        for mode, ts in times.items()
    ]


def bench_tiled_memory(
    name: str,
    out_sides: list[int],
    *,
    tile: int,
    device: torch.device,
    tile_batch: int | None = None,
    tile_overlap: int = 32,
    memory: bool = True,
    log: Callable[[str], None] = lambda s: None,
) -> list[Result]:
    """Time and peak memory of :class:`swinsr.Upscaler` with fixed tiles as the image grows.

    ``output_mb`` is the size of the float32 output image itself, which no tiling can avoid;
    the rest of the peak is the working memory: it grows until a device batch is full
    (``tile_batch`` tiles; default: the Upscaler's choice, 1 on CPU) and then stays flat.
    """
    from .inference import Upscaler

    model = build_preset(name, device)
    up = Upscaler(model, tile=tile, device=device, precision="fp32", tile_batch=tile_batch, tile_overlap=tile_overlap)
    results = []
    for side in out_sides:
        lr_side = side // model.upscale
        lr = torch.rand(1, model.in_chans, lr_side, lr_side)
        with PeakMemory(device) as mem:
            t0 = time.perf_counter()
            up.upscale_tensor(lr)
            _sync(device)
            sec = time.perf_counter() - t0
        task = dict(kind="tiled", model=name, size=lr_side, tile=tile, tile_batch=tile_batch, tile_overlap=tile_overlap)
        peak = _measure_memory(device, task, mem, log) if memory else None
        output_mb = model.in_chans * side * side * 4 / 2**20
        peak_text = "not measured" if peak is None else f"{peak:.0f} MB"
        log(f"tiled {name} -> {side}px: {sec:.1f}s, peak {peak_text} (output image {output_mb:.0f} MB)")
        label = f"{name} tiled {tile}" + (f" batch {tile_batch}" if tile_batch else "")
        results.append(Result(label, lr_side, "eager", str(device), sec,
                              side * side / 1e6 / sec, peak, output_mb=output_mb))
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


if __name__ == "__main__":  # the fresh process of cpu_peak_memory
    print(json.dumps({"peak_mb": _memory_task(json.loads(sys.argv[1]))}))
