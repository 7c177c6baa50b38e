"""PSNR/SSIM benchmark with the standard SR evaluation protocol (engine of ``swinsr benchmark``).

A dataset is a folder with ``HR/`` images and optionally ``LR_bicubic/X{s}/{stem}x{s}.png``
(the layout of the usual Set5/Set14/BSD100/Urban100/Manga109 releases), or another LR folder
such as ``LR_realesrgan/X{s}`` (``swinsr degrade`` output). Per image:

1. HR is read as 3-channel RGB (grayscale files replicated, as the reference protocol does) and
   cropped at the top-left to a multiple of the scale;
2. LR is read from ``LR_bicubic`` (or the folder named by ``lr_dir``; without ``LR_bicubic``, the
   one ``LR_*/X{s}`` folder present) or, without any, made from that HR crop with the MATLAB-exact
   bicubic of :mod:`swinsr.imresize`;
3. the method (``bicubic`` or a model run through :class:`swinsr.inference.Upscaler`) upscales LR,
   the output is rounded to the data's integer grid (uint8, or uint16 for 16-bit data);
4. PSNR/SSIM are computed on Y (BT.601 studio swing) and RGB with ``crop_border = scale``.

:func:`run_benchmark` returns a :class:`BenchmarkReport` that writes JSON/CSV; with ``report_dir``
it also writes a markdown report with one comparison strip per image (:func:`comparison_strip`).
"""

from __future__ import annotations

import csv
import io
import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ._lazy import cv2
import numpy as np
import torch

from .errors import ImageError, OptionError
from .imresize import imresize, mod_crop
from .metrics import LPIPSMetric, MetricUnavailable, calculate_psnr, calculate_ssim, data_range, to_uint

BICUBIC = "bicubic"
IDENTITY = "identity"  # the restoration baseline (swinsr.restoration_benchmark); no meaning for SR
RESULT_FIELDS = (
    "dataset", "scale", "model", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "images", "seconds", "peak_mem_mb",
)
PER_IMAGE_FIELDS = (
    "dataset", "scale", "model", "image", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "seconds", "tile",
)
HR_DIR, LR_DIR = "HR", "LR_bicubic"
LR_PREFIX = "LR_"  # other LR folders: LR_realesrgan/X4, ...
IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".ppm", ".pgm")

Log = Callable[[str], None]


# --------------------------------------------------------------------------- datasets


@dataclass
class BenchmarkDataset:
    """One evaluation set: its name, HR files, and LR files (``None`` where LR is generated).

    ``lr_name`` is the LR folder used (``"LR_bicubic"``, ``"LR_realesrgan"``, ...; ``None`` when
    LR is generated).
    """

    name: str
    root: Path
    hr_files: list[Path]
    lr_files: list[Path] | None
    lr_name: str | None = None

    @property
    def lr_source(self) -> str:
        if self.lr_files is None:
            return "generated (MATLAB bicubic of HR)"
        return self.lr_name or LR_DIR

    @property
    def bicubic_lr(self) -> bool:
        """Whether LR is bicubic (read from LR_bicubic or generated), not another degradation."""
        return self.lr_files is None or (self.lr_name or LR_DIR) == LR_DIR


