"""Training at scale: the PyTorch twin on the TypeScript sampler's shards.

One process, or several through torchrun (DistributedDataParallel; NCCL on GPUs, gloo on CPUs).
Batch norm then uses the moments of the global batch, so N processes with batch B train exactly
as one process with batch N*B. bf16 autocast and TF32 on GPUs. A checkpoint and a JSON log line
at every evaluation; --resume continues from the last checkpoint; the best evaluation's weights
are exported, batch norm folded, in the project's format (out/model), for the TypeScript engine.

Usually started by `abus-ai train --engine torch`, which also starts the sampler.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from .config import LOSS, SIZE_MULTIPLE, variant_config
from .data import ShardPool
from .detector import coarse
from .losses import class_weights, multi_task_loss
from .network import CMSVNet
from .weights_io import read_model_folder, write_model_folder


def parse_tag(tag):
    """'g64x32x64v1' -> ([64, 32, 64], 1.0), as gridTag in shards.ts writes it."""
    grid, voxel = tag[1:].split('v')
    return [int(n) for n in grid.split('x')], float(voxel)


def auc(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def log(rank, message):
    if rank == 0:
        print(f'abus-torch: {message}', file=sys.stderr, flush=True)


@torch.no_grad()
def evaluate(model, pool, device, batch=8, cube=1):
    """Model selection on the validation shards (network grid): DSC of lesion VOIs, AUC, and how
    often a negative VOI's centre stays below threshold (a 5-voxel cube around the click)."""
    model.eval()
    dscs, probs, labels, clear = [], [], [], []
    for start in range(0, pool.size, batch):
        index = torch.arange(start, min(pool.size, start + batch), device=pool.device)
        voi, mask, label, lesion = coarse(pool.take(index), cube)
        passes = model(voi.to(device))
        last = passes[-1]
        for i in range(voi.shape[0]):
            is_lesion = lesion[i, 0] > 0.5
            if 'seg_prob' in last:
                p = (last['seg_prob'][i, 0] >= 0.5).float()
                if is_lesion:
                    g = mask[i, 0].to(device)
                    dscs.append(float(2 * (p * g).sum() / (p.sum() + g.sum()).clamp_min(1)))
                else:
                    d, h, w = p.shape
                    clear.append(float(p[d // 2 - 2:d // 2 + 3, h // 2 - 2:h // 2 + 3, w // 2 - 2:w // 2 + 3].max() < 0.5))
            if 'cls_prob' in last and is_lesion:
                probs.append(float(last['cls_prob'][i, 0]))
                labels.append(int(label[i, 0] > 0.5))
    model.train()
    out = {}
    if dscs:
        out['val_dsc'] = float(np.mean(dscs))
    if clear:
        out['val_negative_clear'] = float(np.mean(clear))
    a = auc(labels, probs)
    if a is not None:
        out['val_auc'] = a
    return out


def score(metrics):
    parts = [metrics[k] for k in ('val_dsc', 'val_auc', 'val_negative_clear') if k in metrics]
    return sum(parts) / len(parts) if parts else 0.0


def learning_rate(base, progress, step, warmup=200):
    """Linear warm-up, then cosine decay to 2% of the base rate over the run (steps or minutes)."""
    warm = min(1.0, (step + 1) / warmup)
    return base * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--samples', required=True, help='shard folder the sampler writes (read as it grows)')
    parser.add_argument('--val', help='validation shard folder (read again at each evaluation while it is written)')
    parser.add_argument('--val-count', type=int, default=0, help='select the best model only on evaluations that saw this many validation VOIs')
    parser.add_argument('--tag', required=True, help="grid tag in the shards, e.g. g64x32x64v1")
    parser.add_argument('--out', required=True, help='run folder: log.jsonl, checkpoint.pt, model/')
    parser.add_argument('--variant', default='cmsvnetiter')
    parser.add_argument('--width', type=int, default=16)
    parser.add_argument('--batch', type=int, default=4, help='per process')
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--lambda', dest='lam', type=float, default=LOSS['lambda'])
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--cls-loss', choices=['focal', 'bce'], default='focal', help="the paper's class-weighted focal loss, or class-weighted cross-entropy (about 20x the head's gradient)")
    parser.add_argument('--backbone-lr-scale', type=float, default=1.0, help='learning rate of every weight outside the classification head, relative to --lr (a fine-tune that should keep the segmentation)')
    parser.add_argument('--steps', type=int, help='stop after this many steps')
    parser.add_argument('--minutes', type=float, help='stop after this much wall-clock time (evaluations included); the learning rate decays over it')
    parser.add_argument('--until-step', type=int, help='pause after this step (checkpointed); --resume continues the same run')
    parser.add_argument('--eval-every', type=float, default=60, help='seconds between evaluations and checkpoints')
    parser.add_argument('--capacity', type=int, default=4096, help='samples held in the pool (newest replace oldest)')
    parser.add_argument('--min-samples', type=int, default=64, help='samples in the pool before the first step')
    parser.add_argument('--test', help='held-out shard folder: the best model is scored on it at the end (test-metrics.json)')
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--init', help='start from this trained model folder (folded weights; its batch norms stay frozen) instead of random weights')
    parser.add_argument('--cls-pooling', choices=['global', 'lesion'], help="architecture.json's clsPooling (default: the variant's, or --init's)")
    parser.add_argument('--bf16', action='store_true', help='bf16 autocast (GPU)')
    parser.add_argument('--tf32', action='store_true', help='TF32 matmul and convolutions (GPU)')
    parser.add_argument('--float16-weights', action='store_true', help='export float16 shards (half the size)')
    parser.add_argument('--float64', action='store_true', help='exactness checks: float32 rounding in near-cancelling sums moves some batch-norm shifts by 1e-2 relative between runs')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--threads', type=int, help='CPU threads per process')
    parser.add_argument('--provenance', default='{}', help='JSON merged into the model card\'s training record')
    parser.add_argument('--no-export', action='store_true', help='tests: no model folder')
    parser.add_argument('--miss-weight', type=float, default=0.5, help="weight of missed lesion voxels in the soft Dice (Tversky), false ones weigh 1 minus it; 0.5 is Dice")
    parser.add_argument('--small-lesion-weight', type=float, default=1.0, help='draw VOIs whose lesion is under --small-lesion-ml this many times as often (small lesions are what a detector misses)')
    parser.add_argument('--small-lesion-ml', type=float, default=0.5)
    parser.add_argument('--select', choices=['best', 'last'], default='best', help="the model exported: the best validation check (DSC, AUC, clear negatives), or the last one (a loss whose aim these do not measure, such as --miss-weight; choose it by validation FROC on volumes instead)")
    parser.add_argument('--input-pool', type=int, default=1, help='average each VOI (and its mask, kept where at least half a cell) over cubes of this many voxels first: a coarse network on the shards\' grid, such as the whole-volume detector (2: the 1 mm shards at 2 mm)')
    args = parser.parse_args(argv)
    if not args.steps and not args.minutes:
        parser.error('give --steps or --minutes')

    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local = int(os.environ.get('LOCAL_RANK', '0'))
    cuda = torch.cuda.is_available() and args.device in ('auto', 'cuda')
    device = torch.device(f'cuda:{local}' if cuda else 'cpu')
    if args.threads:
        torch.set_num_threads(args.threads)
    if world > 1:
        dist.init_process_group('nccl' if cuda else 'gloo')
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    torch.manual_seed(args.seed)
    if args.float64:
        torch.set_default_dtype(torch.float64)
    grid, voxel_mm = parse_tag(args.tag)
    shard_voxel_ml = voxel_mm ** 3 / 1000
    if args.input_pool > 1:
        if any(g % (args.input_pool * SIZE_MULTIPLE) for g in grid):
            parser.error(f'--input-pool {args.input_pool}: the grid {grid} does not stay a multiple of {SIZE_MULTIPLE}')
        read_voxel_mm, grid, voxel_mm = voxel_mm, [g // args.input_pool for g in grid], voxel_mm * args.input_pool
    overrides = {'baseWidth': args.width}
    init = None
    if args.init:
        init_card, init = read_model_folder(args.init)
        overrides = {k: v for k, v in init_card['architecture'].items() if k != 'variant'}
        args.variant = init_card['architecture']['variant']
    if args.cls_pooling:
        overrides['clsPooling'] = args.cls_pooling
    config = variant_config(args.variant, **overrides)
    # On a CPU the oneDNN-friendly path (network.py CMSVNet fast), equal to the plain one.
    model = CMSVNet(config, seed=args.seed, fast=not cuda)
    if init is not None:
        model.load_folded({k: torch.from_numpy(v.copy()) for k, v in init.items()})
        model.frozen_bn = True
    model = model.to(device)
    if world > 1:
        model.sync_group = dist.group.WORLD
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if cuda else None, broadcast_buffers=False)
    else:
        net = model
    head = [p for name, p in model.params.items() if name.startswith('cls__')]
    backbone = [p for name, p in model.params.items() if not name.startswith('cls__')]
    optimizer = torch.optim.Adam([{'params': head, 'scale': 1.0}, {'params': backbone, 'scale': args.backbone_lr_scale}], lr=args.lr)
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, 'checkpoint.pt')
    log_file = os.path.join(args.out, 'log.jsonl')
    state = {'step': 0, 'seconds': 0.0, 'best': -1.0, 'samples': 0}
    generator = torch.Generator().manual_seed(args.seed)
    if args.resume and os.path.exists(checkpoint):
        saved = torch.load(checkpoint, map_location=device)
        model.load_state_dict(saved['model'])
        if len(saved['optimizer']['param_groups']) == len(optimizer.param_groups):
            optimizer.load_state_dict(saved['optimizer'])
        else:
            # A checkpoint from before the head and the backbone had groups of their own: the
            # weights go on from it, Adam's moments start again.
            log(rank, 'the checkpoint has one optimizer group (an older trainer): Adam restarts from its weights')
        # The scales given now, not the saved ones (load_state_dict keeps a group's saved settings).
        for group, scale in zip(optimizer.param_groups, [1.0, args.backbone_lr_scale]):
            group['scale'] = scale
        state = saved['state']
        generator.set_state(saved['generator'])
        log(rank, f"resuming at step {state['step']} ({state['seconds'] / 60:.1f} min trained)")
    elif rank == 0 and os.path.exists(log_file):
        os.remove(log_file)

    pool = ShardPool(args.samples, args.tag, device=device, capacity=args.capacity)
    # The validation shards may still be being written: each evaluation reads what has come since.
    val = ShardPool(args.val, args.tag, device=device, capacity=None) if args.val and rank == 0 else None
    while pool.size < args.min_samples:
        if pool.refresh() == 0:
            time.sleep(0.5)
    autocast = torch.autocast('cuda', dtype=torch.bfloat16) if (cuda and args.bf16) else torch.autocast('cpu', enabled=False)

    def weights_now():
        counts = torch.tensor([pool.counts()['malignant'], pool.counts()['benign']], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(counts)
        return class_weights(float(counts[0]), float(counts[1]))

    weights = weights_now()
    log(rank, f"{args.variant} width {args.width} on {args.tag}, {world} process(es) x batch {args.batch} on {device}"
              f"{' bf16' if args.bf16 and cuda else ''}{' tf32' if args.tf32 and cuda else ''}; pool {pool.counts()}")

    def progress():
        parts = []
        if args.steps:
            parts.append(state['step'] / args.steps)
        if args.minutes:
            parts.append(state['seconds'] / (60 * args.minutes))
        return max(parts)

    def save(metrics, best):
        if rank != 0:
            return
        tmp = checkpoint + '.tmp'
        torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'state': state, 'generator': generator.get_state()}, tmp)
        os.replace(tmp, checkpoint)
        line = {'step': state['step'], 'samples': state['samples'], 'minutes': round(state['seconds'] / 60, 3), **metrics, 'best': best}
        with open(log_file, 'a') as f:
            f.write(json.dumps(line) + '\n')
        if best and not args.no_export:
            card = {
                'name': f"{args.variant}-abus", 'version': '0.2.0', 'architecture': config,
                'input': {'grid': grid, 'voxelMm': voxel_mm, 'voiMm': [g * voxel_mm for g in grid], 'normalization': 'zscore-voi',
                          **({'readVoxelMm': read_voxel_mm} if args.input_pool > 1 else {})},
                'decisionThreshold': 0.5,
                'training': {**json.loads(args.provenance), 'engine': f'PyTorch {torch.__version__}', 'device': str(torch.cuda.get_device_name(device) if cuda else 'cpu'),
                             'processes': world, 'batchPerProcess': args.batch, 'learningRate': args.lr, 'backboneLrScale': args.backbone_lr_scale, 'clsLoss': args.cls_loss, 'lambda': args.lam, 'seed': args.seed,
                             **({'missWeight': args.miss_weight} if args.miss_weight != 0.5 else {}),
                             **({'smallLesionWeight': args.small_lesion_weight, 'smallLesionMl': args.small_lesion_ml} if args.small_lesion_weight != 1 else {}),
                             'steps': state['step'], 'samplesSeen': state['samples'], 'trainingMinutes': round(state['seconds'] / 60, 2),
                             'bf16': bool(args.bf16 and cuda), 'tf32': bool(args.tf32 and cuda), 'pool': pool.counts(),
                             **({'initFrom': os.path.basename(os.path.normpath(args.init)), 'frozenBatchNorm': True} if args.init else {})},
                'metrics': {'validation': {**metrics, 'note': 'validation shards on the network grid, used for model selection'}},
            }
            write_model_folder(os.path.join(args.out, 'model'), model.folded_weights(), card, float16=args.float16_weights)

    best_state = None
    last_eval = time.time()
    clock = time.time()
    window = {'t': time.time(), 'steps': 0, 'loss': 0.0, 'seg': 0.0, 'cls': 0.0}
    def pausing():
        return args.until_step is not None and state['step'] >= args.until_step

    while progress() < 1 and not pausing():
        if state['step'] % 20 == 0:
            # Every process reaches the collective in weights_now, whatever its refresh found.
            pool.refresh(limit=8)
            weights = weights_now()
        for group in optimizer.param_groups:
            group['lr'] = group['scale'] * learning_rate(args.lr, progress(), state['step'])
        # Every process draws the same global batch and takes its own slice, so N processes with
        # batch B see exactly what one process with batch N*B sees.
        if args.small_lesion_weight == 1:
            index = torch.randint(pool.size, (args.batch * world,), generator=generator)
        else:
            voxels = pool.lesion_voxels[: pool.size].cpu()
            small = (voxels > 0) & (voxels * shard_voxel_ml < args.small_lesion_ml)
            index = torch.multinomial(1 + (args.small_lesion_weight - 1) * small.float(), args.batch * world, replacement=True, generator=generator)
        index = index[rank * args.batch:(rank + 1) * args.batch]
        voi, mask, label, lesion = coarse(pool.take(index.to(device)), args.input_pool)
        with autocast:
            passes = net(voi)
        loss = multi_task_loss(config, passes, mask=mask, label=label, lesion=lesion, weights=weights, lam=args.lam, cls_loss=args.cls_loss, miss_weight=args.miss_weight)
        optimizer.zero_grad(set_to_none=True)
        loss['total'].backward()
        optimizer.step()
        model.update_moving_stats()
        state['step'] += 1
        state['samples'] += args.batch * world
        window['steps'] += 1
        window['loss'] += float(loss['total'])
        window['seg'] += float(loss['seg']) if loss['seg'] is not None else 0.0
        window['cls'] += float(loss['cls']) if loss['cls'] is not None else 0.0
        state['seconds'] += time.time() - clock
        clock = time.time()
        if time.time() - window['t'] >= 15 or progress() >= 1 or pausing():
            elapsed = time.time() - window['t']
            n = window['steps']
            log(rank, f"step {state['step']} | {n * args.batch * world / elapsed:.1f} samples/s | loss {window['loss'] / n:.4f} "
                      f"(seg {window['seg'] / n:.4f}, cls {window['cls'] / n:.4f}) | pool {pool.size} | {state['seconds'] / 60:.1f} min")
            window = {'t': time.time(), 'steps': 0, 'loss': 0.0, 'seg': 0.0, 'cls': 0.0}
        if time.time() - last_eval >= args.eval_every or progress() >= 1 or pausing():
            if val is not None:
                val.refresh()
            metrics = {**evaluate(model, val, device, cube=args.input_pool), 'val_samples': val.size} if val is not None and val.size else {}
            metrics['train_loss'] = float(loss['total'])
            metrics['lr'] = optimizer.param_groups[0]['lr']
            complete = val is None or val.size >= args.val_count
            best = val is None or (complete and score(metrics) > state['best'])
            if args.select == 'last':
                best = complete
            if best:
                state['best'] = score(metrics)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            save(metrics, best)
            log(rank, f"evaluation at step {state['step']}: {json.dumps({k: round(v, 4) for k, v in metrics.items()})}{' best' if best else ''}")
            last_eval = time.time()
    if args.test and rank == 0:
        if best_state is not None:
            model.load_state_dict(best_state)
        test = ShardPool(args.test, args.tag, device=device, capacity=None)
        test.refresh()
        metrics = {**evaluate(model, test, device, cube=args.input_pool), 'samples': test.counts(), 'steps': state['step']}
        with open(os.path.join(args.out, 'test-metrics.json'), 'w') as f:
            json.dump(metrics, f, indent=1)
        log(rank, f'held-out shards: {json.dumps(metrics)}')
    if world > 1:
        dist.destroy_process_group()
    return model


if __name__ == '__main__':
    main()
