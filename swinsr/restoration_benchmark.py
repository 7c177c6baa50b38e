"""Denoising and JPEG-artifact benchmarks with SwinIR's test protocol (``swinsr benchmark --task``).

The protocol of SwinIR's ``main_test_swinir.py`` (the numbers of its published tables), per clean
image of a dataset folder (``HR/`` inside it, or the folder itself):

* **denoise**: read with OpenCV in colour (``IMREAD_COLOR``; ``--color gray``: ``IMREAD_GRAYSCALE``)
  as float32 in ``[0, 1]``; ``np.random.seed(0)`` for every image, then
  ``clean + np.random.normal(0, sigma / 255, clean.shape)`` (drawn in OpenCV's BGR order), cast to
  float32 and **not** clipped before the model;
* **jpeg**: colour: the ``IMREAD_COLOR`` image through OpenCV's JPEG encoder at the quality; gray:
  the file as stored (``IMREAD_UNCHANGED``), reduced to its BT.601 Y channel rounded to uint8
  (the reference ``bgr2ycbcr(y_only=True)``) unless it is gray already, then encoded;
* the input is padded at the bottom/right by mirroring (edge pixel repeated) to the next multiple
  of the model's window size *above* its size (the reference adds a whole window when the size is
  a multiple already), run, and cropped back;
* the output is clamped to ``[0, 1]`` and rounded to uint8 in float32, as the reference does;
* PSNR/SSIM (no border crop) on RGB for colour tasks and on the gray image for gray tasks (the
  rows' ``psnr``/``ssim``), plus Y (BT.601) for colour tasks and PSNR-B for JPEG (``psnrb``;
  ``psnrb_y`` for colour).

``--model identity`` scores the degraded input itself (the baseline). :func:`run_restoration_benchmark`
returns a :class:`swinsr.benchmark.BenchmarkReport` with one result row per dataset and level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ._lazy import cv2
import numpy as np
import torch

from .benchmark import (
    BICUBIC,
    IDENTITY,
    BenchmarkReport,
    Log,
    _fmt,
    _peak_memory_mb,
    _write_png,
    _write_text,
    comparison_strip,
    list_images,
)
from .errors import ImageError, OptionError
from .metrics import calculate_psnr, calculate_psnrb, calculate_ssim

TASKS = ("denoise", "jpeg")
COLORS = ("rgb", "gray")
#: the levels of SwinIR's tables, used when none are given
DEFAULT_LEVELS = {"denoise": (15, 25, 50), "jpeg": (10, 20, 30, 40)}
LEVEL_KEY = {"denoise": "noise", "jpeg": "quality"}
#: BT.601 luma weights in OpenCV's B, G, R order, for ``[0, 1]`` input -> ``[16, 235]`` output
Y_WEIGHTS_BGR = (24.966, 128.553, 65.481)

RESULT_FIELDS = (
    "dataset", "task", "noise", "quality", "color", "model", "psnr", "ssim", "psnr_y", "ssim_y", "psnrb", "psnrb_y",
    "images", "seconds", "peak_mem_mb",
)
PER_IMAGE_FIELDS = (
    "dataset", "task", "noise", "quality", "color", "model", "image", "psnr", "ssim", "psnr_y", "ssim_y", "psnrb",
    "psnrb_y", "seconds", "tile",
)
METRIC_KEYS = ("psnr", "ssim", "psnr_y", "ssim_y", "psnrb", "psnrb_y")


# --------------------------------------------------------------------------- options


def parse_levels(task: str, text: str | None) -> list[float]:
    """Noise sigmas (0-255) or JPEG qualities (1-100) from ``"15,25,50"``; None -> the table's levels."""
    option = "--noise" if task == "denoise" else "--quality"
    if text is None or not text.strip():
        return [float(v) for v in DEFAULT_LEVELS[task]]
    levels: list[float] = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise OptionError(f"{option} {text}: {part.strip()!r} is not a number (give e.g. {option} 15,25,50)") from None
        if task == "denoise" and not 0 <= value <= 255:
            raise OptionError(f"{option} {text}: sigma {part.strip()} must be within 0-255")
        if task == "jpeg" and (value != int(value) or not 1 <= value <= 100):
            raise OptionError(f"{option} {text}: quality {part.strip()} must be an integer within 1-100")
        levels.append(value)
    return list(dict.fromkeys(levels))