def list_images(root: Path) -> tuple[Path, list[Path]]:
    """``(folder, sorted image files)`` of a dataset: ``root/HR`` if it exists, else ``root`` itself."""
    if not root.is_dir():
        raise OptionError(f"--dataset {root}: folder not found")
    hr_dir = root / HR_DIR if (root / HR_DIR).is_dir() else root
    files = sorted(p for p in hr_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise OptionError(f"--dataset {root}: no images in {hr_dir} (expected {root}/HR/*.png)")
    return hr_dir, files


def _lr_folder(root: Path, scale: int, lr_dir: str | None) -> tuple[str, Path] | None:
    """The LR folder to read: ``root/lr_dir/X{scale}`` when named; else ``LR_bicubic/X{scale}``;
    else the only ``LR_*/X{scale}`` folder (several: ask for ``--lr-dir``); else None (generate)."""
    found = sorted(d.name for d in root.glob(f"{LR_PREFIX}*") if (d / f"X{scale}").is_dir())
    if lr_dir is not None:
        name = Path(lr_dir).name
        if not (root / name / f"X{scale}").is_dir():
            have = ", ".join(found) or "none"
            raise OptionError(f"--lr-dir {lr_dir}: {root / name / f'X{scale}'} not found (LR folders for x{scale}: {have})")
        return name, root / name / f"X{scale}"
    if LR_DIR in found:
        return LR_DIR, root / LR_DIR / f"X{scale}"
    if len(found) > 1:
        raise OptionError(
            f"--dataset {root}: several LR folders for x{scale} ({', '.join(found)}); choose one with --lr-dir"
        )
    return (found[0], root / found[0] / f"X{scale}") if found else None


def find_dataset(path: str | Path, scale: int, lr_dir: str | None = None) -> BenchmarkDataset:
    """Locate HR (and LR for ``scale``) images of the dataset folder ``path``.

    ``path`` holds ``HR/`` (or is itself a folder of HR images). LR comes from ``lr_dir/X{scale}``
    when given (e.g. ``"LR_realesrgan"``), else from ``LR_bicubic/X{scale}``, else from the only
    ``LR_*/X{scale}`` folder there is; every HR image must have its ``{stem}x{scale}.png`` (or
    ``{stem}.png``) in it. Without any LR folder, LR is generated.
    """
    root = Path(path)
    _, hr_files = list_images(root)
    chosen = _lr_folder(root, scale, lr_dir)
    if chosen is None:
        return BenchmarkDataset(name=root.name, root=root, hr_files=hr_files, lr_files=None)
    lr_name, folder = chosen
    lr_files: list[Path] = []
    for hr in hr_files:
        cands = [folder / f"{hr.stem}x{scale}{suf}" for suf in (".png", hr.suffix)] + [folder / f"{hr.stem}.png"]
        found = next((c for c in cands if c.is_file()), None)
        if found is None:
            raise ImageError(
                f"{folder}: no LR image for {hr.name} (expected {cands[0].name}); "
                f"add it, or remove {folder} to generate LR from HR"
            )
        lr_files.append(found)
    return BenchmarkDataset(name=root.name, root=root, hr_files=hr_files, lr_files=lr_files, lr_name=lr_name)


def read_eval_image(path: Path) -> np.ndarray:
    """Read an image as ``(H, W, 3)`` RGB uint8/uint16 (gray replicated to 3 channels, alpha dropped)."""
    data = np.fromfile(str(path), dtype=np.uint8)  # imdecode copes with non-ASCII paths
    img = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH) if data.size else None
    if img is None:
        raise ImageError(f"{path}: cannot decode image")
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: unsupported sample type {img.dtype} (use 8- or 16-bit images)")
    return np.ascontiguousarray(img[:, :, ::-1])


def load_pair(dataset: BenchmarkDataset, index: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lr, hr)`` of one image: HR top-left mod-``scale`` crop and its LR (read or generated)."""
    hr_path = dataset.hr_files[index]
    hr = mod_crop(read_eval_image(hr_path), scale)
    if min(hr.shape[:2]) < scale:
        raise ImageError(f"{hr_path}: image smaller than the scale x{scale}")
    if dataset.lr_files is None:
        lr = imresize(hr, 1.0 / scale)  # integer input: bit-exact MATLAB output
    else:
        lr_path = dataset.lr_files[index]
        lr = read_eval_image(lr_path)
        if (lr.shape[0] * scale, lr.shape[1] * scale) != hr.shape[:2]:
            raise ImageError(
                f"{lr_path}: LR size {lr.shape[1]}x{lr.shape[0]} times {scale} does not match the HR crop "
                f"{hr.shape[1]}x{hr.shape[0]} of {hr_path.name} (wrong scale folder?)"
            )
    return lr, hr  # type: ignore[return-value]


# --------------------------------------------------------------------------- methods


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic upscaling of an integer image to float ``[0, 1]`` (unrounded, unclipped)."""
    return imresize(lr.astype(np.float64) / data_range(lr), float(scale))  # type: ignore[return-value]


