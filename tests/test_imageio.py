"""swinsr.imageio: images as they come (modes, bit depths, formats, EXIF, broken files) and safe writes."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from swinsr.errors import ImageError
from swinsr.imageio import encode_image, pil_to_array, read_image, write_image

RNG = np.random.default_rng(0)


def rand(shape, dtype=np.uint8):
    top = np.iinfo(dtype).max
    return RNG.integers(0, top + 1, size=shape, dtype=np.int64).astype(dtype)


LAYOUT_SHAPES = {"L": (6, 9), "LA": (6, 9, 2), "RGB": (6, 9, 3), "RGBA": (6, 9, 4)}


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("layout", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_lossless_formats_keep_layout_and_bit_depth(tmp_path, ext, layout, dtype):
    arr = rand(LAYOUT_SHAPES[layout], dtype)
    notes = write_image(tmp_path / f"x{ext}", arr)
    back = read_image(tmp_path / f"x{ext}")
    if layout == "LA" and dtype == np.uint16 and ext == ".tif":  # no TIFF writer for 16-bit gray + alpha: RGBA
        assert back.layout == "RGBA" and back.bit_depth == 16 and notes
        assert np.array_equal(back.array[..., 0], arr[..., 0]) and np.array_equal(back.array[..., 3], arr[..., 1])
        return
    assert notes == []
    assert back.layout == layout and back.array.dtype == dtype
    assert np.array_equal(back.array, arr)


@pytest.mark.parametrize(
    "ext,layout,dtype,expect_layout,note",
    [
        (".jpg", "RGBA", np.uint8, "RGB", "alpha"),
        (".jpg", "L", np.uint16, "L", "8 bits"),
        (".webp", "L", np.uint8, "RGB", "gray"),
        (".webp", "RGBA", np.uint8, "RGBA", None),
        (".bmp", "RGBA", np.uint8, "RGB", "alpha"),
        (".bmp", "L", np.uint8, "L", None),
    ],
)
def test_limited_formats_say_what_they_changed(tmp_path, ext, layout, dtype, expect_layout, note):
    notes = write_image(tmp_path / f"x{ext}", rand(LAYOUT_SHAPES[layout], dtype))
    back = read_image(tmp_path / f"x{ext}")
    assert back.layout == expect_layout and back.bit_depth == 8
    assert (note is None and notes == []) or any(note in n for n in notes)


def test_jpeg_alpha_is_flattened_onto_white(tmp_path):
    arr = np.zeros((8, 8, 4), np.uint8)  # fully transparent black
    write_image(tmp_path / "t.jpg", arr)
    assert read_image(tmp_path / "t.jpg").array.min() >= 250


def test_16bit_colour_png_is_read_with_all_bits(tmp_path):
    arr = rand((5, 7, 3), np.uint16)
    cv2.imencode(".png", arr[..., ::-1])[1].tofile(str(tmp_path / "c16.png"))
    img = read_image(tmp_path / "c16.png")
    assert img.bit_depth == 16 and np.array_equal(img.array, arr)


def test_palette_with_transparency_becomes_rgba_and_without_rgb(tmp_path):
    p = Image.new("P", (4, 3))
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.putpixel((1, 1), 1)
    p.save(tmp_path / "plain.png")
    p.save(tmp_path / "transp.png", transparency=0)
    plain, transp = read_image(tmp_path / "plain.png"), read_image(tmp_path / "transp.png")
    assert plain.layout == "RGB" and tuple(plain.array[1, 1]) == (255, 0, 0)
    assert transp.layout == "RGBA" and transp.array[0, 0, 3] == 0 and transp.array[1, 1, 3] == 255


def test_cmyk_becomes_rgb(tmp_path):
    Image.new("CMYK", (5, 4), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=100)  # red
    img = read_image(tmp_path / "cmyk.jpg")
    assert img.layout == "RGB"
    r, g, b = img.array[2, 2].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((4, 10, 3), np.uint8)
    arr[0, 0] = 255  # marker in the stored top-left corner
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # stored image must be rotated 90 degrees clockwise for display
    img.save(tmp_path / "rot.png", exif=exif)
    out = read_image(tmp_path / "rot.png").array
    assert out.shape == (10, 4, 3)
    assert out[0, -1].min() == 255  # top-left moved to top-right


def test_exif_orientation_is_applied_to_16bit_images_too(tmp_path):
    arr = np.zeros((4, 10), np.uint16)
    arr[0, 0] = 60000
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 8  # rotate 90 degrees counter-clockwise for display
    img.save(tmp_path / "rot16.png", exif=exif)
    out = read_image(tmp_path / "rot16.png").array
    assert out.shape == (10, 4) and out.dtype == np.uint16 and out[-1, 0] == 60000


def test_gif_gives_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 5), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    img = read_image(tmp_path / "anim.gif")
    assert img.format == "GIF" and img.layout == "RGB" and tuple(img.array[0, 0]) == (255, 0, 0)


def test_gray_alpha_and_1x1_and_unicode_names(tmp_path):
    la = rand((3, 4, 2))
    Image.fromarray(la, "LA").save(tmp_path / "gräy ✓.png")
    assert np.array_equal(read_image(tmp_path / "gräy ✓.png").array, la)
    write_image(tmp_path / "one.png", np.array([[7]], np.uint8))
    assert read_image(tmp_path / "one.png").array.shape == (1, 1)


def test_pil_modes_map_to_the_four_layouts():
    assert pil_to_array(Image.new("1", (2, 2))).shape == (2, 2)
    assert pil_to_array(Image.new("I;16", (2, 2))).dtype == np.uint16
    assert pil_to_array(Image.new("RGBa", (2, 2))).shape == (2, 2, 4)
    assert pil_to_array(Image.new("YCbCr", (2, 2))).shape == (2, 2, 3)


def _broken_files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.png"
    write_image(good, rand((64, 64, 3)))
    data = good.read_bytes()
    files = {
        "missing": tmp_path / "missing.png",
        "empty": tmp_path / "empty.png",
        "truncated": tmp_path / "truncated.png",
        "text": tmp_path / "notes.png",
        "directory": tmp_path / "folder.png",
    }
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["text"].write_text("this is not an image\n")
    files["directory"].mkdir()
    return files


@pytest.mark.parametrize(
    "kind,reason",
    [("missing", "no such file"), ("empty", "empty file"), ("truncated", "truncated"), ("text", "not an image"),
     ("directory", "directory")],
)
def test_unreadable_inputs_raise_image_error_naming_file_and_reason(tmp_path, kind, reason):
    path = _broken_files(tmp_path)[kind]
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(path) in str(info.value) and reason in str(info.value)
    assert info.value.exit_code == 1


def test_truncated_jpeg_is_an_image_error(tmp_path):
    Image.fromarray(rand((64, 64, 3))).save(tmp_path / "a.jpg")
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated"):
        read_image(tmp_path / "cut.jpg")


@pytest.mark.parametrize("ext", [".png", ".jpg"])  # PNG is encoded straight into the temp file, others from bytes
def test_writes_are_atomic_and_leave_no_temp_files(tmp_path, monkeypatch, ext):
    import swinsr.imageio

    target = tmp_path / f"out{ext}"
    write_image(target, rand((4, 4, 3)))
    before = target.read_bytes()

    def failing_bytes(self, data):
        Path(self).write_text("partial")  # a crash half-way through writing the temp file
        raise OSError(28, "No space left on device")

    def failing_png(stream, array, **kw):
        stream.write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", failing_bytes)
    monkeypatch.setattr(swinsr.imageio, "write_png", failing_png)
    with pytest.raises(ImageError, match="No space left"):
        write_image(target, rand((4, 4, 3)))
    monkeypatch.undo()
    assert target.read_bytes() == before  # the old file is intact
    assert sorted(os.listdir(tmp_path)) == [f"out{ext}"]  # no temp leftovers


def test_unknown_output_extension_is_refused(tmp_path):
    with pytest.raises(ImageError, match=r"\.xyz"):
        write_image(tmp_path / "a.xyz", rand((2, 2)))
    assert not list(tmp_path.iterdir())


def test_float_arrays_are_written_as_16_bit():
    data, _ = encode_image(np.full((2, 2, 3), 0.5, np.float32), "PNG")
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and int(back[0, 0, 0]) == 32768


def test_decompression_bombs_are_refused_but_large_photos_are_not(tmp_path, monkeypatch):
    write_image(tmp_path / "big.png", rand((20, 20)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 400 px: above the warning limit, below the hard one
    assert read_image(tmp_path / "big.png").array.shape == (20, 20)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageError, match="too large"):
        read_image(tmp_path / "big.png")
