"""Times the PyTorch trainer's step (CMSVNetIter, Adam, the multi-task loss, batch-norm moving
statistics) on random data; prints one JSON line. Called by `npm run bench:train -- --torch`,
which times the TypeScript trainer on the same configuration in the same run."""
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
    model = CMSVNet(config, seed=1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    voi = torch.randn((a.batch, 1, gz, gy, gx), generator=g).to(device)
    mask = (torch.rand((a.batch, 1, gz, gy, gx), generator=g) > 0.7).float().to(device)
    label = (torch.arange(a.batch) % 2).float().reshape(-1, 1).to(device)
    weights = class_weights(1, 1)
    autocast = torch.autocast('cuda', dtype=torch.bfloat16) if (cuda and a.bf16) else torch.autocast('cpu', enabled=False)

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

    step()  # warm-up: cuDNN algorithm choice, allocations
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    ms = 1000 * times[len(times) // 2]
    print(json.dumps({'device': torch.cuda.get_device_name(0) if cuda else f'cpu, {torch.get_num_threads()} threads', 'torch': torch.__version__,
                      'bf16': bool(cuda and a.bf16), 'msPerStep': ms, 'samplesPerS': a.batch * 1000 / ms}))


if __name__ == '__main__':
    main()
