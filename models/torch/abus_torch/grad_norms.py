"""Why the classification head did not learn, measured: on a few training batches of a trained
model, the gradient norm that each loss term (lambda * focal, (1 - lambda) * Dice) sends to the
head and to the backbone, and what the focal factor and the class weights leave of a plain
cross-entropy gradient. Prints one JSON line (docs/model.md quotes it).

    python -m abus_torch.grad_norms --weights MODEL --shards SHARDS --tag g64x32x64v1 --batches 4
"""
import argparse
import json

import torch

from .config import LOSS
from .data import ShardPool
from .losses import class_weights, dice_loss, focal_loss
from .network import CMSVNet
from .weights_io import read_model_folder


def norm(grads):
    return float(torch.sqrt(sum(((g * g).sum() for g in grads if g is not None), torch.zeros(()))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--weights', required=True)
    parser.add_argument('--shards', required=True)
    parser.add_argument('--tag', required=True)
    parser.add_argument('--batches', type=int, default=4)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--pooling', default='global', choices=['global', 'lesion'])
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    card, weights = read_model_folder(args.weights)
    model = CMSVNet({**card['architecture'], 'clsPooling': args.pooling})
    model.load_folded({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    model.frozen_bn = True
    model.train()
    pool = ShardPool(args.shards, args.tag, capacity=None)
    pool.refresh()
    lesions = (pool.lesion[: pool.size] > 0.5).nonzero().flatten()
    counts = pool.counts()
    cw = class_weights(counts['malignant'], counts['benign'])
    head = [p for k, p in model.params.items() if k.startswith('cls__')]
    backbone = [p for k, p in model.params.items() if not k.startswith('cls__') and not k.startswith('seg__')]
    lam = LOSS['lambda']
    rows = []
    for b in range(args.batches):
        index = lesions[b * args.batch:(b + 1) * args.batch]
        voi, mask, label, lesion = pool.take(index)
        passes = model(voi)
        cls = sum(focal_loss(p['cls_logit'], label, cw, lesion=lesion) for p in passes) / len(passes)
        bce = sum(torch.nn.functional.binary_cross_entropy_with_logits(p['cls_logit'], label) for p in passes) / len(passes)
        seg = sum(dice_loss(p['seg_prob'], mask) for p in passes) / len(passes)
        row = {'p': [round(float(x), 3) for x in passes[-1]['cls_prob'].reshape(-1)]}
        for name, term in (('cls', lam * cls), ('bce', bce), ('seg', (1 - lam) * seg)):
            g_head = torch.autograd.grad(term, head, retain_graph=True, allow_unused=True)
            g_back = torch.autograd.grad(term, backbone, retain_graph=True, allow_unused=True)
            row[f'{name}_head'] = norm(g_head)
            row[f'{name}_backbone'] = norm(g_back)
        rows.append(row)
        print(json.dumps(row), flush=True)
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0] if k != 'p'}
    print(json.dumps({'pooling': args.pooling, 'lambda': lam, 'classWeights': cw, 'batches': len(rows), 'batch': args.batch, 'mean': mean,
                      'cls_over_seg_backbone': mean['cls_backbone'] / mean['seg_backbone'],
                      'focal_over_bce_head': mean['cls_head'] / mean['bce_head']}))


if __name__ == '__main__':
    main()
