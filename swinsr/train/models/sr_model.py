"""Image restoration training (SR, denoising, JPEG artifact removal): SRModel / SwinIRModel."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ...data.io import to_uint8, write_image
from ...errors import OptionError
from ...losses import build_loss
from ..schema import Field
from .base import BaseModel
from .registry import MODEL_REGISTRY

log = logging.getLogger("swinsr.train")

SR_METRICS = ("calculate_psnr", "calculate_ssim")


def _metric_fn(name: str) -> Callable[..., float]:
    from ... import metrics

    return getattr(metrics, name)


@MODEL_REGISTRY.register()
class SRModel(BaseModel):
    """Pixel loss (``train.pixel_opt``) plus an optional perceptual loss (``train.perceptual_opt``).

    Validation runs the EMA network (when ``ema_decay > 0``) on whole images — the network pads
    its input to the window size itself — or, with a top-level ``tile`` section, tile by tile
    through :class:`swinsr.Upscaler`; optionally with x8 self-ensemble, rounds to
    ``uint8`` and scores with :mod:`swinsr.metrics`.
    """

    TRAIN_FIELDS = {
        "pixel_opt": Field((dict,), None, nullable=True),
        "perceptual_opt": Field((dict,), None, nullable=True),
    }
    METRICS = SR_METRICS

    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], warn: Callable[[str], None]) -> None:
        super().check_train_options(train, warn)
        if not train.get("pixel_opt") and not train.get("perceptual_opt"):
            raise OptionError("train.pixel_opt: missing; at least one of pixel_opt / perceptual_opt is needed")
        if train.get("pixel_opt"):
            build_loss(train["pixel_opt"], "train.pixel_opt")
        if train.get("perceptual_opt"):
            from ...losses.perceptual import check_perceptual_options

            check_perceptual_options(train["perceptual_opt"], "train.perceptual_opt")

    @classmethod
    def check_options(cls, opt: Mapping[str, Any], warn: Callable[[str], None]) -> None:
        from ...archs.contract import SRModel as ImageModel
        from .base import build_network

        # the network's own contract says what it does (building one is cheap next to training);
        # unknown network_g keys were already warned about and are ignored, as the references do
        net = build_network(opt["network_g"])
        if not isinstance(net, ImageModel):
            raise OptionError(f"network_g.type: {opt['network_g']['type']} is not an image-to-image model; use ClassificationModel")
        if net.scale != opt["scale"]:
            raise OptionError(f"scale: {opt['scale']} does not match the x{net.scale} network_g ({opt['network_g']['type']})")
        in_chans = int(net.in_chans)
        for key, d in opt["datasets"].items():
            channels = 1 if d.get("color") == "gray" else 3
            if channels != in_chans:
                raise OptionError(f"datasets.{key}.color: {d.get('color')!r} images have {channels} channel(s) but network_g.in_chans is {in_chans}")

    def setup_losses(self, train: Mapping[str, Any]) -> None:
        self.cri_pix = build_loss(train["pixel_opt"], "train.pixel_opt").to(self.device) if train.get("pixel_opt") else None
        self.cri_perceptual = None
        if train.get("perceptual_opt"):
            self.cri_perceptual = build_loss(train["perceptual_opt"], "train.perceptual_opt").to(self.device)

    def compute_losses(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        lq, gt = self.to_device(batch["lq"]), self.to_device(batch["gt"])
        out = self.net_train(lq)
        if isinstance(out, tuple):  # Swin2SR 'pixelshuffle_aux': (sr, aux)
            out = out[0]
        out = out.float()
        losses: dict[str, torch.Tensor] = {}
        if self.cri_pix is not None:
            losses["l_pix"] = self.cri_pix(out, gt)
        if self.cri_perceptual is not None:
            percep, style = self.cri_perceptual(out, gt)
            if percep is not None:
                losses["l_percep"] = percep
            if style is not None:
                losses["l_style"] = style
        return losses

    @torch.no_grad()
    def restore(self, lq: torch.Tensor) -> torch.Tensor:
        """Run the evaluation network on a batch (self-ensemble when ``val.self_ensemble``)."""
        net = self.eval_net
        was_training = net.training
        net.eval()

        def forward(x: torch.Tensor) -> torch.Tensor:
            with self.autocast():
                y = net(x)
            return (y[0] if isinstance(y, tuple) else y).float()

        ensemble = bool((self.opt.get("val") or {}).get("self_ensemble"))
        tile = self.opt.get("tile")
        if tile:
            out = self._restore_tiled(net, lq, tile, ensemble)
        elif ensemble:
            from ...inference.ensemble import self_ensemble

            out = self_ensemble(forward, lq)
        else:
            out = forward(lq)
        net.train(was_training)
        return out

    def _restore_tiled(self, net: torch.nn.Module, lq: torch.Tensor, tile: Mapping[str, Any], ensemble: bool) -> torch.Tensor:
        """The top-level ``tile`` section (HAT's ``tile_size`` / ``tile_pad``): run ``net`` through
        :class:`swinsr.Upscaler` tile by tile, at the training precision; the result is on the CPU,
        clamped to [0, 1] (validation rounds to ``uint8`` anyway)."""
        from ...inference.upscaler import Upscaler

        up = Upscaler(
            net.module if isinstance(net, torch.nn.parallel.DistributedDataParallel) else net,
            tile=tile["tile_size"], tile_overlap=tile["tile_pad"], device=self.device,
            precision="bf16" if self.use_amp else "fp32", ensemble=ensemble,
        )
        return up.upscale_tensor(lq)

    def validation(self, loader: Any, it: int | None, save_dir: str | Path | None = None) -> dict[str, float]:
        """Average metric values over ``loader`` (one image per batch); saves outputs to ``save_dir``
        (``<stem>/<stem>_<it>.png``, or ``<stem><val.suffix>.png`` when ``it`` is ``None``).

        Batches without ``'gt'`` (an LQ-only test set) are only restored and saved: the result is
        then ``{}``.
        """
        metrics = (self.opt.get("val") or {}).get("metrics") or {}
        suffix = (self.opt.get("val") or {}).get("suffix") or ""
        totals = {name: 0.0 for name in metrics}
        count = 0
        for batch in loader:
            sr = to_uint8(self.restore(self.to_device(batch["lq"])))
            if "gt" in batch:  # an LQ-only test set has nothing to score against: outputs are only saved
                gt = to_uint8(batch["gt"])
                for name, mopt in metrics.items():
                    fn = _metric_fn(mopt["type"])
                    totals[name] += fn(sr, gt, crop_border=mopt["crop_border"], test_y_channel=mopt["test_y_channel"])
                count += 1
            if save_dir is not None:
                stem = Path(batch["lq_path"][0]).stem
                # during training one folder per image collects its iterations; a test run writes flat files
                out = Path(save_dir) / (f"{stem}{suffix}.png" if it is None else f"{stem}/{stem}_{it}.png")
                write_image(out, sr)
        return {name: total / count for name, total in totals.items()} if count else {}


@MODEL_REGISTRY.register()
class SwinIRModel(SRModel):
    """SwinIR's name for :class:`SRModel` (the network already pads to the window size)."""


@MODEL_REGISTRY.register()
class HATModel(SRModel):
    """HAT's name for :class:`SRModel` (the network pads to its window multiple itself, as HAT's pre_process)."""


@MODEL_REGISTRY.register()
class DRCTModel(SRModel):
    """DRCT's name for :class:`SRModel` (the network pads to its window multiple itself)."""


@MODEL_REGISTRY.register()
class DATModel(SRModel):
    """DAT's name for :class:`SRModel` (the network pads inside its attention; ``val.use_chop`` is not needed: use tiling)."""
