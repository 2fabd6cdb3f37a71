"""Times the PyTorch trainer's step (CMSVNetIter, Adam, the multi-task loss, batch-norm moving
statistics) on random data; prints one JSON line. Called by `npm run bench:train -- --torch`,
which times the TypeScript trainer on the same configuration in the same run.
On a CPU it times the plain path and the fast one (CMSVNet fast=True) in the same run, one step
of each in turn, so that other work on a shared machine slows both alike."""
import argparse
import json
import time

import torch

from .config import variant_config
from .losses import class_weights, multi_task_loss
from .network import CMSVNet


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--width', type=int, default=8)
    p.add_argument('--grid', default='32,16,32', help='x,y,z as the TypeScript side gives it')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--device', default='auto')
    p.add_argument('--bf16', action='store_true')
    p.add_argument('--threads', type=int)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cuda = torch.cuda.is_available() and a.device in ('auto', 'cuda')
    device = torch.device('cuda' if cuda else 'cpu')
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    gx, gy, gz = (int(v) for v in a.grid.split(','))
    config = variant_config('cmsvnetiter', baseWidth=a.width)
    g = torch.Generator().manual_seed(1)
    voi = torch.randn((a.batch, 1, gz, gy, gx), generator=g).to(device)
    mask = (torch.rand((a.batch, 1, gz, gy, gx), generator=g) > 0.7).float().to(device)
    label = (torch.arange(a.batch) % 2).float().reshape(-1, 1).to(device)
    weights = class_weights(1, 1)
    autocast = torch.autocast('cuda', dtype=torch.bfloat16) if (cuda and a.bf16) else torch.autocast('cpu', enabled=False)

    def trainer(fast):
        model = CMSVNet(config, seed=1, fast=fast).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            with autocast:
                passes = model(voi)
            loss = multi_task_loss(config, passes, mask=mask, label=label, weights=weights)
            optimizer.zero_grad(set_to_none=True)
            loss['total'].backward()
            optimizer.step()
            model.update_moving_stats()
            if cuda:
                torch.cuda.synchronize()
        return step

    paths = {'plain': trainer(False)} if cuda else {'plain': trainer(False), 'fast': trainer(True)}
    for step in paths.values():
        step()  # warm-up: cuDNN algorithm choice, allocations
    times = {name: [] for name in paths}
    for _ in range(a.steps):
        for name, step in paths.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    ms = {name: 1000 * sorted(t)[len(t) // 2] for name, t in times.items()}
    best = min(ms.values())
    print(json.dumps({'device': torch.cuda.get_device_name(0) if cuda else f'cpu, {torch.get_num_threads()} threads', 'torch': torch.__version__,
                      'bf16': bool(cuda and a.bf16), 'msPerStep': best, 'samplesPerS': a.batch * 1000 / best,
                      'paths': {name: {'msPerStep': v, 'samplesPerS': a.batch * 1000 / v} for name, v in ms.items()}}))


if __name__ == '__main__':
    main()
