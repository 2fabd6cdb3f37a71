"""The detector's training options (abus_torch.train --miss-weight, --small-lesion-weight): the
soft Dice with a weight on missed voxels, and the pool's count of each VOI's lesion voxels."""
import json
import os
import tempfile
import unittest

import numpy as np
import torch

from abus_torch.data import ShardPool
from abus_torch.losses import dice_loss


class DetectorTrainingTest(unittest.TestCase):
    def test_miss_weight_half_is_dice_and_more_weighs_a_miss_above_a_false_voxel(self):
        torch.manual_seed(0)
        prob = torch.rand(3, 1, 4, 4, 4)
        truth = (torch.rand(3, 1, 4, 4, 4) > 0.6).float()
        self.assertAlmostEqual(float(dice_loss(prob, truth)), float(dice_loss(prob, truth, miss_weight=0.5000001)), places=5)
        truth = torch.zeros(1, 1, 4, 4, 4)
        truth[0, 0, :2] = 1
        missing = truth.clone()
        missing[0, 0, 0] = 0      # half the lesion missed (16 voxels)
        extra = truth.clone()
        extra[0, 0, 2] = 1        # 16 false voxels
        def ratio(w):
            return float(dice_loss(missing, truth, miss_weight=w)) / float(dice_loss(extra, truth, miss_weight=w))
        self.assertGreater(ratio(0.7), 1.5 * ratio(0.5))

    def test_the_pool_counts_each_vois_lesion_voxels(self):
        with tempfile.TemporaryDirectory() as folder:
            voi = np.zeros((3, 4, 4, 4), np.float16)
            mask = np.zeros((3, 4, 4, 4), np.uint8)
            mask[1, :2, :2, :2] = 1
            mask[2, :, :, :3] = 1
            np.save(os.path.join(folder, 's.g4v1.voi.npy'), voi)
            np.save(os.path.join(folder, 's.g4v1.mask.npy'), mask)
            with open(os.path.join(folder, 's.json'), 'w') as f:
                json.dump({'malignant': [0, 0, 1], 'lesion': [0, 1, 1], 'kind': ['gland', 'lesion', 'lesion'],
                           'grids': {'g4v1': {'voi': 's.g4v1.voi.npy', 'mask': 's.g4v1.mask.npy'}}}, f)
            pool = ShardPool(folder, 'g4v1', capacity=None)
            pool.refresh()
            self.assertEqual(pool.lesion_voxels.tolist(), [0, 8, 48])


if __name__ == '__main__':
    unittest.main()
