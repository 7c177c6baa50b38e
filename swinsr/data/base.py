"""Option fields shared by all datasets and a small base class declaring them."""

from __future__ import annotations

from typing import Any, Mapping

from torch.utils.data import Dataset

from ..train.schema import Field
from .io import COLORS

LOADER_FIELDS: dict[str, Field] = {
    "name": Field((str,), None, help="a label used in logs"),
    "type": Field((str,)),
    "phase": Field((str,), "train", choices=("train", "val", "test")),
    "scale": Field((int,), 1),
    "io_backend": Field((dict,), {"type": "disk"}),
    "num_worker_per_gpu": Field((int,), 0),
    "batch_size_per_gpu": Field((int,), 1),
    "use_shuffle": Field((bool,), True),
    "dataset_enlarge_ratio": Field((int,), 1),
    "prefetch_mode": Field((str,), None, nullable=True, choices=(None, "cpu", "cuda")),
    "pin_memory": Field((bool,), None, nullable=True, help="default: on when training on CUDA"),
    "persistent_workers": Field((bool,), True),
    "cache": Field((bool, str), "auto", choices=(True, False, "auto"), help="keep decoded images in memory"),
    "cache_gb": Field((float,), 4.0),
    "color": Field((str,), "rgb", choices=COLORS),
}
"""Keys every ``datasets.<phase>`` section may use (BasicSR names)."""

AUGMENT_FIELDS: dict[str, Field] = {
    "gt_size": Field((int,), None, nullable=True, help="training patch size on the GT side"),
    "use_hflip": Field((bool,), True),
    "use_rot": Field((bool,), True),
    "meta_info_file": Field((str,), None, nullable=True, path="file"),
}


class OptionDataset(Dataset):
    """A dataset built from its option section; subclasses list their own keys in ``FIELDS``."""

    FIELDS: dict[str, Field] = {}
    HAS_GT: bool = True
    """Whether samples carry a ``'gt'`` image; metrics (validation, the test script) need one."""

    @classmethod
    def option_fields(cls) -> dict[str, Field]:
        """All keys this dataset understands (loader keys + its own)."""
        return {**LOADER_FIELDS, **cls.FIELDS}

    def __init__(self, opt: Mapping[str, Any]):
        self.opt = dict(opt)
        self.phase = self.opt.get("phase", "train")
        self.is_train = self.phase == "train"
