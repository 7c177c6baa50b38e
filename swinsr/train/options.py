"""Reading and validating BasicSR-format YAML option files.

:func:`parse_options` reads a file, applies ``--force_yml`` overrides and ``--debug`` settings,
checks every section against the tables below and the ``type:`` registries, fills in
defaults and derives the experiment paths. Everything that would otherwise fail mid-training
(missing data folders, wrong types, unknown ``type:`` names, bad network arguments) raises
:class:`~swinsr.errors.OptionError` naming the key and the allowed values. Unknown keys warn.
"""

from __future__ import annotations

import copy
import inspect
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from ..archs import ARCH_REGISTRY
from ..errors import OptionError
from .schema import Field, check_path, check_section, checking_paths, coerce

TOP_FIELDS = {
    "name": Field((str,), help="experiment name; outputs go to experiments/<name>"),
    "model_type": Field((str,), "SRModel"),
    "scale": Field((int,), 1),
    "num_gpu": Field((int, str), "auto"),
    "manual_seed": Field((int,), 0),
    "datasets": Field((dict,)),
    "network_g": Field((dict,)),
    "path": Field((dict,), {}),
    "train": Field((dict,), None, nullable=True),
    "val": Field((dict,), None, nullable=True),
    "logger": Field((dict,), {}),
    "dist_params": Field((dict,), {}),
    "find_unused_parameters": Field((bool,), False),
    "num_threads": Field((int,), None, nullable=True, help="CPU threads for torch (default: torch's choice)"),
    "tile": Field((dict,), None, nullable=True, help="test/validate tile by tile (HAT's tile_size / tile_pad)"),
}
# keys BasicSR itself fills in or that only matter to BasicSR: accepted without a warning
TOP_IGNORED = ("is_train", "dist", "rank", "world_size", "auto_resume", "root_path", "task", "model_name", "use_static_graph")

PATH_FIELDS = {
    "pretrain_network_g": Field((str,), None, path="file"),
    "param_key_g": Field((str,), "params"),
    "strict_load_g": Field((bool,), True),
    "pretrain_network_d": Field((str,), None, path="file", help="discriminator weights (GAN models)"),
    "param_key_d": Field((str,), "params"),
    "strict_load_d": Field((bool,), True),
    "resume_state": Field((str,), None, path="file"),
    "experiments_root": Field((str,), None),
}
PATH_IGNORED = ("root", "visualization", "models", "training_states", "log", "results_root", "ignore_resume_networks")

TRAIN_FIELDS = {
    "ema_decay": Field((float,), 0.0),
    "optim_g": Field((dict,)),
    "scheduler": Field((dict,), None, nullable=True),
    "total_iter": Field((int,)),
    "warmup_iter": Field((int,), -1),
    "use_amp": Field((bool,), False, help="bf16 autocast on CUDA"),
    "channels_last": Field((bool,), False),
    "compile": Field((bool,), False, help="torch.compile the network"),
    "grad_clip_norm": Field((float,), None, nullable=True, help="clip the gradient norm to this value"),
}

VAL_FIELDS = {
    "val_freq": Field((int,)),
    "save_img": Field((bool,), False),
    "metrics": Field((dict,), {}),
    "self_ensemble": Field((bool,), False),
    "pbar": Field((bool,), False),
    "suffix": Field((str,), None),
}

# memory knob of the DAT validation loop (chopped forward): swinsr validates whole images (the
# networks pad themselves) and `swinsr upscale --tile` is the tiled path, so these are accepted quietly
VAL_IGNORED = ("use_chop",)

METRIC_FIELDS = {
    "type": Field((str,)),
    "crop_border": Field((int,), 0),
    "test_y_channel": Field((bool,), False),
    "better": Field((str,), "higher", choices=("higher", "lower")),
    "topk": Field((int,), 1),
}

LOGGER_FIELDS = {
    "print_freq": Field((int,), 100),
    "save_checkpoint_freq": Field((int,), 5000),
    # swinsr: keep only the newest N saves (weights + state; the *_latest files stay); null keeps all, as BasicSR
    "keep_checkpoints": Field((int,), None, nullable=True),
    "use_tb_logger": Field((bool,), False),
    "wandb": Field((dict,), None, nullable=True),
}

DIST_FIELDS = {"backend": Field((str,), "nccl"), "port": Field((int,), 29500)}

# HAT's `tile:` section (options/test/HAT_tile_example.yml): validation and the test script run the
# network through swinsr.Upscaler with these tiles instead of on whole images (memory, not quality)
TILE_FIELDS = {
    "tile_size": Field((int,), help="tile side in LQ pixels"),
    "tile_pad": Field((int,), 32, help="context pixels added on every tile side"),
}


