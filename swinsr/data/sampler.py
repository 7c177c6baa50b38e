"""A resumable, distributed, enlargeable training sampler.

It yields ``(index, seed)`` pairs: the dataset draws every random choice of the sample (crop,
flip, noise) from ``seed``. The order and the seeds depend only on ``(seed, epoch)``, so a run
resumed in the middle of an epoch (``set_epoch(epoch, skip=...)``) sees exactly the samples of an
uninterrupted one, whatever the number of workers.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
from torch.utils.data import Sampler


class EnlargedSampler(Sampler):
    """Shuffle ``dataset_len * ratio`` positions per epoch and give rank ``rank`` every ``num_replicas``-th.

    ``ratio`` (BasicSR's ``dataset_enlarge_ratio``) makes an epoch visit each image several
    times, which saves loader restarts on small sets.
    """

    def __init__(self, dataset_len: int, num_replicas: int = 1, rank: int = 0, ratio: int = 1, shuffle: bool = True, seed: int = 0):
        if dataset_len <= 0:
            raise ValueError("the training dataset is empty")
        self.dataset_len = dataset_len
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.total_size = int(math.ceil(dataset_len * ratio / num_replicas)) * num_replicas
        self.num_samples = self.total_size // num_replicas
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch; ``skip`` leaves out this rank's first ``skip`` samples (resuming)."""
        self.epoch = epoch
        self.skip = skip

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.total_size) if self.shuffle else np.arange(self.total_size)
        seeds = rng.integers(0, 2**62, size=self.total_size)
        mine = np.arange(self.rank, self.total_size, self.num_replicas)[self.skip :]
        for pos in mine:
            yield int(order[pos]) % self.dataset_len, int(seeds[pos])

    def __len__(self) -> int:
        return self.num_samples - self.skip
