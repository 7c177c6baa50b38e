"""Reading and writing images as they come: many formats, modes and bit depths.

:func:`read_image` returns a numpy array in one of four layouts -- gray ``(H, W)``, gray + alpha
``(H, W, 2)``, RGB ``(H, W, 3)``, RGBA ``(H, W, 4)`` -- of dtype uint8 or uint16, with the EXIF
orientation applied. Palette images become RGB (RGBA when they have transparency), CMYK becomes
RGB, GIF gives its first frame. Files that cannot be read raise :class:`ImageError` naming the
file and the reason.

:func:`write_image` keeps the layout and bit depth where the format can hold them and reports
what it had to change (e.g. JPEG has no alpha and no 16 bits). Writes are atomic.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from ._lazy import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .checkpoint import _atomic_write
from .errors import ImageError
from .pngstream import write_png

#: Extensions read when a folder is given as input.
READ_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
#: Output extension -> Pillow format name.
WRITE_FORMATS = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
}
LAYOUTS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
_EXIF_ORIENTATION = 0x0112


@dataclass
class LoadedImage:
    """A decoded image: ``array`` (uint8/uint16; HW, HW2, HW3 or HW4), its source path and format."""

    array: np.ndarray
    path: Path | None = None
    format: str = ""

    @property
    def layout(self) -> str:
        """``"L"``, ``"LA"``, ``"RGB"`` or ``"RGBA"``."""
        return layout_of(self.array)

    @property
    def bit_depth(self) -> int:
        """8 or 16."""
        return 16 if self.array.dtype == np.uint16 else 8


def layout_of(array: np.ndarray) -> str:
    """Channel layout name of an image array."""
    channels = 1 if array.ndim == 2 else array.shape[2]
    return LAYOUTS[channels]


# --------------------------------------------------------------------------- reading
def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an array, as Pillow's ``exif_transpose`` does to images."""
    swap = (1, 0) + tuple(range(2, array.ndim))
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(swap),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(swap)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(array)) if op else array


def _is_16bit(img: Image.Image, head: bytes) -> bool:
    """True for 16-bit-per-sample PNG/TIFF files (Pillow reduces 16-bit colour PNGs to 8 bits)."""
    if img.format == "PNG":
        return len(head) > 24 and head[24] == 16  # IHDR bit depth
    if img.format == "TIFF":
        bits = img.tag_v2.get(258, (8,)) if hasattr(img, "tag_v2") else (8,)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return any(b == 16 for b in bits)
    return False


def _decode_16bit(data: bytes, path: Path) -> np.ndarray:
    """Decode a 16-bit PNG/TIFF with OpenCV (keeps all 16 bits; BGR(A) -> RGB(A))."""
    # errors only: libtiff warns about the ExtraSamples tags OpenCV itself writes for RGBA
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageError(f"{path}: cannot decode this 16-bit image (corrupt or unsupported variant)")
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 25 and data[25] == 4:
            # a gray + alpha PNG, which OpenCV expands to BGRA with B = G = R: back to gray + alpha
            return np.ascontiguousarray(arr[:, :, [0, 3]])
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return arr


def pil_to_array(img: Image.Image) -> np.ndarray:
    """A PIL image (any mode) -> uint8/uint16 array in the L, LA, RGB or RGBA layout."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        img = img.convert("RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode in ("La", "RGBa"):  # premultiplied alpha -> straight alpha
        img = img.convert("LA" if mode == "La" else "RGBA")
    elif mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)
    elif mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode == "F" and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 65535.0  # float images in [0, 1]
        return np.clip(np.nan_to_num(arr), 0, 65535).round().astype(np.uint16)
    if img.mode not in LAYOUTS.values():
        img = img.convert("RGBA" if "A" in img.mode else "RGB")
    return np.asarray(img).copy()


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Read an image file (first frame of animations), EXIF orientation applied.

    Raises :class:`ImageError` ``"<path>: <reason>"`` for missing, empty, truncated, corrupt or
    non-image files.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{p}: is a directory, not an image") from None
    except PermissionError:
        raise ImageError(f"{p}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImageError(f"{p}: empty file")
    try:
        with warnings.catch_warnings():
            # large photos are what an upscaler is for: only Pillow's hard limit (DecompressionBombError) applies
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or ""
            orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            if _is_16bit(img, data[:32]):
                array = _orient(_decode_16bit(data, p), orientation)
                return LoadedImage(array, p, fmt)
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img) if orientation != 1 else img
            return LoadedImage(pil_to_array(img), p, fmt)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{p}: not an image, or an unsupported format") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{p}: image too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{p}: truncated or corrupt image ({exc})") from None


# --------------------------------------------------------------------------- writing
def output_format(path: str | os.PathLike) -> str:
    """Pillow format name for an output path's extension; :class:`ImageError` for unsupported ones."""
    ext = Path(path).suffix.lower()
    if ext not in WRITE_FORMATS:
        raise ImageError(f"{path}: cannot write {ext or 'files without an extension'} (use {', '.join(sorted(WRITE_FORMATS))})")
    return WRITE_FORMATS[ext]