class SRMethod:
    """What is benchmarked: ``bicubic`` or a model; ``__call__(lr) -> float HWC image in [0, 1]``."""

    def __init__(
        self,
        model: str | None,
        scale: int,
        *,
        tile: int | str | None = None,
        tile_overlap: int = 32,
        ensemble: bool = False,
        device: str | None = None,
        precision: str = "fp32",
        model_args: Mapping[str, Any] | None = None,
    ) -> None:
        self.scale = scale
        self.upscaler = None
        if model == BICUBIC:
            self.name = BICUBIC
            self.device = torch.device("cpu")
            return
        from .inference import Upscaler, resolve_device
        from .zoo import default_model_name, resolve_model

        self.device = resolve_device(device)
        module = resolve_model(model, scale=scale, device=self.device, overrides=model_args)
        self.upscaler = Upscaler(
            module, tile=tile, tile_overlap=tile_overlap, ensemble=ensemble, device=self.device, precision=precision
        )
        if self.upscaler.scale != scale:
            raise OptionError(
                f"--model {model or default_model_name(scale)} upscales x{self.upscaler.scale}, but --scale is {scale}"
            )
        if model is None:
            self.name = getattr(module, "swinsr_name", None) or str(default_model_name(scale))
        elif Path(model).exists():
            self.name = Path(model).stem
        else:
            self.name = str(model)

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        if self.upscaler is None:
            return bicubic_upscale(lr, self.scale)
        from .inference.arrays import array_to_tensor

        out = self.upscaler.upscale_tensor(array_to_tensor(lr))
        return out[0].permute(1, 2, 0).double().numpy()

    @property
    def last_tile(self) -> int | None:
        """The tile side the last image ran in (None: the whole image)."""
        return None if self.upscaler is None else self.upscaler.last_tile

    def synchronize(self) -> None:
        """Wait for queued device work, so timings are honest."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


# --------------------------------------------------------------------------- results


@dataclass
class BenchmarkReport:
    """Aggregated ``results`` (one row per dataset) and ``per_image`` rows, as dicts.

    ``result_fields`` / ``per_image_fields`` order the CSV columns (keys no row has are left out).
    """

    results: list[dict[str, Any]] = field(default_factory=list)
    per_image: list[dict[str, Any]] = field(default_factory=list)
    result_fields: tuple[str, ...] = RESULT_FIELDS
    per_image_fields: tuple[str, ...] = PER_IMAGE_FIELDS

    def to_json(self) -> str:
        return json.dumps({"results": self.results, "per_image": self.per_image}, indent=2, allow_nan=True)

    def write_json(self, path: str | Path) -> None:
        """Write ``{"results": [...], "per_image": [...]}`` atomically."""
        _write_text(Path(path), self.to_json() + "\n")

    def write_csv(self, path: str | Path) -> Path:
        """Write the results table to ``path`` and the per-image rows beside it (``<stem>_per_image.csv``).

        Returns the per-image file's path.
        """
        path = Path(path)
        per_image_path = path.with_name(f"{path.stem}_per_image{path.suffix or '.csv'}")
        _write_text(path, _csv_text(self.results, _columns(self.result_fields, self.results)))
        _write_text(per_image_path, _csv_text(self.per_image, _columns(self.per_image_fields, self.per_image)))
        return per_image_path


def _columns(base: tuple[str, ...], rows: list[dict[str, Any]]) -> list[str]:
    present = [k for k in base if any(k in r for r in rows)]
    extra = [k for r in rows for k in r if k not in base]
    return present + list(dict.fromkeys(extra))


def _csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _write_text(path: Path, text: str) -> None:
    from .checkpoint import _atomic_write

    _atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB ``(H, W, 3)`` or gray ``(H, W)`` image as PNG, atomically."""
    from .checkpoint import _atomic_write

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1] if rgb.ndim == 3 else rgb))
    if not ok:
        raise ImageError(f"{path}: cannot encode image")
    _atomic_write(path, lambda tmp: buf.tofile(tmp))


def score(sr: np.ndarray, hr: np.ndarray, crop_border: int) -> dict[str, float]:
    """PSNR/SSIM on Y and RGB of an integer SR image against HR (both ``(H, W, 3)``)."""
    return {
        "psnr_y": calculate_psnr(sr, hr, crop_border, test_y_channel=True),
        "ssim_y": calculate_ssim(sr, hr, crop_border, test_y_channel=True),
        "psnr_rgb": calculate_psnr(sr, hr, crop_border),
        "ssim_rgb": calculate_ssim(sr, hr, crop_border),
    }


def _peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA memory allocated since the last reset; on CPU the process's peak resident size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


