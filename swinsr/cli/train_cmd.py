"""``swinsr train``: train or fine-tune from a BasicSR-format YAML option file."""

from __future__ import annotations

from typing import List, Optional

import typer

from .app import app


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": False},
)
def train_command(
    ctx: typer.Context,
    opt: str = typer.Option(..., "-opt", "--opt", help="Option file (BasicSR YAML format), e.g. options/train/train_SwinIR_SRx4_lightweight_shared.yml."),
    auto_resume: bool = typer.Option(False, "--auto_resume", "--auto-resume", help="Continue from the newest training state of this experiment."),
    debug: bool = typer.Option(False, "--debug", help="Debug mode: name debug_<name>, log every iteration, validate and save every 8; show tracebacks."),
    launcher: str = typer.Option("none", "--launcher", help="'none' (one process) or 'pytorch' (started by torchrun)."),
    force_yml: Optional[List[str]] = typer.Option(None, "--force_yml", "--force-yml", help="Override options, key:sub=value (values in YAML syntax); repeatable, or several after one flag."),
    local_rank: Optional[int] = typer.Option(None, "--local_rank", "--local-rank", help="Set by torch.distributed.launch; torchrun uses LOCAL_RANK."),
) -> None:
    """Train a model from an option file; outputs go to experiments/<name>/ (models, training_states, log, metrics.csv).

    Multi-GPU: torchrun --nproc_per_node=N -m swinsr.train -opt FILE --launcher pytorch
    """
    from ..errors import OptionError
    from ..train.loop import train_pipeline

    overrides = list(force_yml or [])
    for extra in ctx.args:  # `--force_yml a=1 b=2`: values after the first arrive as extra arguments
        if "=" not in extra:
            raise OptionError(f"unexpected argument {extra!r}")
        overrides.append(extra)
    train_pipeline(opt, auto_resume=auto_resume, debug=debug, launcher=launcher, force_yml=overrides, local_rank=local_rank)
