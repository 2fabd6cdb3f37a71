"""Training samples from the TypeScript sampler's shards (models/tools/research/src/train/shards.ts): a pool
that grows while the sampler writes, held on the training device in float16, from which batches
are drawn at random. No image is read or resampled here: preprocessing has one implementation."""
import json
import os

import numpy as np
import torch


class ShardPool:
    """capacity: the most samples held (newest replace oldest); None grows to hold every shard
    (validation and test sets, which are read whole)."""

    def __init__(self, folder, tag, device='cpu', capacity=4096):
        self.folder, self.tag, self.device = folder, tag, device
        self.capacity = capacity
        self.seen = set()
        self.size = 0
        self.voi = self.mask = None
        self.malignant = torch.zeros(capacity or 0, device=device)
        self.lesion = torch.zeros(capacity or 0, device=device)
        self.lesion_voxels = torch.zeros(capacity or 0, device=device)
        self.kinds = []
        self.samples_read = 0

    def refresh(self, limit=None):
        """Loads shards not seen yet (at most `limit`); once full, new samples replace the oldest.
        Returns how many samples were added."""
        names = sorted(f[:-5] for f in os.listdir(self.folder) if f.endswith('.json') and f[:-5] not in self.seen)
        added = 0
        for name in names[:limit]:
            try:
                with open(os.path.join(self.folder, name + '.json')) as f:
                    meta = json.load(f)
                files = meta['grids'].get(self.tag)
                if files is None:
                    raise ValueError(f"Shard {name} has no grid {self.tag}; it has {', '.join(meta['grids'])}")
                voi = torch.from_numpy(np.load(os.path.join(self.folder, files['voi'])))
                mask = torch.from_numpy(np.load(os.path.join(self.folder, files['mask'])))
            except FileNotFoundError:
                # The sampler removed it (it keeps only its newest shards on disk).
                self.seen.add(name)
                continue
            if self.capacity is None:
                self.grow(voi.shape[0], voi.shape[1:])
            if self.voi is None:
                shape = (self.capacity, *voi.shape[1:])
                self.voi = torch.zeros(shape, dtype=torch.float16, device=self.device)
                self.mask = torch.zeros(shape, dtype=torch.uint8, device=self.device)
            for i in range(voi.shape[0]):
                slot = self.samples_read % self.capacity if self.capacity else self.samples_read
                self.voi[slot] = voi[i].to(self.device)
                self.mask[slot] = mask[i].to(self.device)
                self.malignant[slot] = meta['malignant'][i]
                self.lesion[slot] = meta['lesion'][i]
                self.lesion_voxels[slot] = float((mask[i] > 0).sum())
                if slot < len(self.kinds):
                    self.kinds[slot] = meta['kind'][i]
                else:
                    self.kinds.append(meta['kind'][i])
                self.samples_read += 1
                added += 1
            self.size = min(self.samples_read, self.capacity) if self.capacity else self.samples_read
            self.seen.add(name)
        return added

    def grow(self, n, shape):
        old = self.samples_read
        voi = torch.zeros((old + n, *shape), dtype=torch.float16, device=self.device)
        mask = torch.zeros((old + n, *shape), dtype=torch.uint8, device=self.device)
        if old:
            voi[:old], mask[:old] = self.voi, self.mask
        self.voi, self.mask = voi, mask
        self.malignant = torch.cat([self.malignant, torch.zeros(n, device=self.device)])
        self.lesion = torch.cat([self.lesion, torch.zeros(n, device=self.device)])
        self.lesion_voxels = torch.cat([self.lesion_voxels, torch.zeros(n, device=self.device)])

    def counts(self):
        lesion = self.lesion[: self.size] > 0.5
        malignant = int((self.malignant[: self.size] > 0.5)[lesion].sum())
        return {'samples': self.size, 'lesions': int(lesion.sum()), 'malignant': malignant, 'benign': int(lesion.sum()) - malignant}

    def take(self, index):
        """voi [n, 1, d, h, w], mask likewise, label and lesion [n, 1], in the default float type."""
        dtype = torch.get_default_dtype()
        return (self.voi[index].unsqueeze(1).to(dtype), self.mask[index].unsqueeze(1).to(dtype),
                self.malignant[index].unsqueeze(1).to(dtype), self.lesion[index].unsqueeze(1).to(dtype))
