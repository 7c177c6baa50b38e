"""What every training model shares: named networks and their optimizers, EMA, LR schedule, AMP,
DDP, checkpoints and training states."""

from __future__ import annotations

import contextlib
import logging
import random
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn as nn

from ...archs import ARCH_REGISTRY
from ...checkpoint import _atomic_write, load_state_dict_into, read_checkpoint, save_checkpoint, unwrap_state_dict
from ...errors import CheckpointError, OptionError
from ...registry import check_arguments
from ..dist import DistInfo
from ..ema import EMA
from ..lr import LRController, build_schedule
from ..schema import Field

log = logging.getLogger("swinsr.train")

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}


def check_optimizer(opt: Mapping[str, Any] | None, where: str = "train.optim_g") -> None:
    """Check the optimizer ``type`` and that its arguments exist."""
    if not isinstance(opt, Mapping) or "type" not in opt:
        raise OptionError(f"{where}.type: missing; allowed: {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS.get(opt["type"])
    if cls is None:
        raise OptionError(f"{where}.type: unknown optimizer {opt['type']!r}; allowed: {', '.join(OPTIMIZERS)}")
    check_arguments(cls, {k: v for k, v in opt.items() if k != "type"}, where, opt["type"], hidden=("self", "params"))
    if "lr" not in opt:
        raise OptionError(f"{where}.lr: missing learning rate")
    optimizer_kwargs(opt, where)


def optimizer_kwargs(opt: Mapping[str, Any], where: str = "train.optim_g") -> dict[str, Any]:
    """Optimizer arguments with numbers made numbers (YAML reads ``2e-4`` as a string)."""
    out: dict[str, Any] = {}
    for k, v in opt.items():
        if k == "type":
            continue
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise OptionError(f"{where}.{k}: expected a number, got {v!r}") from None
        if isinstance(v, list):
            v = tuple(float(x) for x in v)
        out[k] = v
    return out


def build_optimizer(opt: Mapping[str, Any], groups: list[dict[str, Any]], where: str) -> torch.optim.Optimizer:
    """``OPTIMIZERS[opt['type']](groups, **rest)`` (options already checked by :func:`check_optimizer`)."""
    return OPTIMIZERS[opt["type"]](groups, **optimizer_kwargs(opt, where))


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU + CUDA) generator states, as tensors/plain types for ``weights_only`` loading."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": list(random.getstate()[1]),
        "python_gauss": random.getstate()[2],
        "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore :func:`rng_state`."""
    if "python" in state:
        random.setstate((3, tuple(state["python"]), state.get("python_gauss")))
    if "numpy" in state:
        np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), int(state.get("numpy_pos", 624)), 0, 0.0))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def build_network(net_opt: Mapping[str, Any], where: str = "network_g") -> nn.Module:
    """Instantiate a ``network_*`` section; constructor errors become :class:`OptionError` naming ``where``."""
    kwargs = {k: v for k, v in net_opt.items() if k != "type"}
    try:
        return ARCH_REGISTRY.build(net_opt["type"], **kwargs)
    except KeyError as exc:
        raise OptionError(f"{where}.type: {exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        raise OptionError(f"{where}: cannot build {net_opt['type']}: {exc}") from None


def load_pretrained(net: nn.Module, path: str, param_key: str = "params", strict: bool = True, where: str = "path.pretrain_network_g") -> None:
    """Load ``path`` (``param_key`` inside it when present) into ``net``.

    ``strict``: every learnable weight must match (derived buffers are recomputed);
    otherwise matching names and shapes load and the rest is reported in the log. A file that
    does not fit raises :class:`OptionError` naming ``where`` and what differs.
    """
    try:
        raw, _ = read_checkpoint(path)
        if isinstance(raw, Mapping) and param_key in raw and isinstance(raw[param_key], Mapping):
            raw = raw[param_key]
        elif isinstance(raw, Mapping) and param_key not in raw:
            log.info("%s: no %r key, using %s", path, param_key, "the state dict found in it")
        sd = unwrap_state_dict(raw, source=path)
        if strict:
            load_state_dict_into(net, sd, source=path)
        else:
            own = net.state_dict()
            fit = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
            skipped = sorted(set(sd) - set(fit))
            missing = sorted(set(own) - set(fit))
            net.load_state_dict(fit, strict=False)
            log.info("loaded %d tensors from %s (not loaded: %d in file, %d in the model)", len(fit), path, len(skipped), len(missing))
    except CheckpointError as exc:
        raise OptionError(f"{where}: {exc}") from None
    log.info("Loading %s from %s [%s] (strict=%s)", type(net).__name__, path, param_key, strict)


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


class BaseModel:
    """Named networks being trained, each with its optimizer; subclasses define the losses.

    The networks are ``self.nets`` (``'g'``: the generator, always there; a subclass adds e.g.
    ``'d'`` through :attr:`NETWORK_KEYS`), their optimizers ``self.optimizers`` (same names,
    from :attr:`OPTIMIZER_KEYS`), all driven by one learning-rate schedule. A plain model
    implements :meth:`compute_losses`; a model with several optimisation steps per iteration
    (a GAN) overrides :meth:`train_step` and uses :meth:`zero_grad` / :meth:`step_optimizer` /
    :meth:`update_ema`. :meth:`prepare_batch` turns a loader batch into the training inputs
    (e.g. synthesises degraded inputs) and :meth:`extra_training_state` /
    :meth:`load_extra_training_state` carry any more state a subclass keeps across iterations.
    """

    TRAIN_FIELDS: dict[str, Field] = {}
    """``train`` keys a subclass adds to the common ones."""
    TOP_FIELDS: dict[str, Field] = {}
    """Top-level option keys a subclass adds (e.g. Real-ESRGAN's degradation settings)."""
    METRICS: tuple[str, ...] = ()
    """Allowed ``val.metrics.*.type`` values."""
    NETWORK_KEYS: dict[str, str] = {"g": "network_g"}
    """Network name -> its top-level option section. Networks other than ``'g'`` exist only in training;
    each reads ``path.pretrain_network_<name>`` / ``param_key_<name>`` / ``strict_load_<name>``."""
    OPTIMIZER_KEYS: dict[str, str] = {"g": "optim_g"}
    """Network name -> its ``train`` optimizer section."""

    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], warn: Callable[[str], None]) -> None:
        """Fail early on bad ``train`` values (called by the option parser)."""
        for key in cls.OPTIMIZER_KEYS.values():
            check_optimizer(train.get(key), f"train.{key}")
        build_schedule(train.get("scheduler"))
        if not 0.0 <= train["ema_decay"] < 1.0:
            raise OptionError(f"train.ema_decay: must be in [0, 1), got {train['ema_decay']}")
        if train["total_iter"] <= 0:
            raise OptionError(f"train.total_iter: must be positive, got {train['total_iter']}")

    @classmethod
    def check_options(cls, opt: Mapping[str, Any], warn: Callable[[str], None]) -> None:
        """Cross-section checks (called by the option parser)."""

    def __init__(self, opt: Mapping[str, Any], device: torch.device, dist_info: DistInfo = DistInfo()):
        self.opt = opt
        self.device = device
        self.dist = dist_info
        self.is_train = bool(opt.get("is_train", True))
        train = opt.get("train") or {}
        self.channels_last = bool(train.get("channels_last")) and device.type == "cuda"
        self.nets: dict[str, nn.Module] = {}
        for name, key in self.NETWORK_KEYS.items():
            if name == "g" or self.is_train:
                self.nets[name] = self._build_named_network(name, key)
        self.net_g = self.nets["g"]
        self.use_amp = bool(train.get("use_amp"))
        if self.use_amp and device.type != "cuda":
            log.warning("train.use_amp: bf16 autocast is only used on CUDA; training in float32 on %s", device.type)
            self.use_amp = False
        # what the training step calls: the DDP wrapper when distributed (rank 0's weights are broadcast here)
        self.train_nets: dict[str, nn.Module] = dict(self.nets)
        if self.dist.distributed and self.is_train:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            for name, net in self.nets.items():
                self.train_nets[name] = DDP(net, device_ids=ids, find_unused_parameters=bool(opt.get("find_unused_parameters")))
        self.ema: EMA | None = None
        if self.is_train and train.get("ema_decay", 0) > 0:
            self.ema = EMA(self.net_g, train["ema_decay"])  # after DDP: starts from rank 0's broadcast weights
        if self.is_train and train.get("compile"):
            self.train_nets["g"] = torch.compile(self.train_nets["g"])  # type: ignore[assignment]
        self.net_train: nn.Module = self.train_nets["g"]
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.lr: LRController | None = None
        if self.is_train:
            self.setup_optimizers(train)
            self.lr = LRController(list(self.optimizers.values()), build_schedule(train.get("scheduler")), train.get("warmup_iter", -1))
            self.grad_clip = train.get("grad_clip_norm")
            self.setup_losses(train)

    def _build_named_network(self, name: str, key: str) -> nn.Module:
        """Build network ``name`` from ``opt[key]``, load ``path.pretrain_network_<name>``, move it to the device."""
        net = build_network(self.opt[key], key)
        path = self.opt.get("path") or {}
        if path.get(f"pretrain_network_{name}"):
            load_pretrained(
                net, path[f"pretrain_network_{name}"], path.get(f"param_key_{name}") or "params",
                path.get(f"strict_load_{name}", True), where=f"path.pretrain_network_{name}",
            )
        net.to(self.device)
        if self.channels_last:
            net.to(memory_format=torch.channels_last)
        return net

    # ------------------------------------------------------------------ training
    def parameter_groups(self, optim_opt: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Trainable parameters of ``net_g`` (one group); subclasses split out no-weight-decay groups."""
        return self.network_parameter_groups("g")

    def network_parameter_groups(self, name: str) -> list[dict[str, Any]]:
        """The trainable parameters of network ``name`` as one group."""
        return [{"params": [p for p in self.nets[name].parameters() if p.requires_grad]}]

    def setup_optimizers(self, train: Mapping[str, Any]) -> None:
        """One optimizer per :attr:`OPTIMIZER_KEYS` entry, in that order (the order of the saved states)."""
        self.optimizers = {}
        for name, key in self.OPTIMIZER_KEYS.items():
            optim_opt = dict(train[key])
            groups = self.parameter_groups(optim_opt) if name == "g" else self.network_parameter_groups(name)
            self.optimizers[name] = build_optimizer(optim_opt, groups, f"train.{key}")

    def check_dataset(self, dataset: Any) -> None:
        """Fail early when the training data does not fit the network (e.g. class count)."""

    def setup_losses(self, train: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def compute_losses(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The named loss terms of one batch (their sum is minimised)."""
        raise NotImplementedError

    def prepare_batch(self, batch: Mapping[str, Any], it: int) -> Mapping[str, Any]:
        """The training inputs of iteration ``it`` made from a loader batch (default: the batch itself)."""
        return batch

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.use_amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_device(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device, non_blocking=True)
        if self.channels_last and t.ndim == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def zero_grad(self, name: str) -> None:
        self.optimizers[name].zero_grad(set_to_none=True)

    def step_optimizer(self, name: str) -> None:
        """Clip (``train.grad_clip_norm``, generator only) and apply network ``name``'s gradients."""
        if name == "g" and self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.net_g.parameters(), float(self.grad_clip))
        self.optimizers[name].step()

    def update_ema(self) -> None:
        if self.ema is not None:
            self.ema.update(self.net_g)

    def train_step(self, batch: Mapping[str, Any], it: int) -> dict[str, torch.Tensor]:
        """One optimisation step at iteration ``it``; returns the detached loss terms."""
        assert self.lr is not None
        self.lr.step(it)
        self.net_train.train()
        batch = self.prepare_batch(batch, it)
        self.zero_grad("g")
        with self.autocast():
            losses = self.compute_losses(batch)
        total = sum(losses.values())
        assert isinstance(total, torch.Tensor)
        total.backward()
        self.step_optimizer("g")
        self.update_ema()
        return {k: v.detach().float() for k, v in losses.items()}

    @property
    def eval_net(self) -> nn.Module:
        """The network validated and exported: the EMA copy when EMA is on."""
        return self.ema.module if self.ema is not None else self.net_g

    # ------------------------------------------------------------------ saving
    def save_network(self, models_dir: str | Path, it: int) -> Path:
        """``net_g_<it>.pth`` / ``net_g_latest.pth`` in the reference layout (``params`` + ``params_ema``),
        and ``net_<name>_<it>.pth`` / ``net_<name>_latest.pth`` (``params``) for every other network."""
        d = Path(models_dir)
        ema = self.ema.module if self.ema is not None else None
        path = save_checkpoint(self.net_g, d / f"net_g_{it}.pth", ema=ema)
        save_checkpoint(self.net_g, d / "net_g_latest.pth", ema=ema)
        for name, net in self.nets.items():
            if name != "g":
                sd = _cpu_state(net)
                save_checkpoint(sd, d / f"net_{name}_{it}.pth")
                save_checkpoint(sd, d / f"net_{name}_latest.pth")
        return path

    def extra_training_state(self) -> dict[str, Any]:
        """More state a subclass carries across iterations (tensors and plain containers)."""
        return {}

    def load_extra_training_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`extra_training_state` from a training state."""

    def training_state(self, it: int, epoch: int) -> dict[str, Any]:
        """Everything needed to continue exactly: every network, the EMA, the optimizers, schedule, RNG."""
        state: dict[str, Any] = {
            "iter": it,
            "epoch": epoch,
            "optimizers": [o.state_dict() for o in self.optimizers.values()],
            "optimizer_names": list(self.optimizers),
            "schedulers": [self.lr.state_dict()] if self.lr is not None else [],
            "rng": rng_state(),
        }
        for name, net in self.nets.items():
            state[f"net_{name}"] = _cpu_state(net)
        if self.ema is not None:
            state["ema"] = {k: v.detach().cpu() for k, v in self.ema.state_dict().items()}
        state.update(self.extra_training_state())
        return state

    def save_training_state(self, states_dir: str | Path, it: int, epoch: int) -> Path:
        """Atomically write ``<it>.state``."""
        path = Path(states_dir) / f"{it}.state"
        state = self.training_state(it, epoch)
        _atomic_write(path, lambda tmp: torch.save(state, tmp))
        return path

    def resume_training(self, state: Mapping[str, Any], models_dir: str | Path | None = None) -> None:
        """Restore :meth:`training_state` (BasicSR states without weights read ``net_<name>_<iter>.pth``)."""
        it = int(state["iter"])
        for name, net in self.nets.items():
            if f"net_{name}" in state:
                net.load_state_dict(state[f"net_{name}"], strict=True)
                continue
            net_file = Path(models_dir or ".") / f"net_{name}_{it}.pth"
            load_pretrained(net, str(net_file), "params", True, where=f"resume state (net_{name})")
        if self.ema is not None:
            if "ema" in state:
                self.ema.load_state_dict(state["ema"])
            elif "net_g" not in state:
                net_file = Path(models_dir or ".") / f"net_g_{it}.pth"
                raw, _ = read_checkpoint(net_file)
                key = "params_ema" if "params_ema" in raw else "params"
                load_state_dict_into(self.ema.module, raw[key], source=str(net_file))
            else:  # a state saved without EMA (ema_decay turned on since): average from the resumed weights
                self.ema.update(self.net_g, decay=0.0)
        names = state.get("optimizer_names")
        saved = state.get("optimizers", [])
        if (names is not None and list(names) != list(self.optimizers)) or len(saved) != len(self.optimizers):
            raise CheckpointError(
                f"resume state: optimizers {list(names) if names is not None else len(saved)} differ from the options' {list(self.optimizers)}"
            )
        for o, s in zip(self.optimizers.values(), saved):
            o.load_state_dict(s)
        if self.lr is not None and state.get("schedulers"):
            self.lr.load_state_dict(state["schedulers"][0])
        self.load_extra_training_state(state)
        if "rng" in state:
            set_rng_state(state["rng"])

    # ------------------------------------------------------------------ validation
    def validation(self, loader: Any, it: int, save_dir: str | Path | None = None) -> dict[str, float]:
        raise NotImplementedError
