"""The PyTorch trainer: distributed training equals one process with the same global batch, a
resumed run equals an uninterrupted one, a head-only fine-tune leaves the backbone as it was, and a
detector fine-tune with the recall options (--miss-weight, --small-lesion-weight) exports its last check (--select last). Needs shards from the TypeScript sampler in $ABUS_SHARDS
(models/tools/research/src/train/torch-train.test.ts makes them and runs this file)."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import unittest

import torch

SHARDS = os.environ.get('ABUS_SHARDS')
TAG = os.environ.get('ABUS_SHARDS_TAG', 'g32x16x32v2')
TORCH_DIR = os.path.join(os.path.dirname(__file__), '..')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train(out, *extra, processes=1, export=False):
    """Starts the processes with torchrun's environment contract (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR/PORT) directly: Debian's torch 1.13 torchrun fails on Python 3.11 (its
    Std.from_str returns None for every --redirects value), PyTorch 2.x's works."""
    args = [sys.executable, '-m', 'abus_torch.train', '--samples', SHARDS, '--tag', TAG, '--out', out, '--width', '4', '--lr', '0.003',
            '--min-samples', '8', '--eval-every', '1e9', '--threads', '1', *([] if export else ['--no-export']), *extra]
    port = str(free_port())
    procs = []
    for rank in range(processes):
        env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': port,
               'RANK': str(rank), 'LOCAL_RANK': str(rank), 'WORLD_SIZE': str(processes)}
        procs.append(subprocess.Popen(args, cwd=TORCH_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        if p.returncode != 0:
            raise AssertionError(f'training failed ({p.returncode}):\n{stdout}\n{stderr}')
    return torch.load(os.path.join(out, 'checkpoint.pt'))


def worst_difference(a, b):
    worst = 0.0
    for name, t in a['model'].items():
        diff = (t - b['model'][name]).abs().max().item()
        worst = max(worst, diff / max(t.abs().max().item(), 1e-12))
    return worst


@unittest.skipUnless(SHARDS, 'needs $ABUS_SHARDS: shards written by the TypeScript sampler')
class TrainerTest(unittest.TestCase):
    def test_two_gloo_processes_equal_one_with_the_same_global_batch(self):
        with tempfile.TemporaryDirectory() as tmp:
            # float64: in float32, sums that nearly cancel (the gradients of early batch-norm shifts)
            # round differently when added in another order, and Adam turns a near-zero gradient into
            # a full step: measured 1.6e-2 apart on three shifts after 3 steps, the rest within 3e-6.
            # In float64 the two runs agree to 5e-15, which is what shows the distributed code exact.
            one = train(os.path.join(tmp, 'one'), '--steps', '3', '--batch', '4', '--float64')
            two = train(os.path.join(tmp, 'two'), '--steps', '3', '--batch', '2', '--float64', processes=2)
            worst = worst_difference(one, two)
            print(f'DDP (2 gloo processes x batch 2) vs 1 process x batch 4, 3 steps: weights within {worst:.2e} relative', file=sys.stderr)
            self.assertLess(worst, 1e-5)
            # The weights moved: the comparison is not between two untouched initialisations.
            fresh = train(os.path.join(tmp, 'zero'), '--steps', '1', '--batch', '4', '--lr', '0', '--float64')
            self.assertGreater(worst_difference(one, fresh), 1e-3)

    def test_resume_continues_exactly(self):
        with tempfile.TemporaryDirectory() as tmp:
            straight = train(os.path.join(tmp, 'straight'), '--steps', '4', '--batch', '2')
            paused = train(os.path.join(tmp, 'split'), '--steps', '4', '--batch', '2', '--until-step', '2')
            self.assertEqual(paused['state']['step'], 2)
            resumed = train(os.path.join(tmp, 'split'), '--steps', '4', '--batch', '2', '--resume')
            self.assertEqual(resumed['state']['step'], 4)
            self.assertLess(worst_difference(straight, resumed), 1e-6)

    def test_head_only_fine_tune_keeps_the_backbone(self):
        with tempfile.TemporaryDirectory() as tmp:
            start = train(os.path.join(tmp, 'start'), '--steps', '1', '--batch', '2', '--lr', '0')
            tuned = train(os.path.join(tmp, 'tuned'), '--steps', '3', '--batch', '2', '--backbone-lr-scale', '0', '--cls-loss', 'bce')
            weights = [k for k in start['model'] if k.startswith('params.')]
            head = [k for k in weights if k.startswith('params.cls__')]
            self.assertTrue(head)
            moved = lambda k: (start['model'][k] - tuned['model'][k]).abs().max().item()  # noqa: E731
            self.assertEqual(max(moved(k) for k in weights if k not in head), 0.0)
            self.assertGreater(max(moved(k) for k in head), 1e-6)  # 3 warm-up steps of Adam: about 3 x lr x 2/200 each

    def test_a_detector_fine_tune_with_the_recall_options_exports_its_last_check(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'recall')
            train(out, '--steps', '3', '--batch', '2', '--val', SHARDS, '--eval-every', '0', '--select', 'last',
                  '--miss-weight', '0.7', '--small-lesion-weight', '3', '--small-lesion-ml', '100', export=True)
            with open(os.path.join(out, 'model', 'model-card.json')) as f:
                training = json.load(f)['training']
            self.assertEqual(training['steps'], 3)
            self.assertEqual([training['missWeight'], training['smallLesionWeight'], training['smallLesionMl']], [0.7, 3, 100])


if __name__ == '__main__':
    unittest.main()
