"""Image classification training for the Swin Transformer V1/V2 classifiers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ...errors import OptionError
from ...losses import build_loss
from ..schema import Field
from .base import BaseModel
from .registry import MODEL_REGISTRY

CLASSIFIERS = ("SwinTransformer", "SwinTransformerV2")
DEFAULT_LOSS = {"type": "CrossEntropyLoss", "label_smoothing": 0.1}


def _no_decay_names(net: torch.nn.Module) -> tuple[set[str], set[str]]:
    names = set(net.no_weight_decay()) if hasattr(net, "no_weight_decay") else set()
    keywords = set(net.no_weight_decay_keywords()) if hasattr(net, "no_weight_decay_keywords") else set()
    return names, keywords


@MODEL_REGISTRY.register()
class ClassificationModel(BaseModel):
    """Cross-entropy (``train.loss_opt``, default label smoothing 0.1) on ``ImageFolderDataset`` batches.

    As in the reference Swin recipe, norms, biases, position-bias tables and the other
    parameters the network lists in ``no_weight_decay*`` get no weight decay. Validation
    reports top-k accuracy in percent (``val.metrics.<name>: {type: accuracy, topk: 1}``).
    """

    TRAIN_FIELDS = {"loss_opt": Field((dict,), dict(DEFAULT_LOSS))}
    METRICS = ("accuracy",)

    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], warn: Callable[[str], None]) -> None:
        super().check_train_options(train, warn)
        build_loss(train["loss_opt"], "train.loss_opt")

    @classmethod
    def check_options(cls, opt: Mapping[str, Any], warn: Callable[[str], None]) -> None:
        if opt["network_g"]["type"] not in CLASSIFIERS:
            raise OptionError(f"network_g.type: ClassificationModel trains {', '.join(CLASSIFIERS)}, got {opt['network_g']['type']!r}")
        for key, d in opt["datasets"].items():
            if d["type"] != "ImageFolderDataset":
                raise OptionError(f"datasets.{key}.type: ClassificationModel needs ImageFolderDataset, got {d['type']!r}")

    def check_dataset(self, dataset: Any) -> None:
        classes = getattr(dataset, "classes", None)
        n_out = getattr(self.net_g, "num_classes", None) or self.net_g.config.get("num_classes")
        if classes is not None and n_out is not None and len(classes) > n_out:
            raise OptionError(f"network_g.num_classes: {n_out} outputs but the dataset has {len(classes)} classes")

    def parameter_groups(self, optim_opt: Mapping[str, Any]) -> list[dict[str, Any]]:
        skip, keywords = _no_decay_names(self.net_g)
        decay, no_decay = [], []
        for name, p in self.net_g.named_parameters():
            if not p.requires_grad:
                continue
            if p.ndim == 1 or name.endswith(".bias") or name in skip or any(k in name for k in keywords):
                no_decay.append(p)
            else:
                decay.append(p)
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    def setup_losses(self, train: Mapping[str, Any]) -> None:
        self.cri_cls = build_loss(train["loss_opt"], "train.loss_opt").to(self.device)

    def compute_losses(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        logits = self.net_train(self.to_device(batch["img"])).float()
        return {"l_ce": self.cri_cls(logits, batch["label"].to(self.device))}

    @torch.no_grad()
    def validation(self, loader: Any, it: int, save_dir: str | Path | None = None) -> dict[str, float]:
        metrics = (self.opt.get("val") or {}).get("metrics") or {"top1": {"type": "accuracy", "topk": 1}}
        net = self.eval_net
        was_training = net.training
        net.eval()
        correct = {name: 0 for name in metrics}
        total = 0
        for batch in loader:
            with self.autocast():
                logits = net(self.to_device(batch["img"])).float()
            labels = batch["label"].to(self.device)
            for name, m in metrics.items():
                k = min(int(m.get("topk", 1)), logits.shape[1])
                top = logits.topk(k, dim=1).indices
                correct[name] += int((top == labels[:, None]).any(dim=1).sum())
            total += labels.numel()
        net.train(was_training)
        return {name: 100.0 * c / max(total, 1) for name, c in correct.items()}