def check_tile(tile: Mapping[str, Any], warn: Callable[[str], None]) -> dict[str, Any]:
    """Validate the top-level ``tile`` section: ``tile_size`` > 0, ``tile_pad`` >= 0."""
    tile = check_section(tile, TILE_FIELDS, "tile", warn=warn)
    if tile["tile_size"] < 1:
        raise OptionError(f"tile.tile_size: {tile['tile_size']} must be a positive number of LQ pixels")
    if tile["tile_pad"] < 0:
        raise OptionError(f"tile.tile_pad: {tile['tile_pad']} must be >= 0 pixels of context")
    return tile


class _Loader(yaml.SafeLoader):
    """Safe YAML loader (``!!float`` works; no Python objects)."""


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Load an option file; YAML errors become :class:`OptionError` with the file and line."""
    p = Path(path)
    if not p.is_file():
        raise OptionError(f"{p}: option file not found")
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise OptionError(f"{p}:{where} not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise OptionError(f"{p}: expected a mapping of options at the top level")
    return data


def apply_force_yml(opt: dict[str, Any], items: Sequence[str]) -> None:
    """Apply ``key:sub:key=value`` overrides (BasicSR's ``--force_yml``; ``.`` also separates keys)."""
    for item in items:
        if "=" not in item:
            raise OptionError(f"--force_yml: expected key=value, got {item!r}")
        key, raw = item.split("=", 1)
        parts = [k for k in key.replace(".", ":").split(":") if k]
        if not parts:
            raise OptionError(f"--force_yml: empty key in {item!r}")
        node = opt
        for k in parts[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise OptionError(f"--force_yml {item}: {k} is not a section")
            node = nxt
        try:
            node[parts[-1]] = yaml.load(raw, Loader=_Loader)  # noqa: S506
        except yaml.YAMLError:
            node[parts[-1]] = raw


def dataset_phase(key: str) -> str:
    """``train`` / ``val`` / ``test`` from a ``datasets`` key (``val_1``, ``test_Set5`` ...)."""
    if key == "train":
        return "train"
    if key.startswith("val"):
        return "val"
    if key.startswith("test"):
        return "test"
    raise OptionError(f"datasets.{key}: dataset keys must be 'train', 'val*' or 'test*'")


def check_network(net: Mapping[str, Any], where: str = "network_g", warn: Callable[[str], None] = lambda m: None) -> None:
    """Check ``type`` against the architecture registry and the arguments against its constructor."""
    name = net.get("type")
    if not isinstance(name, str):
        raise OptionError(f"{where}.type: missing; allowed: {', '.join(ARCH_REGISTRY.keys())}")
    try:
        cls = ARCH_REGISTRY.get(name)
    except KeyError as exc:
        raise OptionError(f"{where}.type: {exc.args[0]}") from None
    params = inspect.signature(cls.__init__).parameters
    named = {k for k, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and k != "self"}
    for key in net:
        if key != "type" and key not in named:
            warn(f"{where}.{key}: not an argument of {name}, ignored")


def check_metrics(val: dict[str, Any], allowed: Sequence[str], warn: Callable[[str], None]) -> None:
    metrics = val.get("metrics") or {}
    for mname, mopt in list(metrics.items()):
        where = f"val.metrics.{mname}"
        mopt = check_section(mopt, METRIC_FIELDS, where, warn=warn)
        if mopt["type"] not in allowed:
            raise OptionError(f"{where}.type: unknown metric {mopt['type']!r}; allowed: {', '.join(allowed)}")
        metrics[mname] = mopt
    val["metrics"] = metrics


def parse_options(
    source: str | os.PathLike | Mapping[str, Any],
    *,
    force_yml: Sequence[str] = (),
    debug: bool = False,
    is_train: bool = True,
    check_paths: bool = True,
    root: str | os.PathLike | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Read and validate an option file (or dict); returns ``(options, warnings)``.

    Args:
        source: YAML file or an already loaded mapping.
        force_yml: ``key:sub=value`` overrides applied before validation.
        debug: BasicSR's debug mode: name prefixed ``debug_``, print every iteration,
            validate and save every 8.
        is_train: validate the ``train`` section (test option files have none).
        check_paths: require data folders / files to exist (off to lint shipped files).
        root: where ``experiments/`` goes (default: the working directory).
    """
    from .models import MODEL_REGISTRY  # late: models import the option tables

    raw = copy.deepcopy(dict(source)) if isinstance(source, Mapping) else read_yaml(source)
    apply_force_yml(raw, force_yml)
    warnings: list[str] = []
    warn = warnings.append

    try:
        model_cls = MODEL_REGISTRY.get(coerce(raw.get("model_type", TOP_FIELDS["model_type"].default), TOP_FIELDS["model_type"], "model_type"))
    except KeyError as exc:
        raise OptionError(f"model_type: {exc.args[0]}") from None
    # a model type may add top-level keys of its own (Real-ESRGAN's degradation settings)
    opt = check_section(raw, {**TOP_FIELDS, **model_cls.TOP_FIELDS}, "", warn=warn, check_paths=check_paths, extra_ok=TOP_IGNORED)
    if debug and not opt["name"].startswith("debug"):
        opt["name"] = "debug_" + opt["name"]
    if isinstance(opt["num_gpu"], str) and opt["num_gpu"] != "auto":
        raise OptionError(f"num_gpu: expected an integer or 'auto', got {opt['num_gpu']!r}")

    opt["path"] = check_section(opt["path"], PATH_FIELDS, "path", warn=warn, check_paths=check_paths, extra_ok=PATH_IGNORED)
    opt["logger"] = check_section(opt["logger"], LOGGER_FIELDS, "logger", warn=warn)
    for key in ("print_freq", "save_checkpoint_freq", "keep_checkpoints"):
        if opt["logger"][key] is not None and opt["logger"][key] < 1:
            raise OptionError(f"logger.{key}: must be at least 1, got {opt['logger'][key]}")
    opt["dist_params"] = check_section(opt["dist_params"], DIST_FIELDS, "dist_params", warn=warn)
    if opt["tile"] is not None:
        opt["tile"] = check_tile(opt["tile"], warn)
    check_network(opt["network_g"], warn=warn)
    opt["network_g"] = dict(opt["network_g"])

    from ..data import DATASET_REGISTRY  # late: keeps `import swinsr.train.options` light

    datasets = {}
    for key, dopt in opt["datasets"].items():
        where = f"datasets.{key}"
        phase = dataset_phase(str(key))
        if not isinstance(dopt, Mapping):
            raise OptionError(f"{where}: expected a mapping of options")
        dtype = dopt.get("type")
        try:
            cls = DATASET_REGISTRY.get(dtype)
        except KeyError as exc:
            raise OptionError(f"{where}.type: {exc.args[0]}") from None
        if is_train and phase != "test" and not getattr(cls, "HAS_GT", True):
            # losses and validation metrics compare against GT; an LQ-only set belongs in a test option file
            need = "training" if phase == "train" else "validation metrics"
            raise OptionError(
                f"{where}.type: {dtype} has no GT images, which {need} need; "
                "use PairedImageDataset (dataroot_gt + dataroot_lq) or move it to a test option file"
            )
        dopt = {**dopt, "phase": phase, "scale": opt["scale"]}
        dopt = check_section(dopt, cls.option_fields(), where, warn=warn, check_paths=check_paths)
        if check_paths:
            for k in ("dataroot_gt", "dataroot_lq"):
                roots = dopt.get(k)
                for r in roots if isinstance(roots, list) else ([roots] if roots else []):
                    check_path(r, "dir", f"{where}.{k}")
        dopt["name"] = dopt.get("name") or str(key)
        datasets[key] = dopt
    opt["datasets"] = datasets

    if is_train:
        if "train" not in datasets:
            raise OptionError("datasets.train: missing; training needs a training dataset")
        if not opt["train"]:
            raise OptionError("train: missing section (optim_g, total_iter, ...)")
        train_fields = {**TRAIN_FIELDS, **model_cls.TRAIN_FIELDS}
        opt["train"] = check_section(opt["train"], train_fields, "train", warn=warn)
        with checking_paths(check_paths):  # e.g. perceptual_opt.vgg_weights
            model_cls.check_train_options(opt["train"], warn)
    if opt["val"] is not None:
        val_fields = dict(VAL_FIELDS)
        if not is_train or not any(k != "train" for k in datasets):
            val_fields["val_freq"] = Field((int,), None, nullable=True)
        opt["val"] = check_section(opt["val"], val_fields, "val", warn=warn, extra_ok=VAL_IGNORED)
        check_metrics(opt["val"], model_cls.METRICS, warn)
    model_cls.check_options(opt, warn)

    if debug:
        opt["logger"].update(print_freq=1, save_checkpoint_freq=8)
        if opt["val"] is not None:
            opt["val"]["val_freq"] = 8

    base = Path(root) if root is not None else Path.cwd()
    exp = opt["path"].get("experiments_root") or str(base / "experiments" / opt["name"])
    opt["path"].update(
        experiments_root=exp,
        models=str(Path(exp) / "models"),
        training_states=str(Path(exp) / "training_states"),
        log=exp,
        visualization=str(Path(exp) / "visualization"),
    )
    opt["is_train"] = is_train
    return opt, warnings


def coerce_value(value: Any, types: tuple[type, ...], where: str) -> Any:
    """Public helper for models checking their own option values."""
    return coerce(value, Field(types), where)
