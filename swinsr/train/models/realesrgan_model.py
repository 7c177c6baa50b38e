"""Real-ESRGAN training: ``RealESRNetModel`` (L1 stage) and ``RealESRGANModel`` (GAN stage).

Both synthesise the LR side of every batch on the training device with Real-ESRGAN's second-order
degradation (:class:`~swinsr.degradations.RealESRGANDegradation`, configured by the option file's
top-level keys ``resize_prob``, ``noise_range``, ``jpeg_range``, ``second_blur_prob``, ...) from
the HR patches and kernels of ``RealESRGANDataset``, crop ``gt_size`` patches and pass them
through the training-pair pool (``queue_size``) that mixes degradations of different batches.
With ``high_order_degradation: false`` they train on ready-made LR/GT pairs instead.

Unlike the reference (Python/numpy global generators and ``.cuda()``), every random draw of an
iteration comes from one ``torch.Generator`` on the training device seeded by
``(manual_seed, rank, iteration)``, and the pool is part of the training state, so a resumed run
continues bit for bit. HAT's ``RealHATMSEModel`` / ``RealHATGANModel`` and DRCT's
``RealDRCTMSEModel`` / ``RealDRCTGANModel`` are the same models under their names.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ...archs import discriminator as _discriminator  # noqa: F401  (registers UNetDiscriminatorSN)
from ...data import realesrgan_datasets as _datasets  # noqa: F401  (registers RealESRGANDataset)
from ...degradations import DEGRADATION_DEFAULTS, RealESRGANDegradation, RealESRGANKernels, USMSharp
from ...errors import CheckpointError, OptionError
from ...losses import build_loss
from ..schema import Field
from .registry import MODEL_REGISTRY
from .sr_model import SRModel

log = logging.getLogger("swinsr.train")

#: Datasets that give HR patches with their kernels, as the synthetic degradation needs.
KERNEL_DATASETS = ("RealESRGANDataset",)


def _degradation_field(value: Any) -> Field:
    return Field((list,), value) if isinstance(value, list) else Field((float,), value)


REAL_FIELDS: dict[str, Field] = {
    **{key: _degradation_field(value) for key, value in DEGRADATION_DEFAULTS.items()},
    "gt_size": Field((int,), None, nullable=True, help="GT patch cut after degrading (default: the dataset's)"),
    "queue_size": Field((int,), 180, help="training-pair pool size, a multiple of the batch size (0: no pool)"),
    "high_order_degradation": Field((bool,), True, help="false: train on the LR/GT pairs of the dataset"),
}
"""Top-level keys shared by both stages (names and defaults of Real-ESRGAN's x4plus files)."""


def iteration_generator(seed: int, rank: int, it: int, device: torch.device) -> torch.Generator:
    """A generator on ``device`` that depends only on ``(seed, rank, it)``: resumable with no saved state."""
    words = np.random.SeedSequence([int(seed) % 2**63, int(rank), int(it)]).generate_state(2, np.uint32)
    return torch.Generator(device=device).manual_seed(int(words[0]) << 31 | int(words[1]) >> 1)


def paired_random_crop(gts: list[torch.Tensor], lq: torch.Tensor, gt_size: int, scale: int, generator: torch.Generator) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The same random ``gt_size`` patch of every ``(B, C, H, W)`` GT and the matching ``gt_size/scale`` LR patch."""
    lq_size = gt_size // scale
    h, w = lq.shape[-2:]
    if h < lq_size or w < lq_size:
        raise OptionError(f"gt_size: {gt_size} is larger than the degraded batch ({h * scale}x{w * scale}); lower gt_size")
    if h == lq_size and w == lq_size:
        return gts, lq
    top = int(torch.randint(0, h - lq_size + 1, (), generator=generator, device=generator.device))
    left = int(torch.randint(0, w - lq_size + 1, (), generator=generator, device=generator.device))
    lq = lq[..., top : top + lq_size, left : left + lq_size]
    t, l = top * scale, left * scale
    return [g[..., t : t + gt_size, l : l + gt_size] for g in gts], lq


class TrainingPairPool:
    """Real-ESRGAN's training-pair pool: ``size`` degraded pairs from past batches.

    Until it is full each batch is stored and trained on as is; then the pool is shuffled, its
    first ``B`` pairs are trained on and replaced by the new batch. Pairs of one batch share
    their resize draws, so this mixes degradations within a batch.
    """

    def __init__(self, size: int):
        self.size = int(size)
        self.lq: torch.Tensor | None = None
        self.gt: torch.Tensor | None = None
        self.ptr = 0

    def __call__(self, lq: torch.Tensor, gt: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The pair to train on this iteration (and the pool updated with ``(lq, gt)``)."""
        b = lq.shape[0]
        if self.size == 0:
            return lq, gt
        if self.lq is None or self.gt is None:
            self.lq = lq.new_zeros((self.size, *lq.shape[1:]))
            self.gt = gt.new_zeros((self.size, *gt.shape[1:]))
            self.ptr = 0
        if self.lq.shape[1:] != lq.shape[1:] or self.gt.shape[1:] != gt.shape[1:]:
            raise ValueError(f"training-pair pool holds {tuple(self.lq.shape[1:])} LR patches, got {tuple(lq.shape[1:])}")
        if self.ptr < self.size:
            self.lq[self.ptr : self.ptr + b] = lq
            self.gt[self.ptr : self.ptr + b] = gt
            self.ptr += b
            return lq, gt
        order = torch.randperm(self.size, generator=generator, device=generator.device).to(lq.device)
        self.lq, self.gt = self.lq[order], self.gt[order]
        out_lq, out_gt = self.lq[:b].clone(), self.gt[:b].clone()
        self.lq[:b] = lq
        self.gt[:b] = gt
        return out_lq, out_gt

    def state_dict(self) -> dict[str, Any]:
        if self.lq is None or self.gt is None:
            return {"ptr": 0}
        return {"ptr": self.ptr, "lq": self.lq.detach().cpu(), "gt": self.gt.detach().cpu()}

    def load_state_dict(self, state: Mapping[str, Any], device: torch.device) -> None:
        self.ptr = int(state.get("ptr", 0))
        if "lq" in state and "gt" in state:
            if state["lq"].shape[0] != self.size:
                raise CheckpointError(f"resume state: the training-pair pool holds {state['lq'].shape[0]} pairs but queue_size is {self.size}")
            self.lq, self.gt = state["lq"].to(device), state["gt"].to(device)
        else:
            self.lq = self.gt = None


@MODEL_REGISTRY.register()
class RealESRNetModel(SRModel):
    """Real-ESRNet: the pixel (and optional perceptual) loss on synthetically degraded batches.

    ``gt_usm: true`` sharpens the GT with :class:`~swinsr.degradations.USMSharp` before it is
    degraded and used as the target, as Real-ESRNet does.
    """

    TOP_FIELDS = {**REAL_FIELDS, "gt_usm": Field((bool,), True, help="USM-sharpen the GT first")}
    # HAT's Real_HAT MSE file carries a discriminator optimizer that its L1 stage never uses
    TRAIN_FIELDS = {**SRModel.TRAIN_FIELDS, "optim_d": Field((dict,), None, nullable=True, help="ignored by the L1 stage")}

    @classmethod
    def check_options(cls, opt: Mapping[str, Any], warn: Callable[[str], None]) -> None:
        super().check_options(opt, warn)
        if not opt.get("is_train", True) or "train" not in opt["datasets"]:
            return
        if opt["queue_size"] < 0:
            raise OptionError(f"queue_size: must be 0 (no pool) or a positive multiple of the batch size, got {opt['queue_size']}")
        if not opt["high_order_degradation"]:
            return
        train = opt["datasets"]["train"]
        if train["type"] not in KERNEL_DATASETS:
            raise OptionError(
                f"datasets.train.type: {train['type']} gives no degradation kernels; use {' or '.join(KERNEL_DATASETS)}, "
                "or set high_order_degradation: false to train on its LR/GT pairs"
            )
        # one-line OptionErrors naming a bad key, before anything is started
        RealESRGANKernels(train, "datasets.train")
        RealESRGANDegradation(opt, int(opt["scale"]))
        batch = int(train["batch_size_per_gpu"])
        if opt["queue_size"] % batch:
            raise OptionError(f"queue_size: {opt['queue_size']} is not divisible by datasets.train.batch_size_per_gpu {batch}; use a multiple of it")
        gt_size, data_size = opt.get("gt_size"), train.get("gt_size")
        if gt_size is not None:
            if gt_size % opt["scale"]:
                raise OptionError(f"gt_size: {gt_size} is not a multiple of scale {opt['scale']}")
            if data_size is not None and gt_size > data_size:
                raise OptionError(f"gt_size: {gt_size} is larger than the datasets.train.gt_size {data_size} patches it is cut from")

    def __init__(self, opt: Mapping[str, Any], device: torch.device, *args: Any, **kwargs: Any):
        super().__init__(opt, device, *args, **kwargs)
        self.high_order = bool(opt.get("high_order_degradation", True))
        self.scale = int(opt["scale"])
        self.usm = USMSharp().to(device)
        self.pool = TrainingPairPool(int(opt.get("queue_size", 180)) if self.high_order else 0)
        self.degradation = RealESRGANDegradation(opt, self.scale) if self.is_train and self.high_order else None

    def generator(self, it: int) -> torch.Generator:
        """Iteration ``it``'s generator for every draw of the degradation, the crop and the pool."""
        return iteration_generator(int(self.opt.get("manual_seed", 0)), self.dist.rank, it, self.device)

    @torch.no_grad()
    def synthesize(self, batch: Mapping[str, Any], it: int, *, sharpen_input: bool, sharpen_target: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lq, gt)`` of iteration ``it`` from HR patches and kernels: degrade the GT (USM-sharpened
        first when ``sharpen_input``), cut the ``gt_size`` patch of the LR and of the target (the
        sharpened GT when ``sharpen_target``, else the plain one), pass the pair through the pool."""
        assert self.degradation is not None
        g = self.generator(it)
        gt = batch["gt"].to(self.device)
        sharp = self.usm(gt) if sharpen_input or sharpen_target else gt
        kernels = [batch[k].to(self.device) for k in ("kernel1", "kernel2", "sinc_kernel")]
        lq = self.degradation(sharp if sharpen_input else gt, *kernels, generator=g)
        target = sharp if sharpen_target else gt
        if self.opt.get("gt_size"):
            (target,), lq = paired_random_crop([target], lq, int(self.opt["gt_size"]), self.scale, g)
        lq, target = self.pool(lq, target, g)
        return lq.contiguous(), target.contiguous()

    def prepare_batch(self, batch: Mapping[str, Any], it: int) -> Mapping[str, Any]:
        if not self.high_order:
            return batch  # paired data: the reference trains on the plain GT here
        usm = bool(self.opt.get("gt_usm", True))
        lq, gt = self.synthesize(batch, it, sharpen_input=usm, sharpen_target=usm)
        return {"lq": lq, "gt": gt}

    def extra_training_state(self) -> dict[str, Any]:
        return {"pool": self.pool.state_dict()} if self.pool.size else {}

    def load_extra_training_state(self, state: Mapping[str, Any]) -> None:
        if self.pool.size and "pool" in state:
            self.pool.load_state_dict(state["pool"], self.device)


@MODEL_REGISTRY.register()
class RealESRGANModel(RealESRNetModel):
    """Real-ESRGAN: pixel + perceptual + adversarial losses with a discriminator (``network_d``).

    The degradation input is always the USM-sharpened GT; ``l1_gt_usm`` / ``percep_gt_usm`` /
    ``gan_gt_usm`` choose the sharpened or the plain GT as the target of each loss (the plain
    GT is what the pool stores; it is sharpened again after the pool, as the reference does).
    Each iteration updates the generator (when ``it % net_d_iters == 0`` and
    ``it > net_d_init_iters``) with the discriminator frozen, then the discriminator on the
    real target and the detached output.
    """

    NETWORK_KEYS = {"g": "network_g", "d": "network_d"}
    OPTIMIZER_KEYS = {"g": "optim_g", "d": "optim_d"}
    TOP_FIELDS = {
        **REAL_FIELDS,
        "network_d": Field((dict,), None, nullable=True, help="the discriminator, e.g. {type: UNetDiscriminatorSN, num_in_ch: 3, num_feat: 64}"),
        "l1_gt_usm": Field((bool,), True),
        "percep_gt_usm": Field((bool,), True),
        "gan_gt_usm": Field((bool,), False),
    }
    TRAIN_FIELDS = {
        **SRModel.TRAIN_FIELDS,
        "optim_d": Field((dict,)),
        "gan_opt": Field((dict,)),
        "net_d_iters": Field((int,), 1),
        "net_d_init_iters": Field((int,), 0),
    }

    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], warn: Callable[[str], None]) -> None:
        super().check_train_options(train, warn)
        build_loss(train["gan_opt"], "train.gan_opt")
        if train["net_d_iters"] < 1:
            raise OptionError(f"train.net_d_iters: must be at least 1, got {train['net_d_iters']}")
        if train["net_d_init_iters"] < 0:
            raise OptionError(f"train.net_d_init_iters: must not be negative, got {train['net_d_init_iters']}")

    @classmethod
    def check_options(cls, opt: Mapping[str, Any], warn: Callable[[str], None]) -> None:
        from ..options import check_network  # late: options imports the model registry

        super().check_options(opt, warn)
        if "train" not in opt["datasets"]:
            return  # testing needs only network_g
        if not opt.get("network_d"):
            raise OptionError("network_d: missing; the GAN stage needs a discriminator, e.g. {type: UNetDiscriminatorSN, num_in_ch: 3, num_feat: 64}")
        check_network(opt["network_d"], "network_d", warn)

    def __init__(self, opt: Mapping[str, Any], device: torch.device, *args: Any, **kwargs: Any):
        super().__init__(opt, device, *args, **kwargs)
        if self.is_train:
            self.net_d = self.nets["d"]
            n = sum(p.numel() for p in self.net_d.parameters())
            log.info("network_d %s: %s parameters", type(self.net_d).__name__, f"{n:,}")

    def setup_losses(self, train: Mapping[str, Any]) -> None:
        super().setup_losses(train)
        self.cri_gan = build_loss(train["gan_opt"], "train.gan_opt").to(self.device)
        self.net_d_iters = int(train.get("net_d_iters") or 1)
        self.net_d_init_iters = int(train.get("net_d_init_iters") or 0)

    def prepare_batch(self, batch: Mapping[str, Any], it: int) -> Mapping[str, Any]:
        if self.high_order:
            # the sharpened GT is degraded, the plain one pooled: it is sharpened again below, as the reference does
            lq, gt = self.synthesize(batch, it, sharpen_input=True, sharpen_target=False)
        else:
            lq, gt = batch["lq"].to(self.device), batch["gt"].to(self.device)
        with torch.no_grad():
            gt_usm = self.usm(gt)
        return {"lq": lq, "gt": gt, "gt_usm": gt_usm}

    def _generator_output(self, lq: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            out = self.net_train(self.to_device(lq))
        return (out[0] if isinstance(out, tuple) else out).float()

    def _disc(self, net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return net(self.to_device(x)).float()

    def train_step(self, batch: Mapping[str, Any], it: int) -> dict[str, torch.Tensor]:
        """One generator step (unless skipped by ``net_d_iters`` / ``net_d_init_iters``), then one discriminator step."""
        assert self.lr is not None
        self.lr.step(it)
        self.net_train.train()
        self.net_d.train()
        data = self.prepare_batch(batch, it)
        targets = {k: data["gt_usm"] if self.opt.get(f"{k}_gt_usm", k != "gan") else data["gt"] for k in ("l1", "percep", "gan")}
        losses: dict[str, torch.Tensor] = {}

        # generator: the discriminator is frozen, so its gradients stay those of its own step
        for p in self.net_d.parameters():
            p.requires_grad_(False)
        self.zero_grad("g")
        train_g = it % self.net_d_iters == 0 and it > self.net_d_init_iters
        if train_g:
            output = self._generator_output(data["lq"])
            terms: dict[str, torch.Tensor] = {}
            if self.cri_pix is not None:
                terms["l_g_pix"] = self.cri_pix(output, targets["l1"])
            if self.cri_perceptual is not None:
                percep, style = self.cri_perceptual(output, targets["percep"])
                if percep is not None:
                    terms["l_g_percep"] = percep
                if style is not None:
                    terms["l_g_style"] = style
            # the unwrapped discriminator: this pass needs no gradient synchronisation of its weights
            terms["l_g_gan"] = self.cri_gan(self._disc(self.net_d, output), True, is_disc=False)
            total = sum(terms.values())
            assert isinstance(total, torch.Tensor)
            total.backward()
            self.step_optimizer("g")
            losses.update(terms)
        else:
            with torch.no_grad():
                output = self._generator_output(data["lq"])

        # discriminator: real target, then the detached output, each its own backward (as the reference)
        for p in self.net_d.parameters():
            p.requires_grad_(True)
        self.zero_grad("d")
        net_d = self.train_nets["d"]
        real_pred = self._disc(net_d, targets["gan"])
        l_d_real = self.cri_gan(real_pred, True, is_disc=True)
        l_d_real.backward()
        fake_pred = self._disc(net_d, output.detach().clone())
        l_d_fake = self.cri_gan(fake_pred, False, is_disc=True)
        l_d_fake.backward()
        self.step_optimizer("d")
        self.update_ema()
        losses.update(l_d_real=l_d_real, out_d_real=real_pred.detach().mean(), l_d_fake=l_d_fake, out_d_fake=fake_pred.detach().mean())
        return {k: v.detach().float() for k, v in losses.items()}


# HAT's and DRCT's names for the same two stages (their option files use them)
@MODEL_REGISTRY.register()
class RealHATMSEModel(RealESRNetModel):
    """HAT's name for :class:`RealESRNetModel`."""


@MODEL_REGISTRY.register()
class RealHATGANModel(RealESRGANModel):
    """HAT's name for :class:`RealESRGANModel`."""


@MODEL_REGISTRY.register()
class RealDRCTMSEModel(RealESRNetModel):
    """DRCT's name for :class:`RealESRNetModel`."""


@MODEL_REGISTRY.register()
class RealDRCTGANModel(RealESRGANModel):
    """DRCT's name for :class:`RealESRGANModel`."""


__all__ = [
    "REAL_FIELDS",
    "RealDRCTGANModel",
    "RealDRCTMSEModel",
    "RealESRGANModel",
    "RealESRNetModel",
    "RealHATGANModel",
    "RealHATMSEModel",
    "TrainingPairPool",
    "iteration_generator",
    "paired_random_crop",
]
