"""Batch plumbing shared by ``swinsr upscale`` and ``swinsr restore``.

* :func:`collect_inputs` expands files, folders and globs into image files;
* :func:`plan_jobs` decides every output path (``-o`` semantics, ``--ext``, ``--suffix``) and
  refuses outputs that would overwrite an input or collide with another output;
* :func:`run_jobs` processes the jobs one by one with a progress bar, reports each failure
  and carries on, and returns the counts for the summary line.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import OptionError, SwinSRError
from ..imageio import READ_EXTENSIONS, WRITE_FORMATS

_GLOB_CHARS = set("*?[")
#: Input formats that are written in another format by default (GIF output would lose colours).
_DEFAULT_OUTPUT_EXT = {".gif": ".png"}


@dataclass
class InputFile:
    """An input image, the folder argument it was found under (if any), and whether it was named explicitly."""

    path: Path
    base: Path | None = None
    explicit: bool = False


@dataclass
class Job:
    """One input, its planned output, and why it will not be processed (``error``/``skip``)."""

    source: Path
    output: Path | None = None
    error: str | None = None
    skip: str | None = None


@dataclass
class BatchResult:
    """Counts and time of a batch, for the summary line and the exit status."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when any input failed."""
        return 1 if self.failed else 0


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in READ_EXTENSIONS and not path.name.startswith(".")


def collect_inputs(args: list[str], *, recursive: bool = False) -> tuple[list[InputFile], list[Job], bool]:
    """Expand INPUT arguments.

    Returns the image files found, failed jobs for arguments that match nothing, and whether
    the arguments name several images by nature (a folder or a glob): then ``-o`` is a folder.
    Files named explicitly are taken whatever their extension (reading reports non-images);
    folders and globs contribute only image extensions, hidden files excluded.
    """
    found: list[InputFile] = []
    missing: list[Job] = []
    multi = len(args) > 1
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            multi = True
            pattern = "**/*" if recursive else "*"
            found += [InputFile(f, p) for f in sorted(p.glob(pattern)) if f.is_file() and _is_image_name(f)]
        elif p.exists():
            found.append(InputFile(p, explicit=True))
        elif _GLOB_CHARS & set(arg):
            multi = True
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=recursive))
            files = [InputFile(m) for m in matches if m.is_file() and _is_image_name(m)]
            if not files:
                missing.append(Job(p, error=f"{arg}: no image files match this pattern"))
            found += files
        else:
            missing.append(Job(p, error=f"{arg}: no such file or folder"))
    return found, missing, multi


def drop_previous_outputs(inputs: list[InputFile], suffix: str) -> list[InputFile]:
    """Leave out images found in folders/globs that are earlier outputs of another found image
    (``a_x4.png`` next to ``a.png``), so running a command twice on a folder does not upscale its results."""
    if not suffix:
        return inputs
    stems = {(i.path.parent, i.path.stem) for i in inputs}
    return [
        i for i in inputs
        if i.explicit or not (i.path.stem.endswith(suffix) and (i.path.parent, i.path.stem[: -len(suffix)]) in stems)
    ]


