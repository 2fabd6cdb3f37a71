"""Fitting a classification head on cached features (abus_torch.head), and starting a fine-tune
from a folded model (CMSVNet.load_folded): the same function as the model it came from."""
import unittest

import numpy as np
import torch

from abus_torch.config import variant_config
from abus_torch.head import fit_head
from abus_torch.network import CMSVNet


class HeadTest(unittest.TestCase):
    def test_fit_head_learns_a_signal_and_keeps_its_best_validation_step(self):
        rng = np.random.default_rng(1)
        def features(n):
            y = (rng.random(n) < 0.5).astype(np.float32)
            x = rng.normal(size=(n, 12)).astype(np.float32)
            x[:, 3] += 1.5 * (2 * y - 1)  # one feature carries the class
            return x, y
        x, y = features(200)
        xv, yv = features(100)
        (val_auc, step, weights), history = fit_head(x, y, xv, yv, hidden=8, steps=300, seed=2)
        self.assertGreater(val_auc, 0.9)
        self.assertEqual(val_auc, max(v for _, _, v in history))
        self.assertEqual(list(weights['cls/fc1/kernel'].shape), [12, 8])
        self.assertEqual(list(weights['cls/fc2/kernel'].shape), [8, 1])

    def test_a_folded_model_loads_as_the_same_function_with_frozen_batch_norm(self):
        torch.manual_seed(0)
        config = variant_config('cmsvnetiter', baseWidth=4)
        trained = CMSVNet(config, seed=3)
        with torch.no_grad():
            for name, p in trained.named_weights().items():
                if name.endswith('/bn/moving_variance'):
                    p.copy_(0.5 + torch.rand(p.shape))
                elif name.endswith('/bn/moving_mean') or name.endswith('/bn/beta'):
                    p.copy_(0.1 * torch.randn(p.shape))
        trained.eval()
        voi = torch.randn(1, 1, 32, 16, 32)
        expected = trained(voi)[-1]
        again = CMSVNet(config)
        again.load_folded(trained.folded_weights())
        again.frozen_bn = True
        again.train()  # frozen batch norm: training mode computes the same function
        got = again(voi)[-1]
        self.assertLess(float((got['seg_prob'] - expected['seg_prob']).abs().max()), 1e-4)
        self.assertLess(float((got['cls_prob'] - expected['cls_prob']).abs().max()), 1e-4)
        self.assertEqual(again.batch_moments, {})


if __name__ == '__main__':
    unittest.main()
