"""``swinsr models``: the embedded pretrained models, one table per task with the figures that fit it."""

from __future__ import annotations

import json
from typing import Any, Callable

import typer
from rich.table import Table

from .app import app, console

TASK_TITLES = {
    "sr": "classical super-resolution (bicubic LR; PSNR-Y / SSIM-Y, crop = scale)",
    "real": "real-world super-resolution (Real-ESRGAN-degraded LR; PSNR-Y / SSIM-Y)",
    "denoise": "blind colour denoising (SwinIR protocol; RGB PSNR / SSIM)",
    "jpeg": "blind colour JPEG artifact removal (SwinIR protocol; RGB PSNR / SSIM / PSNR-B)",
}


def _num(value: Any, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def metric_cells(task: str, metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """``(column, cell)`` pairs of one model's measured figures, in the layout its ``task`` records.

    sr / real: per dataset ``psnr_y`` / ``ssim_y``, followed by the PSNR-Y of bicubic (and for
    real of the classical model) on the same LR; denoise / jpeg: per dataset and level
    (``sigma15``, ``q10``) ``psnr`` / ``ssim`` (and ``psnrb`` for jpeg), followed by the PSNR of
    the identity baseline (the degraded input).
    """
    cells: list[tuple[str, str]] = []
    for dataset, entry in metrics.items():
        if not isinstance(entry, dict):
            continue
        if task in ("sr", "real"):
            cell = f"{_num(entry.get('psnr_y'), 2)} / {_num(entry.get('ssim_y'), 4)}"
            others = [f"bicubic {_num(entry.get('bicubic_psnr_y'), 2)}"] if "bicubic_psnr_y" in entry else []
            if "classical_psnr_y" in entry:
                others.append(f"{entry.get('classical', 'classical')} {_num(entry['classical_psnr_y'], 2)}")
            cells.append((f"{dataset} PSNR-Y / SSIM-Y", cell + (f" (vs {', '.join(others)})" if others else "")))
            continue
        for level, row in entry.items():
            if not isinstance(row, dict):
                continue
            cell = f"{_num(row.get('psnr'), 2)} / {_num(row.get('ssim'), 4)}"
            if "psnrb" in row:
                cell += f" / {_num(row['psnrb'], 2)}"
            if "identity_psnr" in row:
                cell += f" (input {_num(row['identity_psnr'], 2)})"
            cells.append((f"{dataset} {level}", cell))
    return cells


@app.command("models")
def models_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.")) -> None:
    """List the embedded models by task, with scale, default, parameters, training and their measured figures.

    `swinsr upscale --scale S` runs the real-world default of S when there is one, else the classical one;
    `swinsr benchmark` the classical one; `swinsr restore --task denoise|jpeg` the task's default.
    """
    from ..zoo import TASKS, list_models

    models = list_models()
    if as_json:
        console.print_json(json.dumps([m.__dict__ for m in models]))
        return
    if not models:
        console.print("no embedded models are registered")
        return
    order: Callable[[str], int] = lambda t: TASKS.index(t) if t in TASKS else len(TASKS)  # noqa: E731
    for task in sorted({m.task for m in models}, key=order):
        group = [m for m in models if m.task == task]
        per_model = [metric_cells(task, m.metrics) for m in group]
        columns = list(dict.fromkeys(col for cells in per_model for col, _ in cells))
        table = Table(title=f"{task}: {TASK_TITLES.get(task, task)}", title_justify="left")
        table.add_column("name", no_wrap=True)
        for col in ("scale", "default", "parameters", *columns, "training"):
            table.add_column(col)
        for m, cells in zip(group, per_model):
            values = dict(cells)
            table.add_row(
                m.name, f"x{m.scale}", "yes" if m.default else "", f"{m.parameters:,}" if m.parameters else "-",
                *(values.get(col, "-") for col in columns), m.training,
            )
        console.print(table)