def output_extension(source: Path, ext: str | None) -> str:
    """The output extension: ``--ext`` when given, else the input's (GIF and unwritable formats -> .png)."""
    if ext:
        forced = "." + ext.lower().lstrip(".")
        if forced not in WRITE_FORMATS:
            raise OptionError(f"--ext {ext}: choose one of png, jpg, webp, tif, bmp")
        return forced
    suffix = source.suffix.lower()
    if suffix in _DEFAULT_OUTPUT_EXT:
        return _DEFAULT_OUTPUT_EXT[suffix]
    return source.suffix if suffix in WRITE_FORMATS else ".png"  # keep the user's spelling (.JPG)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def plan_jobs(
    inputs: list[InputFile],
    *,
    output: str | None,
    multi: bool,
    ext: str | None,
    suffix: str | None,
    default_suffix: str,
    overwrite: bool,
) -> list[Job]:
    """Decide the output path of every input.

    ``output`` is a folder when ``multi`` is set or it is an existing folder (or ends with a
    path separator), else a file path. Without ``output`` results go next to their inputs with
    ``default_suffix`` appended to the stem (``suffix`` overrides; inside an output folder the
    default is no suffix). Outputs that would overwrite an input or another output become
    errors; existing outputs are skipped unless ``overwrite``.
    """
    out_dir: Path | None = None
    out_file: Path | None = None
    if output is not None:
        as_dir = multi or Path(output).is_dir() or output.endswith(("/", os.sep))
        if as_dir:
            out_dir = Path(output)
            if out_dir.exists() and not out_dir.is_dir():
                raise OptionError(f"-o {output}: several outputs need a folder, but this is a file")
        else:
            out_file = Path(output)
            if out_file.suffix.lower() not in WRITE_FORMATS:
                raise OptionError(f"-o {output}: unknown image extension (use .png, .jpg, .webp, .tif or .bmp)")
    stem_suffix = suffix if suffix is not None else ("" if output is not None else default_suffix)
    sources = [i.path for i in inputs]
    claimed: dict[Path, Path] = {}
    jobs: list[Job] = []
    for item in inputs:
        src = item.path
        if out_file is not None:
            dest = out_file
        else:
            name = src.stem + stem_suffix + output_extension(src, ext)
            if out_dir is None:
                dest = src.parent / name
            else:
                rel = src.parent.relative_to(item.base) if item.base is not None else Path()
                dest = out_dir / rel / name
        job = Job(src, dest)
        key = dest.resolve()
        if any(_same_file(dest, s) for s in sources):
            job.error = f"{src}: output {dest} would overwrite an input file; use -o or --suffix"
        elif key in claimed:
            job.error = f"{src}: output {dest} is already the output of {claimed[key]}; use -o folders or --suffix"
        elif dest.exists() and not overwrite:
            job.skip = f"{dest} exists (use --overwrite to replace it)"
        claimed.setdefault(key, src)
        jobs.append(job)
    return jobs


#: ``process(job, tile_progress) -> notes`` does one image; ``tile_progress(done, total)`` may be called.
Processor = Callable[[Job, Callable[[int, int], None]], list[str]]


def run_jobs(
    jobs: list[Job], process: Processor, *, console: Console, quiet: bool = False, debug: bool = False
) -> BatchResult:
    """Run ``process`` on every job with a progress bar; failures are reported and the batch goes on."""
    result = BatchResult()
    start = time.perf_counter()
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=quiet or not console.is_terminal, transient=True,
    )
    with progress:
        images = progress.add_task("images", total=len(jobs))
        for job in jobs:
            if job.error:
                result.failed += 1
                result.failures.append(job.error)
                console.print(f"[red]error:[/] {job.error}", highlight=False, soft_wrap=True)
            elif job.skip:
                result.skipped += 1
                if not quiet:
                    console.print(f"skipped: {job.skip}", highlight=False, soft_wrap=True)
            else:
                tiles: list[int] = []

                def on_tiles(done: int, total: int) -> None:
                    if total <= 1:
                        return
                    if not tiles:
                        tiles.append(progress.add_task(f"  tiles of {job.source.name}", total=total))
                    progress.update(tiles[0], completed=done)

                try:
                    notes = process(job, on_tiles)
                    result.done += 1
                    if not quiet:
                        for note in notes:
                            console.print(f"note: {job.output}: {note}", highlight=False, soft_wrap=True)
                except SwinSRError as exc:
                    _fail(result, str(exc), console)
                except Exception as exc:  # one bad image must not stop the batch
                    if debug:
                        raise
                    _fail(result, f"{job.source}: {type(exc).__name__}: {exc}", console)
                finally:
                    if tiles:
                        progress.remove_task(tiles[0])
            progress.advance(images)
    result.seconds = time.perf_counter() - start
    return result


def _fail(result: BatchResult, message: str, console: Console) -> None:
    result.failed += 1
    result.failures.append(message)
    console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)


def summary_line(result: BatchResult, verb: str) -> str:
    """``"3 images upscaled, 1 skipped, 1 failed in 4.2 s"``."""
    parts = [f"{result.done} image{'s' if result.done != 1 else ''} {verb}"]
    if result.skipped:
        parts.append(f"{result.skipped} skipped")
    parts.append(f"{result.failed} failed")
    return ", ".join(parts) + f" in {result.seconds:.1f} s"
