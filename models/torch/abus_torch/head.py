"""Phase 1 of a retrain: the classification head on frozen features.

The engine runs a trained model once over training and validation shards and caches each lesion
VOI's stage features under both poolings (the paper's global average, and weighted by pass 1's
segmentation): models/tools/research/src/train/head-features.ts. Here a new head (fc1, ReLU, fc2) is fitted
on that cache in seconds, chosen by validation AUC, and written into a copy of the model with the
pooling it was trained for. The segmentation is untouched: only cls/* and clsPooling change.

    python -m abus_torch.head --weights MODEL --train FEATURES --val FEATURES --pooling lesion --out NEW_MODEL
"""
import argparse
import json
import sys

import numpy as np
import torch

from .config import LOSS
from .losses import class_weights, focal_loss
from .tensors_io import read_tensors
from .train import auc
from .weights_io import read_model_folder, write_model_folder


def log(message):
    print(f'abus-torch head: {message}', file=sys.stderr, flush=True)


def fit_head(x, y, xv, yv, hidden, steps=1500, lr=3e-3, weight_decay=1e-3, loss='focal', seed=1, every=25):
    """fc1 + ReLU + fc2 on cached features; the step with the best validation AUC is kept.
    Returns (weights by name, history of (step, train AUC, validation AUC))."""
    torch.manual_seed(seed)
    x, y, xv = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xv)
    fc1 = torch.nn.Parameter(torch.randn(x.shape[1], hidden) * (2 / x.shape[1]) ** 0.5)
    b1 = torch.nn.Parameter(torch.zeros(hidden))
    fc2 = torch.nn.Parameter(torch.randn(hidden, 1) * (2 / hidden) ** 0.5)
    b2 = torch.nn.Parameter(torch.zeros(1))
    params = [fc1, b1, fc2, b2]
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    weights = class_weights(float(y.sum()), float(len(y) - y.sum()))
    head = lambda f: torch.relu(f @ fc1 + b1) @ fc2 + b2  # noqa: E731
    best, history = None, []
    for step in range(steps + 1):
        logits = head(x)
        if loss == 'focal':
            value = focal_loss(logits, y, weights)
        else:
            value = torch.nn.functional.binary_cross_entropy_with_logits(logits.reshape(-1), y)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        if step % every == 0:
            with torch.no_grad():
                a_train = auc(y.numpy(), head(x).reshape(-1).numpy())
                a_val = auc(yv, head(xv).reshape(-1).numpy())
            history.append((step, a_train, a_val))
            if best is None or a_val > best[0]:
                best = (a_val, step, {'cls/fc1/kernel': fc1.detach().clone(), 'cls/fc1/bias': b1.detach().clone(),
                                      'cls/fc2/kernel': fc2.detach().clone(), 'cls/fc2/bias': b2.detach().clone()})
    return best, history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--weights', required=True, help='the trained model folder (folded)')
    parser.add_argument('--train', required=True, help='features for fitting the head (head-features.ts --out)')
    parser.add_argument('--val', required=True, help='features for choosing the step (never the held-out test set)')
    parser.add_argument('--pooling', default='lesion', choices=['global', 'lesion'])
    parser.add_argument('--loss', default='focal', choices=['focal', 'bce'])
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--lr', type=float, default=3e-3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out', help='write the model with the new head here')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    card, weights = read_model_folder(args.weights)
    train, val = read_tensors(args.train), read_tensors(args.val)
    log(f'{len(train["label"])} training and {len(val["label"])} validation lesions')
    shipped_val = auc(val['label'], val['logit'])
    best, history = fit_head(train[args.pooling], train['label'], val[args.pooling], val['label'],
                             card['architecture']['clsHidden'], steps=args.steps, lr=args.lr, loss=args.loss)
    result = {'pooling': args.pooling, 'loss': args.loss, 'trainLesions': int(len(train['label'])), 'valLesions': int(len(val['label'])),
              'valAucShippedHead': shipped_val, 'valAuc': best[0], 'step': best[1],
              'history': [{'step': s, 'trainAuc': a, 'valAuc': v} for s, a, v in history[:: max(1, len(history) // 12)]]}
    print(json.dumps(result))
    if args.out:
        new = {**{k: torch.from_numpy(v.copy()) for k, v in weights.items()}, **best[2]}
        new_card = {k: v for k, v in card.items() if k not in ('shards', 'folded', 'notice')}
        new_card['architecture'] = {**card['architecture'], 'clsPooling': args.pooling}
        new_card['training'] = {**card.get('training', {}), 'head': {
            'note': 'classification head refitted on frozen features of the model above (abus_torch.head)',
            'pooling': args.pooling, 'loss': args.loss, 'steps': best[1], 'trainLesions': result['trainLesions'],
            'valLesions': result['valLesions'], 'valAuc': round(best[0], 4), 'lambda': LOSS['lambda']}}
        write_model_folder(args.out, new, new_card)
        log(f'wrote {args.out}')
    return result


if __name__ == '__main__':
    main()