# --------------------------------------------------------------------------- the benchmark


def run_benchmark(
    model: str | None,
    datasets: list[str | Path],
    scale: int,
    *,
    tile: int | str | None = None,
    tile_overlap: int = 32,
    ensemble: bool = False,
    device: str | None = None,
    precision: str = "fp32",
    save_images: str | Path | None = None,
    report_dir: str | Path | None = None,
    lpips: bool = False,
    lr_dir: str | None = None,
    log: Log | None = None,
    model_args: Mapping[str, Any] | None = None,
) -> BenchmarkReport:
    """Benchmark ``model`` (``"bicubic"``, a checkpoint path, a registered name, or ``None`` for the
    default model of ``scale``) on each dataset folder; see the module docstring for the protocol.

    ``lr_dir``: the LR folder to score (e.g. ``"LR_realesrgan"``; default ``LR_bicubic``, or the
    only ``LR_*/X{scale}`` folder). Rows of a non-bicubic LR folder carry ``"lr"``: its name.

    ``save_images``: write each SR image to ``DIR/<dataset>/X<scale>/<stem>.png``.
    ``report_dir``: write ``report.md`` and comparison strips there.
    ``model_args``: constructor overrides for the model (``--model-arg``, see :func:`swinsr.load_model`).
    ``lpips``: add LPIPS when the ``lpips`` package and its weights are available locally;
    otherwise ``log`` says why and the column is left out.
    """
    say = log or (lambda _msg: None)
    if scale < 1:
        raise OptionError(f"--scale {scale}: must be a positive integer")
    if model == IDENTITY:
        raise OptionError("--model identity is the restoration baseline (--task denoise|jpeg); for SR use --model bicubic")
    sets = [find_dataset(p, scale, lr_dir) for p in datasets]  # validate every folder before loading anything
    method = SRMethod(
        model, scale, tile=tile, tile_overlap=tile_overlap, ensemble=ensemble, device=device, precision=precision,
        model_args=model_args,
    )
    if method.upscaler is None and (tile is not None or ensemble or device is not None):
        say("bicubic baseline: --tile, --ensemble and --device do not apply and are ignored")
    lpips_metric = _load_lpips(method.device, say) if lpips else None
    out = BenchmarkReport()
    strips: dict[str, list[dict[str, Any]]] = {}
    for ds in sets:
        say(f"{ds.name} x{scale}: {len(ds.hr_files)} images, LR {ds.lr_source}, model {method.name}")
        if method.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(method.device)
        rows = []
        for i, hr_path in enumerate(ds.hr_files):
            lr, hr = load_pair(ds, i, scale)
            bits = 16 if hr.dtype == np.uint16 else 8
            method.synchronize()
            start = time.perf_counter()
            sr_float = method(lr)
            method.synchronize()
            seconds = time.perf_counter() - start
            sr = to_uint(sr_float, bits)
            row: dict[str, Any] = {
                "dataset": ds.name, "scale": scale, "model": method.name, "image": hr_path.stem,
                **score(sr, hr, scale), "seconds": seconds, "tile": method.last_tile,
            }
            if tile is None and method.last_tile is not None:  # an out-of-memory retry in tiles
                say(f"{hr_path.name}: did not fit in memory whole, scored in {method.last_tile}-pixel tiles "
                    "(its row records the tile)")
            if not ds.bicubic_lr:
                row["lr"] = ds.lr_name
            if lpips_metric is not None:
                row["lpips"] = _lpips_value(lpips_metric, sr, hr, scale)
            rows.append(row)
            if save_images is not None:
                _write_png(Path(save_images) / ds.name / f"X{scale}" / f"{hr_path.stem}.png", sr)
            if report_dir is not None:
                strip_rel = f"{ds.name}_x{scale}/{hr_path.stem}.png"
                bic = sr if method.name == BICUBIC else to_uint(bicubic_upscale(lr, scale), bits)
                bic_psnr = row["psnr_y"] if bic is sr else calculate_psnr(bic, hr, scale, test_y_channel=True)
                first, first_label = bic, f"bicubic  {bic_psnr:.2f} dB"
                if not ds.bicubic_lr:  # a real degradation: show the LR itself (pixels enlarged), not bicubic
                    first, first_label = nearest_upscale(lr, scale), f"LR ({ds.lr_name})"
                strip = comparison_strip(first, sr, hr, labels=(
                    first_label, f"{method.name}  {row['psnr_y']:.2f} dB", "HR"))
                _write_png(Path(report_dir) / strip_rel, strip)
                strips.setdefault(f"{ds.name} x{scale}", []).append(
                    {"image": hr_path.stem, "strip": strip_rel, "bicubic_psnr_y": bic_psnr, "psnr_y": row["psnr_y"]})
        out.per_image.extend(rows)
        result = _aggregate(ds.name, scale, method.name, rows, _peak_memory_mb(method.device))
        if not ds.bicubic_lr:
            result["lr"] = ds.lr_name
        out.results.append(result)
    if report_dir is not None:
        bicubic_lr = all(ds.bicubic_lr for ds in sets)
        _write_text(Path(report_dir) / "report.md", render_markdown(out, strips, bicubic_lr=bicubic_lr))
    return out