def level_value(level: float) -> int | float:
    """A level as it appears in rows and names: ``25`` rather than ``25.0``."""
    return int(level) if float(level).is_integer() else float(level)


# --------------------------------------------------------------------------- the degradations


def read_clean(path: Path, task: str, color: str) -> np.ndarray:
    """The clean image as the reference reads it: uint8 BGR ``(H, W, 3)`` or gray ``(H, W)``."""
    data = np.fromfile(str(path), dtype=np.uint8)  # imdecode copes with non-ASCII paths
    if not data.size:
        raise ImageError(f"{path}: empty file")
    if color == "rgb":
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    elif task == "denoise":
        img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    else:  # gray JPEG: the stored image, reduced to Y if it has colour
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if img is not None and img.dtype != np.uint8:
            raise ImageError(f"{path}: {img.dtype} samples; the JPEG protocol takes 8-bit images")
        if img is not None and img.ndim == 3:
            img = y_channel_uint8(img[:, :, :3] if img.shape[2] >= 3 else img[:, :, 0])
    if img is None:
        raise ImageError(f"{path}: cannot decode image")
    return img


def y_channel_uint8(bgr: np.ndarray) -> np.ndarray:
    """BT.601 studio-swing Y of a uint8 BGR image, rounded to uint8, with the reference's arithmetic
    (float32 ``/ 255``, then the float64 weights), so it rounds exactly as ``bgr2ycbcr(y_only=True)``."""
    if bgr.ndim == 2:
        return bgr
    y = np.dot(bgr.astype(np.float32) / np.float32(255.0), np.asarray(Y_WEIGHTS_BGR, dtype=np.float64)) + 16.0
    return y.round().astype(np.uint8)


def add_noise(clean: np.ndarray, sigma: float) -> np.ndarray:
    """``clean`` (uint8) plus Gaussian noise of ``sigma`` (8-bit units) as float32 in ``[0, 1]``, unclipped.

    The draw equals ``np.random.seed(0); np.random.normal(0, sigma / 255, clean.shape)`` (a private
    ``RandomState(0)`` gives the same stream without touching numpy's global generator).
    """
    img = clean.astype(np.float32) / np.float32(255.0)
    noise = np.random.RandomState(0).normal(0, sigma / 255.0, img.shape)
    return (img + noise).astype(np.float32)  # the sum is float64 in the reference, then .float()


def jpeg_compress(clean: np.ndarray, quality: int) -> np.ndarray:
    """``clean`` (uint8 BGR or gray) encoded and decoded by OpenCV's JPEG codec at ``quality``."""
    ok, buf = cv2.imencode(".jpg", clean, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ImageError(f"OpenCV could not JPEG-encode a {clean.shape} image")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if clean.ndim == 2 else cv2.IMREAD_COLOR)


def degrade(clean: np.ndarray, task: str, level: float) -> np.ndarray:
    """The model input for ``clean``: float32 in ``[0, 1]`` (noisy values may leave that range)."""
    if task == "denoise":
        return add_noise(clean, level)
    return jpeg_compress(clean, int(level)).astype(np.float32) / np.float32(255.0)


