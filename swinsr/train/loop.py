"""The training loop: options -> data -> model -> iterate, log, validate, save, resume."""

from __future__ import annotations

import datetime
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist

from ..data import EnlargedSampler, build_dataloader, build_dataset
from ..errors import CheckpointError, OptionError, SwinSRError
from .dist import DistInfo, barrier, init_distributed
from .logger import MetricsCSV, close_logger, format_eta, setup_logger, tensorboard_writer
from .models import MODEL_REGISTRY, BaseModel
from .options import parse_options
from .retention import check_free_space, last_save_bytes, prune_checkpoints, remove_stale_temp_files

log = logging.getLogger("swinsr.train")


@dataclass
class TrainResult:
    """What a finished (or stopped) run reached."""

    iter: int
    experiments_root: Path
    losses: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    """Per logged iteration, the mean of each loss term since the previous log line."""
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """Last validation result per validation set."""
    resumed_from: int | None = None


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def state_iter(path: Path) -> int | None:
    try:
        return int(path.stem)
    except ValueError:
        return None


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a ``.state`` file (tensors and plain containers only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: not a readable training state ({first[:160]})") from None
    if not isinstance(state, dict) or "iter" not in state:
        raise CheckpointError(f"{path}: not a training state (no 'iter')")
    return state


def find_resume_state(states_dir: str | Path) -> Path | None:
    """The newest readable ``<iter>.state`` in ``states_dir`` (unreadable ones are skipped with a warning)."""
    d = Path(states_dir)
    if not d.is_dir():
        return None
    candidates = sorted((p for p in d.glob("*.state") if state_iter(p) is not None), key=lambda p: state_iter(p) or 0, reverse=True)
    problems = []
    for p in candidates:
        try:
            load_state(p)
            return p
        except CheckpointError as exc:
            log.warning("skipping %s", exc)
            problems.append(str(exc))
    if problems:  # states exist but none loads: starting over would archive the run's history silently
        raise CheckpointError(
            f"--auto_resume: none of the {len(problems)} training states in {d} is readable ({problems[0]}); "
            "give one with path:resume_state, or move the folder away to start the run afresh"
        )
    return None


def archive_existing(exp: Path) -> None:
    """Move an existing experiment folder aside (BasicSR's ``_archived_<time>``) instead of mixing runs."""
    if exp.exists() and any(exp.iterdir()):
        stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
        target = exp.with_name(f"{exp.name}_archived_{stamp}")
        os.replace(exp, target)
        print(f"Experiment folder {exp} exists; moved to {target}")


def select_device(opt: Mapping[str, Any], info: DistInfo) -> torch.device:
    """CUDA when available and allowed by ``num_gpu`` (0 forces CPU), else CPU."""
    num_gpu = opt.get("num_gpu", "auto")
    if num_gpu == 0 or not torch.cuda.is_available():
        if isinstance(num_gpu, int) and num_gpu > 0:
            log.warning("num_gpu: %d requested but CUDA is not available; training on the CPU", num_gpu)
        return torch.device("cpu")
    if isinstance(num_gpu, int) and num_gpu > 1 and not info.distributed:
        log.warning("num_gpu: %d; a single process uses one GPU - start with torchrun --nproc_per_node=%d -m swinsr.train ... --launcher pytorch", num_gpu, num_gpu)
    return torch.device("cuda", info.local_rank % torch.cuda.device_count())


def _reduce_mean(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    if not info.distributed or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return {k: float(v) / info.world_size for k, v in zip(values, t.cpu().tolist())}


def _options_summary(opt: Mapping[str, Any]) -> str:
    d = opt["datasets"]["train"]
    net = {k: v for k, v in opt["network_g"].items()}
    return (
        f"model {opt['model_type']}, network {net}, scale {opt['scale']}, dataset {d['type']} "
        f"batch {d['batch_size_per_gpu']} patch {d.get('gt_size')} workers {d['num_worker_per_gpu']}, "
        f"optimizer {opt['train']['optim_g']}, scheduler {opt['train'].get('scheduler')}, total_iter {opt['train']['total_iter']}"
    )


def train_pipeline(
    options: str | os.PathLike | Mapping[str, Any],
    *,
    auto_resume: bool = False,
    debug: bool = False,
    launcher: str = "none",
    force_yml: Sequence[str] = (),
    local_rank: int | None = None,
    root: str | os.PathLike | None = None,
) -> TrainResult:
    """Train from a BasicSR-format option file (or dict); see ``swinsr train --help``.

    Args:
        options: YAML option file or loaded mapping.
        auto_resume: continue from the newest ``training_states/<iter>.state`` of the experiment.
        debug: BasicSR debug mode (``debug_`` name, log every iteration, validate/save every 8).
        launcher: ``'none'`` or ``'pytorch'`` (torchrun; reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``).
        force_yml: ``key:sub=value`` option overrides.
        root: folder holding ``experiments/`` (default: working directory).
    """
    opt, warnings = parse_options(options, force_yml=force_yml, debug=debug, root=root)
    info = init_distributed(launcher, opt["dist_params"], local_rank, use_cuda=opt.get("num_gpu") != 0)
    threads = torch.get_num_threads()
    try:
        return _run(opt, warnings, info, auto_resume=auto_resume, debug=debug)
    finally:
        torch.set_num_threads(threads)  # num_threads applies to this run only, not to the caller's process
        close_logger()
        if info.distributed and dist.is_initialized():
            dist.destroy_process_group()


def _run(opt: dict[str, Any], warnings: list[str], info: DistInfo, *, auto_resume: bool, debug: bool) -> TrainResult:
    paths = opt["path"]
    exp = Path(paths["experiments_root"])
    seed = int(opt["manual_seed"])
    resume_path = paths.get("resume_state")
    if not resume_path and auto_resume:
        resume_path = find_resume_state(paths["training_states"])
    if info.is_main:
        if not resume_path:
            archive_existing(exp)
        for key in ("experiments_root", "models", "training_states"):
            Path(paths[key]).mkdir(parents=True, exist_ok=True)
    barrier(info)
    setup_logger(exp / f"train_{opt['name']}.log", info.is_main)
    for w in warnings:
        log.warning("%s", w)
    if info.is_main:
        stale = remove_stale_temp_files([paths["models"], paths["training_states"]])
        if stale:
            log.warning("removed %d unfinished file(s) an interrupted save left: %s", len(stale), ", ".join(p.name for p in stale))
    set_seed(seed + info.rank)
    if opt.get("num_threads"):
        torch.set_num_threads(int(opt["num_threads"]))
    device = select_device(opt, info)
    state = load_state(resume_path) if resume_path else None

    # ---------------------------------------------------------------- data
    dopt = opt["datasets"]["train"]
    t0 = time.time()
    train_set = build_dataset(dopt)
    sampler = EnlargedSampler(len(train_set), info.world_size, info.rank, dopt["dataset_enlarge_ratio"], dopt["use_shuffle"], seed)
    pin = dopt["pin_memory"] if dopt["pin_memory"] is not None else device.type == "cuda"
    loader = build_dataloader(train_set, dopt, sampler=sampler, seed=seed, pin_memory=pin)
    batch = int(dopt["batch_size_per_gpu"])
    per_epoch = sampler.num_samples // batch
    if per_epoch == 0:
        raise OptionError(f"datasets.train.batch_size_per_gpu: {batch} is larger than the {sampler.num_samples} samples per epoch; lower it or raise dataset_enlarge_ratio")
    total_iter = int(opt["train"]["total_iter"])
    log.info(
        "Training set %s: %d images (%s), %d iterations per epoch, %d epochs for %d iterations (%.1fs to load)",
        dopt["name"], len(train_set), "cached in memory" if getattr(getattr(train_set, "store", None), "cached", False) else "read from disk",
        per_epoch, math.ceil(total_iter / per_epoch), total_iter, time.time() - t0,
    )
    val_loaders = []
    val_opt = opt.get("val")
    if info.is_main and val_opt is not None:
        for key, vopt in opt["datasets"].items():
            if key != "train" and vopt["phase"] == "val":
                vset = build_dataset(vopt)
                val_loaders.append((vopt["name"], build_dataloader(vset, vopt)))
                log.info("Validation set %s: %d images", vopt["name"], len(vset))

    # ---------------------------------------------------------------- model
    model: BaseModel = MODEL_REGISTRY.get(opt["model_type"])(opt, device, info)
    model.check_dataset(train_set)
    n_params = sum(p.numel() for p in model.net_g.parameters())
    log.info("%s on %s: %s parameters. %s", opt["model_type"], device, f"{n_params:,}", _options_summary(opt))
    start_iter = 0
    csv_log = MetricsCSV(exp / "metrics.csv") if info.is_main else None
    if state is not None:
        try:
            model.resume_training(state, paths["models"])
        except (RuntimeError, ValueError, KeyError) as exc:  # a network or optimizer the options changed
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CheckpointError(
                f"{resume_path}: does not fit this run's options ({first[:200]}); resume with the options it was "
                "trained with, or give the run a new name to start afresh"
            ) from None
        start_iter = int(state["iter"])
        log.info("Resuming training from iter %d (%s)", start_iter, resume_path)
        if csv_log is not None:
            csv_log.truncate_after(start_iter)
    tb = tensorboard_writer(exp / "tb_logger") if info.is_main and opt["logger"]["use_tb_logger"] and not debug else None

    # ---------------------------------------------------------------- loop
    lopt = opt["logger"]
    print_freq, save_freq = lopt["print_freq"], lopt["save_checkpoint_freq"]
    val_freq = val_opt.get("val_freq") if val_opt else None
    result = TrainResult(start_iter, exp, resumed_from=start_iter if state is not None else None)
    it = start_iter
    epoch = it // per_epoch
    skip = (it % per_epoch) * batch
    sums: dict[str, float] = {}
    n_sum = 0
    t_iter_sum = t_data_sum = 0.0
    t_window = 0
    t_start, it_start = time.time(), it
    last_saved = it
    log.info("Start training from epoch %d, iter %d", epoch, it)
    while it < total_iter:
        sampler.set_epoch(epoch, skip)
        skip = 0
        t_prev = time.time()
        for data in loader:
            t_data = time.time() - t_prev
            it += 1
            losses = model.train_step(data, it)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n_sum += 1
            t_iter_sum += time.time() - t_prev
            t_data_sum += t_data
            t_window += 1

            if it % print_freq == 0 or it == total_iter:
                means = _reduce_mean({k: v / n_sum for k, v in sums.items()}, info)
                result.losses.append((it, means))
                if info.is_main:
                    lrs = ",".join(f"{lr:.3e}" for lr in (model.lr.current() if model.lr else []))
                    per_it = (time.time() - t_start) / max(1, it - it_start)
                    loss_txt = " ".join(f"{k}: {v:.4e}" for k, v in means.items())
                    log.info(
                        "[epoch:%3d, iter:%8d, lr:(%s)] [eta: %s, time (data): %.3f (%.3f)] %s",
                        epoch, it, lrs, format_eta(per_it * (total_iter - it)), t_iter_sum / t_window, t_data_sum / t_window, loss_txt,
                    )
                    if csv_log is not None:
                        csv_log.write(it, epoch, "train", {**means, "lr": model.lr.current()[0] if model.lr else 0.0, "s_per_iter": t_iter_sum / t_window})
                    if tb is not None:
                        for k, v in means.items():
                            tb.add_scalar(f"losses/{k}", v, it)
                sums, n_sum = {}, 0
                t_iter_sum = t_data_sum = 0.0
                t_window = 0

            if it % save_freq == 0 or it == total_iter:
                _save(model, opt, info, it, epoch)
                last_saved = it

            if val_freq and (it % val_freq == 0 or it == total_iter) and info.is_main:
                for name, vl in val_loaders:
                    save_dir = Path(paths["visualization"]) / name if val_opt.get("save_img") else None
                    tv = time.time()
                    metrics = model.validation(vl, it, save_dir)
                    result.metrics[name] = metrics
                    txt = " ".join(f"{k}: {v:.4f}" for k, v in metrics.items())
                    log.info("Validation %s (iter %d, %.1fs) %s", name, it, time.time() - tv, txt)
                    if csv_log is not None:
                        csv_log.write(it, epoch, f"val:{name}", metrics)
                    if tb is not None:
                        for k, v in metrics.items():
                            tb.add_scalar(f"metrics/{name}/{k}", v, it)
            if val_freq and it % val_freq == 0:
                barrier(info)
            if it >= total_iter:
                break
            t_prev = time.time()  # saving and validation are not data-loading time
        else:
            epoch += 1
            continue
        break
    if last_saved != it:
        _save(model, opt, info, it, epoch)
    result.iter = it
    log.info("End of training at iter %d; the model is %s", it, Path(paths["models"]) / "net_g_latest.pth")
    if tb is not None:
        tb.close()
    barrier(info)
    return result


def _tensor_bytes(tensors: Any) -> int:
    if isinstance(tensors, torch.Tensor):
        return tensors.numel() * tensors.element_size()
    if isinstance(tensors, Mapping):
        return sum(_tensor_bytes(v) for v in tensors.values())
    if isinstance(tensors, (list, tuple)):
        return sum(_tensor_bytes(v) for v in tensors)
    return 0


def estimate_save_bytes(model: BaseModel) -> int:
    """Bytes one save writes, from the tensors (used before the first save has measured it):
    each network twice (``_<iter>`` and ``_latest``; net_g with its EMA copy), then the training
    state with every network, the EMA, the optimizers' moments and the model's extra state."""
    nets = sum(_tensor_bytes(net.state_dict()) for net in model.nets.values())
    ema = _tensor_bytes(model.ema.state_dict()) if model.ema is not None else 0
    optim = sum(_tensor_bytes(o.state_dict()["state"]) for o in model.optimizers.values())
    return 2 * (nets + ema) + nets + ema + optim + _tensor_bytes(model.extra_training_state())


def _save(model: BaseModel, opt: Mapping[str, Any], info: DistInfo, it: int, epoch: int) -> None:
    """Weights first, then the training state: a state file never points at missing weights.

    Refused before writing when the files cannot fit; afterwards the saves beyond
    ``logger.keep_checkpoints`` are pruned (see :mod:`.retention`).
    """
    if info.is_main:
        models_dir, states_dir = opt["path"]["models"], opt["path"]["training_states"]
        needed = last_save_bytes(models_dir, states_dir) or estimate_save_bytes(model)
        check_free_space(models_dir, needed, f"saving the checkpoint of iter {it}")
        try:
            path = model.save_network(opt["path"]["models"], it)
            model.save_training_state(opt["path"]["training_states"], it, epoch)
        except (OSError, RuntimeError) as exc:  # disk full, read-only folder: the written files are complete or absent
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SwinSRError(
                f"saving the checkpoint of iter {it} in {opt['path']['experiments_root']} failed ({first[:160]}); "
                "the earlier checkpoints are intact: free disk space, then rerun with --auto_resume"
            ) from None
        log.info("Saving models and training states: %s", path)
        keep = opt["logger"].get("keep_checkpoints")
        if keep:
            removed = prune_checkpoints(models_dir, states_dir, keep)
            if removed:
                log.info("keep_checkpoints %d: removed %d older file(s)", keep, len(removed))
    barrier(info)
