"""The :class:`Upscaler`: one SR/restoration model applied to whole images, tiled, on any device."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..archs.contract import model_contract
from ..errors import ImageError, OptionError
from .arrays import array_to_tensor, resize_antialiased, tensor_to_array
from .ensemble import self_ensemble
from .precision import autocast, resolve_device, resolve_precision
from ..allocator import return_freed_memory, trim_freed_memory
from .streaming import (
    ArrayWriter,
    BandResizer,
    RowAssembler,
    RowBands,
    Sink,
    bicubic_bands,
    check_memory,
    trimmed_stages,
)
from .tiling import (
    CPU_TILE_BUDGET_BYTES,
    CUDA_FREE_FRACTION,
    MIN_TILE,
    Emit,
    Progress,
    auto_tile_size,
    check_tile_args,
    estimate_bytes_per_pixel,
    is_out_of_memory,
    measure_bytes_per_pixel,
    shrink_tile,
    tiled_bands,
    tiled_forward,
    uniform_tile_side,
)

ALPHA_MODES = ("model", "bicubic")
#: Most tiles sent to the device in one batch (more gives no speed-up, only memory use).
MAX_TILE_BATCH = 16
#: An image needing more than this fraction of the available memory switches the process to
#: glibc's low-memory mode (:func:`~swinsr.allocator.return_freed_memory`).
LOW_MEMORY_FRACTION = 0.5
#: Tile side (input pixels) of ``compile=True`` when no fixed ``tile`` is given: one shape for
#: all images; images smaller than one such tile (plus context) run eagerly.
COMPILE_TILE = 192


def _gray_from_replicated(y: torch.Tensor) -> torch.Tensor:
    # a gray input replicated to RGB gives (nearly) equal output channels: their mean is the gray result
    return y.mean(dim=1, keepdim=True)


class Upscaler:
    """Apply a super-resolution or restoration model to images of any size.

    Args:
        model: an ``nn.Module`` from :func:`swinsr.load_model` / :mod:`swinsr.zoo`, or a registered
            model name or checkpoint path (resolved with :func:`swinsr.zoo.resolve_model`). The
            module is put in eval mode and moved to ``device``.
        tile: ``None`` (whole image at once), a tile side in input pixels, or ``"auto"`` (largest
            tile that fits free device memory; a fixed 2 GiB budget on CPU). Each tile is run with
            ``tile_overlap`` pixels of context on every side, so the model sees up to
            ``tile + 2 * tile_overlap`` pixels (rounded out to the model's window size).
        tile_overlap: context per tile side in input pixels; neighbouring tiles are blended
            smoothly across their shared boundary.
        precision: ``"auto"`` (bf16 autocast on CUDA, fp32 elsewhere), ``"fp32"``, ``"bf16"`` or
            ``"fp16"`` (guarded: a tile with non-finite output is recomputed in fp32).
        device: ``"auto"``/``None``, ``"cpu"``, ``"cuda"``, ``"mps"`` or a ``torch.device``.
        ensemble: x8 self-ensemble (flips and rotations averaged; 8x slower, slightly better).
        alpha: how an alpha channel is upscaled: ``"model"`` (through the model as gray) or ``"bicubic"``.
        tile_batch: tiles per device batch (``None``: one on CPU, where batching was measured to
            be slower and to need more memory; on GPUs as many as the memory budget allows, at most 16).
        compile: run a ``torch.compile`` d model (:func:`swinsr.export.compile_model`) on tiles that
            all have one shape (edge tiles take extra context from inside the image), so it
            compiles once, on the first image, for every image size. Images are always tiled then
            (``tile`` ``None``/``"auto"`` mean :data:`COMPILE_TILE`); images smaller than one tile
            run eagerly instead of padding. Meant for GPUs: on a 2-core CPU a 384x384 x4 upscale
            took 7.8 s compiled against 5.7 s eager with the same tile (uniform tiles carry more
            context, and compilation gains little there).

    Example::

        up = swinsr.Upscaler(swinsr.load_model("model_x4.pth"), tile=256)
        big = up.upscale("photo.png")            # numpy array, same channels and dtype as the input
    """

    def __init__(
        self,
        model: nn.Module | str | Path,
        *,
        tile: int | str | None = None,
        tile_overlap: int = 32,
        precision: str = "auto",
        device: str | torch.device | None = None,
        ensemble: bool = False,
        alpha: str = "model",
        tile_batch: int | None = None,
        compile: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        if isinstance(model, (str, Path)):
            from ..zoo import resolve_model

            model = resolve_model(model, device=self.device)
        if not isinstance(model, nn.Module):
            raise OptionError(f"model must be an nn.Module, a registered name or a checkpoint path, got {type(model).__name__}")
        contract = model_contract(model)
        self.model = model.eval().to(self.device)
        self.scale: int = int(contract.scale)
        self.in_chans: int = int(contract.in_chans)
        # tiles are aligned to the multiple the model pads to, so tiled == whole-image results
        self.window_size: int = int(contract.size_multiple)
        self.precision = resolve_precision(precision, self.device)
        if tile is not None and tile != "auto":
            try:
                tile = int(tile)
            except (TypeError, ValueError):
                raise OptionError(f"--tile {tile!r}: give a number of pixels or 'auto'") from None
            check_tile_args(tile, tile_overlap)
        elif tile_overlap < 0:
            raise OptionError(f"--tile-overlap {tile_overlap}: must be >= 0")
        if alpha not in ALPHA_MODES:
            raise OptionError(f"alpha={alpha!r}: choose one of {', '.join(ALPHA_MODES)}")
        if tile_batch is not None and tile_batch < 1:
            raise OptionError(f"tile_batch={tile_batch}: must be >= 1")
        self.tile: int | str | None = tile
        self.tile_overlap = int(tile_overlap)
        self.ensemble = bool(ensemble)
        self.alpha = alpha
        self.tile_batch = tile_batch
        #: tiles recomputed in fp32 because fp16 gave non-finite values (for reports and tests)
        self.fp16_fallbacks = 0
        #: tile side used by the last call (None: whole image); shrinks after out-of-memory retries
        self.last_tile: int | None = None
        self._bytes_per_pixel: float | None = None
        self.compile = bool(compile)
        self._compiled: nn.Module | None = None
        self._eager_now = False  # compile mode, but this image is smaller than one uniform tile
        #: whether an image was big enough to switch on glibc's low-memory mode (process-wide)
        self.low_memory = False

    # ----------------------------------------------------------------- model calls
    def _model_call(self, x: torch.Tensor) -> torch.Tensor:
        model = self.model
        if self.compile and not self._eager_now:
            if self._compiled is None:
                from ..export import compile_model

                self._compiled = compile_model(self.model)
            model = self._compiled
        y = model(x)
        return y[0] if isinstance(y, tuple) else y  # pixelshuffle_aux models return (sr, aux)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """One forward pass at the configured precision; fp16 falls back to fp32 on overflow."""
        with autocast(self.precision, self.device):
            y = self._model_call(x)
        if self.precision == "fp16" and not bool(torch.isfinite(y).all()):
            self.fp16_fallbacks += 1
            y = self._model_call(x)
        return y.float()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Model forward on a device batch with ``in_chans`` channels (plus self-ensemble)."""
        return self_ensemble(self._run, x) if self.ensemble else self._run(x)

    def _forward_any_channels(self, x: torch.Tensor) -> torch.Tensor:
        """Forward a 1- or 3-channel batch through a model that takes 1 or 3 channels."""
        c = x.shape[1]
        if c == self.in_chans:
            return self._forward(x)
        if c == 1 and self.in_chans == 3:
            return _gray_from_replicated(self._forward(x.expand(-1, 3, -1, -1)))
        if self.in_chans == 1:
            # a gray model restores each colour channel as its own gray image
            n, _, h, w = x.shape
            y = self._forward(x.reshape(n * c, 1, h, w))
            return y.reshape(n, c, y.shape[-2], y.shape[-1])
        raise OptionError(f"cannot feed {c}-channel images to a model with {self.in_chans} input channels")

    def _forward_trimmed(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`_forward_any_channels`, then (CPU) the freed activations go back to the OS, so
        the heap does not grow with fragments from tiles of other shapes (streamed output)."""
        y = self._forward_any_channels(x)
        if self.device.type == "cpu":
            trim_freed_memory()
        return y

    # ----------------------------------------------------------------- tiling
    def _bytes_per_px(self) -> float:
        if self._bytes_per_pixel is None:
            bpp = None
            if self.device.type == "cuda":
                try:
                    bpp = measure_bytes_per_pixel(self._forward, self.in_chans, self.device)
                except Exception as exc:  # a failed probe must not stop the upscale: estimate instead
                    if is_out_of_memory(exc):
                        torch.cuda.empty_cache()
            if bpp is None:
                bpp = estimate_bytes_per_pixel(self.model) * (1 if self.precision == "fp32" else 0.6)
            self._bytes_per_pixel = bpp
        return self._bytes_per_pixel

    def _memory_budget(self) -> float:
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            return free * CUDA_FREE_FRACTION
        return float(CPU_TILE_BUDGET_BYTES)

    def _pick_tile(self, height: int, width: int) -> int | None:
        """Tile side for an image (None: process it whole)."""
        if self.compile and (self.tile is None or self.tile == "auto"):
            return COMPILE_TILE
        if self.tile is None:
            return None
        if self.tile == "auto":
            tile = self._auto_tile()
        else:
            tile = int(self.tile)
        return None if tile >= max(height, width) and self.tile == "auto" else tile

    def _auto_tile(self) -> int:
        return auto_tile_size(self._bytes_per_px(), self._memory_budget(), self.tile_overlap, self.window_size)

    def _pick_batch(self, tile: int) -> int:
        if self.tile_batch is not None:
            return self.tile_batch
        if self.device.type == "cpu":
            # measured: 9 tiles per batch ran ~20% slower than single tiles on CPU, at ~3x the memory
            return 1
        side = tile + 2 * self.tile_overlap + 2 * self.window_size  # processed size, worst case
        per_tile = self._bytes_per_px() * side * side
        return int(max(1, min(MAX_TILE_BATCH, self._memory_budget() // max(per_tile, 1.0))))

    def _process(
        self, x: torch.Tensor, progress: Progress | None, sink: Callable[[], Emit] | None = None
    ) -> torch.Tensor | None:
        """Upscale a (B, 1|3, H, W) CPU batch; handles tiling and out-of-memory retries.

        Without ``sink`` the result is returned as one float32 tensor. With it, the output is
        streamed instead: ``sink()`` makes a fresh :data:`~swinsr.inference.tiling.Emit` for each
        attempt (an out-of-memory retry starts over) and finished rows go to it as they complete.
        """
        h, w = x.shape[-2:]
        tile = self._pick_tile(h, w)
        while True:
            self.last_tile = tile
            try:
                if tile is None:
                    if x.dtype == torch.uint8:  # an 8-bit streamed input (see _upscale_streamed)
                        x = x.float().div_(255.0)
                    with torch.no_grad():
                        y = self._forward_any_channels(x.to(self.device)).cpu()
                    if progress is not None:
                        progress(1, 1)
                    if sink is None:
                        return y
                    emit = sink()
                    for i in range(y.shape[0]):
                        emit(i, 0, 0, y[i])
                    return None
                pad = getattr(self.model, "pad_to_window", None)
                uniform = uniform_tile_side(tile, self.tile_overlap, self.window_size) if self.compile else None
                padded = min(h, w) if pad is None else -(-min(h, w) // self.window_size) * self.window_size
                self._eager_now = uniform is not None and padded < uniform
                options = dict(
                    scale=self.scale, tile=tile, overlap=self.tile_overlap, align=self.window_size, pad=pad,
                    batch_size=self._pick_batch(tile), device=self.device, progress=progress,
                    uniform=None if self._eager_now else uniform,
                )
                if sink is None:
                    return tiled_forward(self._forward_any_channels, x, **options)
                stages = trimmed_stages(self.model) if self.device.type == "cpu" else contextlib.nullcontext()
                with stages:
                    tiled_bands(self._forward_trimmed, x, sink(), **options)
                return None
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            # out of the except block, the failed pass's tensors (held by the traceback) are freed
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            if tile is None:
                tile = min(self._auto_tile(), shrink_tile(max(h, w), self.window_size) or MIN_TILE)
            else:
                smaller = shrink_tile(tile, self.window_size)
                if smaller is None:
                    raise torch.OutOfMemoryError(
                        f"out of memory on {self.device} even with {tile}-pixel tiles ({message}); "
                        "try --device cpu, --precision bf16 or a smaller --tile-overlap"
                    )
                tile = smaller

    # ----------------------------------------------------------------- public API
    def upscale_tensor(self, x: torch.Tensor, *, progress: Progress | None = None) -> torch.Tensor:
        """Upscale a ``(B, C, H, W)`` float batch in [0, 1] -> ``(B, C, H*scale, W*scale)`` float32 in [0, 1].

        ``C`` is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA); gray/RGB are converted to what the
        model takes, and alpha is upscaled separately. The result is on the CPU.
        """
        if x.ndim != 4 or x.shape[1] not in (1, 2, 3, 4):
            raise OptionError(f"expected a (B, C, H, W) tensor with 1-4 channels, got shape {tuple(x.shape)}")
        x = x.detach().float().cpu()
        if x.shape[1] in (2, 4):
            color, alpha = x[:, :-1], x[:, -1:]
            out_color = self._process(color, progress)
            if self.alpha == "bicubic":
                out_alpha = F.interpolate(alpha, scale_factor=self.scale, mode="bicubic", align_corners=False)
            else:
                out_alpha = self._process(alpha, None)
            return torch.cat([out_color, out_alpha], dim=1).clamp_(0, 1)
        return self._process(x, progress).clamp_(0, 1)

    def upscale(
        self, image: Any, *, outscale: float | None = None, progress: Progress | None = None
    ) -> np.ndarray:
        """Upscale one image; returns a numpy array with the input's channel layout and dtype.

        ``image``: a numpy array (``(H, W)`` or ``(H, W, C)``; uint8, uint16 or float in [0, 1]),
        a PIL image, or a path (read with :func:`swinsr.imageio.read_image`). ``outscale``: final
        size as a factor of the input (the model runs at its own scale, then an antialiased resize).
        """
        arr = _as_array(image)
        h, w = arr.shape[:2]
        final = output_size(h, w, outscale) if outscale is not None else (h * self.scale, w * self.scale)
        tile = self._pick_tile(h, w)
        self._check_memory(arr, final, tile)
        if tile is None:
            # whole image at once: the model output is one float tensor anyway
            out = self.upscale_tensor(array_to_tensor(arr), progress=progress)
            if outscale is not None:
                out = resize_antialiased(out, final)
            return tensor_to_array(out, arr.dtype, squeeze_channel=arr.ndim == 2)
        return self._upscale_streamed(arr, final, progress)

    def _upscale_streamed(self, arr: np.ndarray, final: tuple[int, int], progress: Progress | None) -> np.ndarray:
        """Tiled upscale written band by band into the final-dtype array (no float32 output image).

        An 8-bit input stays 8-bit: tiles are converted to float as they are cut (a (1, C, H, W)
        view of the array, no copy), so neither the input nor the output exists in float32.
        """
        h, w = arr.shape[:2]
        x = _streamed_input(arr)
        channels = x.shape[1]
        out = np.empty((*final, channels), dtype=arr.dtype)
        model_size = (h * self.scale, w * self.scale)

        def sink_for(c0: int) -> Callable[[], Emit]:
            def make() -> Emit:
                writer = _outscaled(ArrayWriter(out, c0), model_size, final)
                return lambda image, row0, col0, block: writer(row0, col0, block)
            return make

        color_channels = channels - 1 if channels in (2, 4) else channels
        self._process(x[:, :color_channels], progress, sink=sink_for(0))
        if channels in (2, 4):
            alpha = x[:, -1:] if x.is_floating_point() else x[:, -1:].float().div_(255.0)
            if self.alpha == "bicubic":
                emit = sink_for(channels - 1)()
                bicubic_bands(alpha[0], self.scale, lambda row0, band: emit(0, row0, 0, band))
            else:
                self._process(alpha, None, sink=sink_for(channels - 1))
        return out[:, :, 0] if arr.ndim == 2 else out

    def upscale_file(
        self, image: Any, path: str | Path, *, outscale: float | None = None, progress: Progress | None = None
    ) -> list[str]:
        """Upscale one image and write it to ``path`` atomically; returns notes on what the format changed.

        A PNG of an image without alpha is streamed: each band of rows goes into the file as soon as
        its tiles are blended, so the output image never exists in memory (a 2048x1536 photo x4:
        one ~25 MB band instead of the 151 MB image). Anything else is :meth:`upscale` followed by
        :func:`swinsr.imageio.write_image`; both give the same file contents.
        """
        from ..checkpoint import _atomic_write
        from ..imageio import output_format, write_image
        from ..pngstream import PngWriter

        arr = _as_array(image)
        p = Path(path)
        h, w = arr.shape[:2]
        channels = 1 if arr.ndim == 2 else arr.shape[2]
        final = output_size(h, w, outscale) if outscale is not None else (h * self.scale, w * self.scale)
        tile = self._pick_tile(h, w)
        if output_format(p) != "PNG" or channels not in (1, 3) or tile is None or arr.dtype not in (np.uint8, np.uint16):
            return write_image(p, self.upscale(arr, outscale=outscale, progress=progress))
        band_rows = (tile + 2 * self.tile_overlap + 2 * self.window_size) * self.scale * final[0] / (h * self.scale)
        self._check_memory(arr, final, tile, output_bytes=band_rows * final[1] * channels * arr.dtype.itemsize)
        x = _streamed_input(arr)
        model_size = (h * self.scale, w * self.scale)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                png: list[PngWriter] = []

                def make() -> Emit:
                    f.seek(0)  # an out-of-memory retry with smaller tiles starts the file over
                    f.truncate()
                    png[:] = [PngWriter(f, final[1], final[0], channels, arr.dtype)]
                    sink = _outscaled(RowBands(final[1], channels, arr.dtype, png[0].write_rows), model_size, final)
                    return lambda image, row0, col0, block: sink(row0, col0, block)

                self._process(x, progress, sink=make)
                png[0].finish()

        try:
            _atomic_write(p, write)
        except OSError as exc:
            raise ImageError(f"{p}: cannot write ({exc.strerror or exc})") from None
        return []

    def _check_memory(
        self, arr: np.ndarray, final: tuple[int, int], tile: int | None, output_bytes: float | None = None
    ) -> None:
        """Refuse an image whose output and working memory cannot fit in available CPU memory.

        ``output_bytes``: what the output costs when it is not the whole image (streamed to a file).
        """
        h, w = arr.shape[:2]
        channels = 1 if arr.ndim == 2 else arr.shape[2]
        output = final[0] * final[1] * channels * arr.dtype.itemsize if output_bytes is None else output_bytes
        float_in = channels * h * w * 4.0
        model_size = (h * self.scale, w * self.scale)
        if tile is None:
            # the model output, its clamped copy, and the resized image when --outscale is given
            model_out = channels * model_size[0] * model_size[1] * 4.0
            resized = final[0] * final[1] * channels * 4.0 if final != model_size else 0.0
            working = 2 * float_in + 2 * model_out + resized
            model_pixels = h * w
        else:
            # float: one tile's column window (+ the tile output and a normalised block) and the
            # full-width rows shared with the next tile row (old and new); --outscale adds a row band
            side = tile + 2 * self.tile_overlap + 2 * self.window_size
            wp = -(-w // self.window_size) * self.window_size
            shared_rows = (2 * self.tile_overlap + 2 * self.window_size) * self.scale
            streamed_in = 0.0 if arr.dtype == np.uint8 else 2 * float_in  # uint8 is converted tile by tile
            working = streamed_in + 3 * channels * 4.0 * (side * self.scale) ** 2
            working += 2 * channels * 4.0 * shared_rows * wp * self.scale
            if final != model_size:
                working += 2 * channels * 4.0 * side * self.scale * wp * self.scale
            model_pixels = side * side * self._pick_batch(tile)
        if self.device.type == "cpu":  # on a GPU the activations live in device memory
            working += self._bytes_per_px() * model_pixels
        describe = f"upscaling {w}x{h} x{self.scale} to {final[1]}x{final[0]}"
        avail = check_memory(output + working, output, describe)
        if avail is not None and output + working > LOW_MEMORY_FRACTION * avail and not self.low_memory:
            # tight: trade CPU time for a heap that does not fragment (see return_freed_memory)
            self.low_memory = return_freed_memory()


def _outscaled(sink: ArrayWriter | RowBands, model_size: tuple[int, int], final: tuple[int, int]) -> Sink:
    """``sink`` itself, or (``--outscale``) the row assembler + band resizer in front of its whole-row input."""
    if final == model_size:
        return sink
    return RowAssembler(model_size[1], BandResizer(model_size, final, sink.rows))


def _streamed_input(arr: np.ndarray) -> torch.Tensor:
    """``(1, C, H, W)`` input of a streamed upscale: a zero-copy view of an 8-bit array (tiles are
    converted to float as they are cut), otherwise the float tensor."""
    if arr.dtype == np.uint8:
        return torch.from_numpy(arr if arr.ndim == 3 else arr[:, :, None]).permute(2, 0, 1)[None]
    return array_to_tensor(arr)


def output_size(height: int, width: int, outscale: float) -> tuple[int, int]:
    """Output ``(H, W)`` for ``--outscale``: the input size times ``outscale``, rounded, at least 1."""
    if not (outscale > 0 and math.isfinite(outscale)):
        raise OptionError(f"--outscale {outscale}: must be a positive number")
    return max(1, round(height * outscale)), max(1, round(width * outscale))


def _as_array(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    from .. import imageio

    if isinstance(image, (str, Path)):
        return imageio.read_image(image).array
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return imageio.pil_to_array(image)
    raise OptionError(f"cannot upscale a {type(image).__name__}: pass a numpy array, PIL image or path")