def nearest_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """LR enlarged ``scale`` times by pixel repetition: how the LR itself looks at HR size."""
    return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)


def _aggregate(dataset: str, scale: int, model: str, rows: list[dict[str, Any]], peak_mb: float) -> dict[str, Any]:
    result: dict[str, Any] = {"dataset": dataset, "scale": scale, "model": model}
    for key in ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"):
        result[key] = float(np.mean([r[key] for r in rows]))
    result.update(images=len(rows), seconds=float(sum(r["seconds"] for r in rows)), peak_mem_mb=round(peak_mb, 1))
    if rows and "lpips" in rows[0]:
        result["lpips"] = float(np.mean([r["lpips"] for r in rows]))
    return result


def _load_lpips(device: torch.device, say: Log) -> LPIPSMetric | None:
    try:
        return LPIPSMetric(device=device)
    except MetricUnavailable as exc:
        say(str(exc))
        return None


def _lpips_value(metric: LPIPSMetric, sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    def tensor(a: np.ndarray) -> torch.Tensor:
        a = a[crop:-crop, crop:-crop] if crop else a
        return torch.from_numpy(a.transpose(2, 0, 1).astype(np.float32) / data_range(a))[None]

    return float(metric(tensor(sr), tensor(hr))[0])


# --------------------------------------------------------------------------- visual report

PANEL_MAX_WIDTH = 360
HEADER_PX = 26
GAP_PX = 6
BACKGROUND = (255, 255, 255)
BOX_COLOR = (255, 40, 40)


def most_different_region(a: np.ndarray, b: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left ``(y, x)`` of the ``size`` x ``size`` window where ``a`` and ``b`` differ most (mean abs)."""
    diff = np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=2)
    h, w = diff.shape
    size_y, size_x = min(size, h), min(size, w)
    window_mean = cv2.blur(diff, (size_x, size_y), borderType=cv2.BORDER_CONSTANT)  # centred box average
    ry, rx = size_y // 2, size_x // 2
    inner = window_mean[ry : h - (size_y - ry) + 1, rx : w - (size_x - rx) + 1]  # windows fully inside
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(y), int(x)


def comparison_strip(
    bicubic: np.ndarray, sr: np.ndarray, hr: np.ndarray, labels: tuple[str, str, str] = ("bicubic", "model", "HR")
) -> np.ndarray:
    """``bicubic | model | HR`` side by side (uint8 RGB), each with a zoom of the most different region.

    The zoomed region is where the model differs most from bicubic (where it changed the picture);
    for the bicubic baseline itself, where it differs most from HR. It is boxed in red in the full
    views and shown magnified (nearest neighbour) below them.
    """
    images = [_display_uint8(im) for im in (bicubic, sr, hr)]
    h, w = images[0].shape[:2]
    crop = int(np.clip(min(h, w) // 5, 16, 96))
    crop = min(crop, h, w)
    reference = images[0] if np.any(images[0] != images[1]) else images[2]
    y, x = most_different_region(images[1], reference, crop)
    fit = min(1.0, PANEL_MAX_WIDTH / w)
    panel_w, panel_h = max(1, round(w * fit)), max(1, round(h * fit))
    zoom_h = panel_w  # square crop shown at panel width
    columns = []
    for img, label in zip(images, labels):
        full = cv2.resize(img, (panel_w, panel_h), interpolation=cv2.INTER_AREA) if fit < 1 else img.copy()
        p0 = (int(x * fit), int(y * fit))
        p1 = (int((x + crop) * fit) - 1, int((y + crop) * fit) - 1)
        cv2.rectangle(full, p0, p1, BOX_COLOR, 2)
        zoom = cv2.resize(img[y : y + crop, x : x + crop], (panel_w, zoom_h), interpolation=cv2.INTER_NEAREST)
        header = np.full((HEADER_PX, panel_w, 3), BACKGROUND, np.uint8)
        _put_text(header, label)
        gap = np.full((GAP_PX, panel_w, 3), BACKGROUND, np.uint8)
        columns.append(np.concatenate([header, full, gap, zoom], axis=0))
    spacer = np.full((columns[0].shape[0], GAP_PX, 3), BACKGROUND, np.uint8)
    return np.concatenate([columns[0], spacer, columns[1], spacer, columns[2]], axis=1)


def _display_uint8(img: np.ndarray) -> np.ndarray:
    return (img >> 8).astype(np.uint8) if img.dtype == np.uint16 else np.ascontiguousarray(img)


def _put_text(canvas: np.ndarray, text: str) -> None:
    """Black label, shrunk until it fits the panel width."""
    font, thickness, size = cv2.FONT_HERSHEY_SIMPLEX, 1, 0.55
    while size > 0.3 and cv2.getTextSize(text, font, size, thickness)[0][0] > canvas.shape[1] - 8:
        size -= 0.05
    cv2.putText(canvas, text, (4, HEADER_PX - 8), font, size, (0, 0, 0), thickness, cv2.LINE_AA)


def _fmt(value: Any, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def render_markdown(
    report: BenchmarkReport, strips: dict[str, list[dict[str, Any]]], *, bicubic_lr: bool = True
) -> str:
    """The markdown report: results table, then per dataset a per-image table and the strips.

    ``bicubic_lr=False`` (an LR folder with another degradation): the strips show LR | model | HR.
    """
    lines = ["# swinsr benchmark report", ""]
    if bicubic_lr:
        intro = [
            "Protocol: PSNR/SSIM on Y (BT.601 studio swing) and RGB, `crop_border = scale`, output rounded to",
            "8-bit (16-bit for 16-bit data), LR from MATLAB bicubic. Each strip shows bicubic | model | HR;",
            "the red box (magnified below) is the region where the model differs most from bicubic.",
        ]
    else:
        lr_names = sorted({str(r["lr"]) for r in report.results if "lr" in r})
        intro = [
            "Protocol: PSNR/SSIM on Y (BT.601 studio swing) and RGB, `crop_border = scale`, output rounded to",
            f"8-bit (16-bit for 16-bit data), LR read from {', '.join(lr_names) or 'LR_bicubic'}. Each strip shows",
            "LR (enlarged by pixel repetition) | model | HR; the red box (magnified below) is the region where",
            "the model differs most from the LR. Bicubic PSNR-Y below is bicubic upsampling of that LR.",
        ]
    lines += intro + [
        "",
        "| dataset | scale | model | PSNR-Y | SSIM-Y | PSNR-RGB | SSIM-RGB | images | seconds | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.results:
        lines.append(
            f"| {r['dataset']} | x{r['scale']} | {r['model']} | {_fmt(r['psnr_y'], 3)} | {_fmt(r['ssim_y'], 4)} | "
            f"{_fmt(r['psnr_rgb'], 3)} | {_fmt(r['ssim_rgb'], 4)} | {r['images']} | {_fmt(r['seconds'], 2)} | "
            f"{_fmt(r['peak_mem_mb'], 1)} |"
        )
    for title, items in strips.items():
        lines += ["", f"## {title}", "", "| image | bicubic PSNR-Y | model PSNR-Y | gain (dB) |", "|---|---|---|---|"]
        for it in items:
            gain = it["psnr_y"] - it["bicubic_psnr_y"]
            lines.append(f"| {it['image']} | {it['bicubic_psnr_y']:.2f} | {it['psnr_y']:.2f} | {gain:+.2f} |")
        for it in items:
            lines += ["", f"### {it['image']}", "", f"![{it['image']}]({it['strip']})"]
    return "\n".join(lines) + "\n"
