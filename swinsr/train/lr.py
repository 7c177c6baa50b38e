"""Learning-rate schedules as pure functions of the iteration, with BasicSR's names and semantics.

Iteration ``it`` (1-based, as in the training log) trains with the rate of scheduler step
``it - 1``, as BasicSR does, times a linear warm-up factor ``it / warmup_iter`` while
``it < warmup_iter``. Being functions of ``it``, the schedules resume exactly with no state.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any, Mapping, Sequence

import torch

from ..registry import Registry

SCHEDULER_REGISTRY = Registry("scheduler")


class Schedule:
    """Base: ``lr(base_lr, step)`` for scheduler step ``step >= 0``."""

    def lr(self, base_lr: float, step: int) -> float:
        raise NotImplementedError


@SCHEDULER_REGISTRY.register()
class MultiStepLR(Schedule):
    """Multiply by ``gamma`` at each of ``milestones`` (SwinIR: [250k, 400k, 450k, 475k], 0.5)."""

    def __init__(self, milestones: Sequence[int], gamma: float = 0.1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = float(gamma)

    def lr(self, base_lr: float, step: int) -> float:
        return base_lr * self.gamma ** bisect_right(self.milestones, step)


@SCHEDULER_REGISTRY.register()
class MultiStepRestartLR(Schedule):
    """:class:`MultiStepLR` that restarts at ``restarts`` with the rate scaled by ``restart_weights``."""

    def __init__(self, milestones: Sequence[int], gamma: float = 0.1, restarts: Sequence[int] = (0,), restart_weights: Sequence[float] = (1.0,)):
        if len(restarts) != len(restart_weights):
            raise ValueError("restarts and restart_weights must have the same length")
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = float(gamma)
        self.restarts = [int(r) for r in restarts]
        self.weights = [float(w) for w in restart_weights]

    def lr(self, base_lr: float, step: int) -> float:
        start, weight = 0, 1.0
        for r, w in zip(self.restarts, self.weights):
            if 0 < r <= step and r >= start:
                start, weight = r, w
        drops = sum(1 for m in self.milestones if start < m <= step)
        return base_lr * weight * self.gamma**drops


@SCHEDULER_REGISTRY.register()
class CosineAnnealingRestartLR(Schedule):
    """Cosine from the base rate down to ``eta_min`` over each of ``periods``, restarting with ``restart_weights``."""

    def __init__(self, periods: Sequence[int], restart_weights: Sequence[float] = (1.0,), eta_min: float = 0.0):
        if len(periods) != len(restart_weights):
            raise ValueError("periods and restart_weights must have the same length")
        self.periods = [int(p) for p in periods]
        self.weights = [float(w) for w in restart_weights]
        self.eta_min = float(eta_min)
        self.ends = [sum(self.periods[: i + 1]) for i in range(len(self.periods))]

    def lr(self, base_lr: float, step: int) -> float:
        idx = next((i for i, end in enumerate(self.ends) if step <= end), len(self.ends) - 1)
        start = 0 if idx == 0 else self.ends[idx - 1]
        t = min(1.0, (step - start) / self.periods[idx])
        return self.eta_min + self.weights[idx] * 0.5 * (base_lr - self.eta_min) * (1.0 + math.cos(math.pi * t))


@SCHEDULER_REGISTRY.register()
class CosineAnnealingLR(Schedule):
    """Single cosine from the base rate to ``eta_min`` over ``T_max`` steps, then held."""

    def __init__(self, T_max: int, eta_min: float = 0.0):  # noqa: N803 (torch's name)
        self.inner = CosineAnnealingRestartLR([int(T_max)], [1.0], eta_min)

    def lr(self, base_lr: float, step: int) -> float:
        return self.inner.lr(base_lr, step)


def build_schedule(opt: Mapping[str, Any] | None, where: str = "train.scheduler") -> Schedule | None:
    """Build a schedule from its option section (``None``: constant rate)."""
    if not opt:
        return None
    return SCHEDULER_REGISTRY.build_from_options(opt, where)


class LRController:
    """Sets the rate of every parameter group of ``optimizers`` for an iteration."""

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer], schedule: Schedule | None, warmup_iter: int = -1):
        self.optimizers = list(optimizers)
        self.schedule = schedule
        self.warmup_iter = int(warmup_iter)
        for opt in self.optimizers:
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
        self.last_iter = 0

    def rate(self, base_lr: float, it: int) -> float:
        """The learning rate of iteration ``it`` (1-based) for a group whose initial rate is ``base_lr``."""
        lr = base_lr if self.schedule is None else self.schedule.lr(base_lr, max(0, it - 1))
        if 0 < self.warmup_iter and it < self.warmup_iter:
            lr *= it / self.warmup_iter
        return lr

    def step(self, it: int) -> None:
        """Apply iteration ``it``'s rates."""
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = self.rate(group["initial_lr"], it)
        self.last_iter = it

    def current(self) -> list[float]:
        """Rates of the first optimizer's groups, for the log."""
        return [g["lr"] for g in self.optimizers[0].param_groups] if self.optimizers else []

    def state_dict(self) -> dict[str, int]:
        return {"last_iter": self.last_iter}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_iter = int(state.get("last_iter", 0))
        if self.last_iter:
            self.step(self.last_iter)