def _flatten_alpha(arr: np.ndarray) -> np.ndarray:
    """Composite an image with alpha onto white (for formats without alpha)."""
    top = float(np.iinfo(arr.dtype).max)
    color = arr[..., :-1].astype(np.float32)
    alpha = arr[..., -1:].astype(np.float32) / top
    flat = color * alpha + top * (1.0 - alpha)
    flat = np.round(flat).astype(arr.dtype)
    return flat[..., 0] if flat.shape[2] == 1 else flat


def _to_8bit(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype == np.uint8 else np.round(arr.astype(np.float32) / 257.0).astype(np.uint8)


def _gray_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    return np.concatenate([np.repeat(arr[:, :, :1], 3, axis=2), arr[:, :, 1:]], axis=2)  # LA -> RGBA


def _normalise(array: np.ndarray) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ImageError(f"cannot write an array of shape {arr.shape} as an image")
    if arr.dtype not in (np.uint8, np.uint16):
        if not np.issubdtype(arr.dtype, np.floating):
            raise ImageError(f"cannot write an image of dtype {arr.dtype} (use uint8, uint16 or float in [0, 1])")
        arr = np.round(np.clip(np.nan_to_num(arr), 0, 1) * 65535.0).astype(np.uint16)
    return arr


def encode_image(array: np.ndarray, fmt: str, *, quality: int = 95) -> tuple[bytes, list[str]]:
    """Encode an array in format ``fmt`` (Pillow name); returns the bytes and notes on what was changed."""
    arr = _normalise(array)
    notes: list[str] = []
    layout = layout_of(arr)
    if fmt in ("JPEG", "BMP") and "A" in layout:
        # BMP can carry alpha in theory, but most readers (Pillow included) ignore it
        arr, layout = _flatten_alpha(arr), layout.rstrip("A")
        notes.append(f"alpha flattened onto white ({fmt} has no usable alpha)")
    if fmt in ("JPEG", "WEBP", "BMP") and arr.dtype == np.uint16:
        arr = _to_8bit(arr)
        notes.append(f"reduced to 8 bits ({fmt} has no 16-bit mode)")
    if fmt == "WEBP" and layout in ("L", "LA"):
        arr = _gray_to_rgb(arr)
        layout = layout_of(arr)
        notes.append(f"gray stored as {layout} (WEBP has no gray mode)")
    if arr.dtype == np.uint16 and layout != "L":
        # Pillow cannot write 16-bit colour; OpenCV writes 16-bit PNG/TIFF with 3 or 4 channels
        if layout == "LA":
            arr = _gray_to_rgb(arr)
            notes.append("16-bit gray + alpha stored as 16-bit RGBA")
        code = cv2.COLOR_RGB2BGR if arr.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        ok, buf = cv2.imencode(".png" if fmt == "PNG" else ".tiff", cv2.cvtColor(arr, code))
        if not ok:
            raise ImageError(f"OpenCV could not encode a 16-bit {fmt}")
        return buf.tobytes(), notes
    img = Image.fromarray(np.ascontiguousarray(arr))  # uint16 (H, W) -> mode I;16
    options: dict = {}
    if fmt == "JPEG":
        options = {"quality": quality, "subsampling": 0}
    elif fmt == "WEBP":
        options = {"quality": quality, "method": 4}
    elif fmt == "TIFF":
        options = {"compression": "tiff_deflate"}
    elif fmt == "PNG":
        options = {"compress_level": 6}
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue(), notes


def write_image(path: str | os.PathLike, array: np.ndarray, *, quality: int = 95) -> list[str]:
    """Write ``array`` to ``path`` atomically (temp file + rename) in the format its extension names.

    Keeps gray/alpha/16-bit where the format can hold them; returns notes on anything that had to
    change (empty when nothing was lost).
    """
    p = Path(path)
    fmt = output_format(p)
    if fmt == "PNG":
        # PNG holds every layout and depth: encoded strip by strip straight into the file, so a
        # huge image costs no second copy (Pillow would need 4 bytes/pixel plus the encoded bytes)
        arr, notes = _normalise(array), []

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                write_png(f, arr)
    else:
        data, notes = encode_image(array, fmt, quality=quality)

        def write(tmp: str) -> None:
            Path(tmp).write_bytes(data)
    try:
        _atomic_write(p, write)
    except OSError as exc:
        raise ImageError(f"{p}: cannot write ({exc.strerror or exc})") from None
    return notes