def quantize(img: np.ndarray) -> np.ndarray:
    """Clamp to ``[0, 1]`` and round to uint8 in float32 arithmetic, as the reference saves outputs."""
    return np.round(np.clip(img.astype(np.float32), 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)


def to_rgb(img: np.ndarray) -> np.ndarray:
    """BGR -> RGB (gray unchanged): swinsr's metrics take RGB, the protocol reads BGR."""
    return np.ascontiguousarray(img[:, :, ::-1]) if img.ndim == 3 else img


# --------------------------------------------------------------------------- the method


def mirror_pad(x: torch.Tensor, window: int) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` at the bottom/right by mirroring to ``(H // window + 1) * window`` (and W):
    the reference's flip-and-concatenate padding (repeated for inputs smaller than the pad)."""
    h, w = x.shape[-2:]
    th, tw = (h // window + 1) * window, (w // window + 1) * window
    while x.shape[-2] < th:
        x = torch.cat([x, torch.flip(x, [-2])], dim=-2)
    while x.shape[-1] < tw:
        x = torch.cat([x, torch.flip(x, [-1])], dim=-1)
    return x[..., :th, :tw]


class RestorationMethod:
    """``identity`` or an upscale-1 model; ``__call__(degraded) -> float image`` (same layout, BGR/gray)."""

    def __init__(
        self,
        model: str | None,
        task: str,
        *,
        tile: int | str | None = None,
        tile_overlap: int = 32,
        ensemble: bool = False,
        device: str | None = None,
        precision: str = "fp32",
        model_args: Mapping[str, Any] | None = None,
    ) -> None:
        self.upscaler = None
        if model == IDENTITY:
            self.name = IDENTITY
            self.device = torch.device("cpu")
            return
        if model == BICUBIC:
            raise OptionError(f"--model bicubic is the SR baseline; for --task {task} use --model identity")
        from .inference import Upscaler, resolve_device
        from .zoo import resolve_model

        self.device = resolve_device(device)
        module = resolve_model(model, device=self.device, task=task, overrides=model_args)
        label = getattr(module, "swinsr_name", None) or (Path(model).stem if model and Path(model).exists() else model)
        scale = getattr(module, "upscale", None)
        if scale is None:
            raise OptionError(f"--model {label}: not a restoration model (no upscale attribute)")
        if int(scale) != 1:
            raise OptionError(f"--model {label}: upscales x{scale}; --task {task} needs an upscale-1 (restoration) model")
        self.upscaler = Upscaler(
            module, tile=tile, tile_overlap=tile_overlap, ensemble=ensemble, device=self.device, precision=precision
        )
        self.name = str(label)

    def __call__(self, degraded: np.ndarray) -> np.ndarray:
        if self.upscaler is None:
            return degraded
        x = torch.from_numpy(np.ascontiguousarray(to_rgb(degraded)))
        x = (x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]).float()
        h, w = x.shape[-2:]
        y = self.upscaler.upscale_tensor(mirror_pad(x, self.upscaler.window_size))[..., :h, :w]
        out = y[0, 0] if degraded.ndim == 2 else y[0].permute(1, 2, 0)
        return to_rgb(out.numpy())  # back to BGR (to_rgb is its own inverse)

    @property
    def last_tile(self) -> int | None:
        """The tile side the last image ran in (None: the whole image, as the protocol does)."""
        return None if self.upscaler is None else self.upscaler.last_tile

    def synchronize(self) -> None:
        """Wait for queued device work, so timings are honest."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


# --------------------------------------------------------------------------- scoring


def score_restoration(restored: np.ndarray, clean: np.ndarray, task: str) -> dict[str, float]:
    """The protocol's figures for uint8 RGB (or gray) ``restored`` against ``clean``; no border crop."""
    row = {"psnr": calculate_psnr(restored, clean, 0), "ssim": calculate_ssim(restored, clean, 0)}
    color = restored.ndim == 3
    if color:
        row["psnr_y"] = calculate_psnr(restored, clean, 0, test_y_channel=True)
        row["ssim_y"] = calculate_ssim(restored, clean, 0, test_y_channel=True)
    if task == "jpeg":
        row["psnrb"] = calculate_psnrb(restored, clean, 0)
        if color:
            row["psnrb_y"] = calculate_psnrb(restored, clean, 0, test_y_channel=True)
    return row


@dataclass(frozen=True)
class _Setting:
    task: str
    level: float
    color: str

    @property
    def level_fields(self) -> dict[str, Any]:
        return {LEVEL_KEY[self.task]: level_value(self.level)}

    @property
    def tag(self) -> str:
        """Folder-name form: ``noise25``, ``jpeg10_gray``."""
        kind = "noise" if self.task == "denoise" else "jpeg"
        return f"{kind}{level_value(self.level)}" + ("_gray" if self.color == "gray" else "")

    @property
    def title(self) -> str:
        what = f"sigma {level_value(self.level)}" if self.task == "denoise" else f"JPEG q{level_value(self.level)}"
        return f"{what} ({self.color})"


def run_restoration_benchmark(
    model: str | None,
    datasets: list[str | Path],
    task: str,
    levels: list[float] | None = None,
    *,
    color: str = "rgb",
    tile: int | str | None = None,
    tile_overlap: int = 32,
    ensemble: bool = False,
    device: str | None = None,
    precision: str = "fp32",
    save_images: str | Path | None = None,
    report_dir: str | Path | None = None,
    log: Log | None = None,
    model_args: Mapping[str, Any] | None = None,
) -> BenchmarkReport:
    """Benchmark ``model`` (``"identity"``, a checkpoint path, a registered name, or ``None`` for the
    embedded default of ``task``) on clean-image folders at each noise sigma / JPEG quality in
    ``levels`` (default: SwinIR's table levels); see the module docstring for the protocol.

    ``save_images``: write each restored image to ``DIR/<dataset>/<noise25|jpeg10[_gray]>/<stem>.png``.
    ``model_args``: constructor overrides for the model (``--model-arg``, see :func:`swinsr.load_model`).
    ``report_dir``: write ``report.md`` and strips (degraded | restored | clean) there.
    """
    say = log or (lambda _msg: None)
    if task not in TASKS:
        raise OptionError(f"--task {task}: choose sr, {', '.join(TASKS)}")
    if color not in COLORS:
        raise OptionError(f"--color {color}: choose {' or '.join(COLORS)}")
    levels = [float(v) for v in (levels if levels is not None else DEFAULT_LEVELS[task])]
    parse_levels(task, ",".join(str(v) for v in levels))  # same range checks as the CLI
    sets = [(Path(p).name, list_images(Path(p))[1]) for p in datasets]  # validate folders before loading
    method = RestorationMethod(
        model, task, tile=tile, tile_overlap=tile_overlap, ensemble=ensemble, device=device, precision=precision,
        model_args=model_args,
    )
    if method.upscaler is None and (tile is not None or ensemble or device is not None):
        say("identity baseline: --tile, --ensemble and --device do not apply and are ignored")
    out = BenchmarkReport(result_fields=RESULT_FIELDS, per_image_fields=PER_IMAGE_FIELDS)
    strips: dict[str, list[dict[str, Any]]] = {}
    for name, files in sets:
        cleans = [read_clean(f, task, color) for f in files]
        for level in levels:
            setting = _Setting(task, level, color)
            say(f"{name} {setting.title}: {len(files)} images, model {method.name}")
            if method.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(method.device)
            rows = []
            for path, clean in zip(files, cleans):
                degraded = degrade(clean, task, level)
                method.synchronize()
                start = time.perf_counter()
                restored_float = method(degraded)
                method.synchronize()
                seconds = time.perf_counter() - start
                restored, clean_rgb = to_rgb(quantize(restored_float)), to_rgb(clean)
                row: dict[str, Any] = {
                    "dataset": name, "task": task, **setting.level_fields, "color": color, "model": method.name,
                    "image": path.stem, **score_restoration(restored, clean_rgb, task), "seconds": seconds,
                    "tile": method.last_tile,
                }
                if tile is None and method.last_tile is not None:  # an out-of-memory retry: not the protocol
                    say(f"{path.name}: did not fit in memory whole, scored in {method.last_tile}-pixel tiles "
                        "(the reference protocol runs whole images; its row records the tile)")
                rows.append(row)
                if save_images is not None:
                    _write_png(Path(save_images) / name / setting.tag / f"{path.stem}.png", restored)
                if report_dir is not None:
                    strips.setdefault(f"{name} {setting.title}", []).append(
                        _strip(report_dir, name, setting, path.stem, to_rgb(quantize(degraded)), restored, clean_rgb,
                               row, method.name))
            out.per_image.extend(rows)
            out.results.append(_aggregate(rows, _peak_memory_mb(method.device)))
    if report_dir is not None:
        _write_text(Path(report_dir) / "report.md", render_restoration_markdown(out, strips))
    return out


def _aggregate(rows: list[dict[str, Any]], peak_mb: float) -> dict[str, Any]:
    first = rows[0]
    result = {k: first[k] for k in ("dataset", "task", "noise", "quality", "color", "model") if k in first}
    for key in METRIC_KEYS:
        if key in first:
            result[key] = float(np.mean([r[key] for r in rows]))
    result.update(images=len(rows), seconds=float(sum(r["seconds"] for r in rows)), peak_mem_mb=round(peak_mb, 1))
    return result


# --------------------------------------------------------------------------- visual report


def _as_rgb3(img: np.ndarray) -> np.ndarray:
    """RGB ``(H, W, 3)`` for the PNG writer and the strips (gray repeated)."""
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def _strip(
    report_dir: str | Path, name: str, setting: _Setting, stem: str, degraded: np.ndarray, restored: np.ndarray,
    clean: np.ndarray, row: dict[str, Any], model: str,
) -> dict[str, Any]:
    """Write the degraded | restored | clean strip of one image; returns its report entry."""
    input_psnr = calculate_psnr(degraded, clean, 0)
    kind = f"noisy s{level_value(setting.level)}" if setting.task == "denoise" else f"JPEG q{level_value(setting.level)}"
    rel = f"{name}_{setting.tag}/{stem}.png"
    strip = comparison_strip(
        _as_rgb3(degraded), _as_rgb3(restored), _as_rgb3(clean),
        labels=(f"{kind}  {input_psnr:.2f} dB", f"{model}  {row['psnr']:.2f} dB", "clean"),
    )
    _write_png(Path(report_dir) / rel, strip)
    return {"image": stem, "strip": rel, "input_psnr": input_psnr, "psnr": row["psnr"]}


def render_restoration_markdown(report: BenchmarkReport, strips: dict[str, list[dict[str, Any]]]) -> str:
    """The markdown report: results table, then per dataset and level a per-image table and the strips."""
    lines = [
        "# swinsr restoration benchmark report",
        "",
        "Protocol: SwinIR's `main_test_swinir.py` (noise seeded with 0 per image and not clipped; OpenCV",
        "JPEG), output rounded to 8 bits, no border crop. PSNR/SSIM on RGB (colour) or the gray image;",
        "Y is BT.601 studio swing; PSNR-B for JPEG (on the image, and on Y for colour). Each strip shows",
        "degraded | restored | clean; the red box (magnified below) is where the model changed the degraded",
        "image most.",
        "",
        "| dataset | level | model | PSNR | SSIM | PSNR-Y | SSIM-Y | PSNR-B | PSNR-B-Y | images | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.results:
        level = f"sigma {r['noise']}" if "noise" in r else f"q{r['quality']}"
        lines.append(
            f"| {r['dataset']} | {level} ({r['color']}) | {r['model']} | {_fmt(r['psnr'], 3)} | {_fmt(r['ssim'], 4)} | "
            f"{_fmt(r.get('psnr_y', '-'), 3)} | {_fmt(r.get('ssim_y', '-'), 4)} | {_fmt(r.get('psnrb', '-'), 3)} | "
            f"{_fmt(r.get('psnrb_y', '-'), 3)} | {r['images']} | {_fmt(r['seconds'], 2)} |"
        )
    for title, items in strips.items():
        lines += ["", f"## {title}", "", "| image | input PSNR | model PSNR | gain (dB) |", "|---|---|---|---|"]
        for it in items:
            gain = it["psnr"] - it["input_psnr"]
            lines.append(f"| {it['image']} | {it['input_psnr']:.2f} | {it['psnr']:.2f} | {gain:+.2f} |")
        for it in items:
            lines += ["", f"### {it['image']}", "", f"![{it['image']}]({it['strip']})"]
    return "\n".join(lines) + "\n"
