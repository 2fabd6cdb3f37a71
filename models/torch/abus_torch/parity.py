"""The PyTorch side of the parity test (test/torch-parity.test.ts).

Reads inputs.{json,bin} from --dir (written by the TypeScript test: 'voi' [b, z, y, x], 'mask',
'label' [b, 1], 'lesion' [b, 1], and optionally 'phantom' [1, z, y, x]), builds the named variant
with a seed, sets its batch-norm statistics from one training-mode pass, and writes:
- unfolded/, folded/, folded-f16/: the weights in the project's format;
- outputs.{json,bin}: eval-mode seg_prob/cls_prob of every pass for 'voi' and 'phantom', the
  training-mode loss terms, and the gradient of the total loss for every trainable weight.
"""
import argparse
import os

import torch

from .config import variant_config
from .losses import class_weights, multi_task_loss
from .network import CMSVNet
from .tensors_io import read_tensors, write_tensors
from .weights_io import write_model_folder


def card_for(config, grid, voxel_mm):
    return {'name': f"{config['variant']}-parity", 'version': '0', 'architecture': config,
            'input': {'grid': grid, 'voxelMm': voxel_mm, 'voiMm': [g * voxel_mm for g in grid], 'normalization': 'zscore-voi'},
            'decisionThreshold': 0.5, 'training': {}, 'metrics': {}}


def as_ncdhw(array):
    t = torch.from_numpy(array.copy())
    return t.unsqueeze(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--dir', required=True)
    parser.add_argument('--variant', required=True)
    parser.add_argument('--width', type=int, default=4)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--pooling', default='global', help="clsPooling: 'global' or 'lesion'")
    parser.add_argument('--fast', action='store_true', help="the network's fast CPU path (CMSVNet fast=True)")
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64 if os.environ.get('ABUS_PARITY_F64') else torch.float32)
    inputs = read_tensors(os.path.join(args.dir, 'inputs'))
    voi = as_ncdhw(inputs['voi'])
    grid = [voi.shape[4], voi.shape[3], voi.shape[2]]
    config = variant_config(args.variant, baseWidth=args.width, clsPooling=args.pooling)
    model = CMSVNet(config, seed=args.seed, fast=args.fast)
    generator = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for name, p in model.named_weights().items():
            if name.endswith('/bn/gamma'):
                p.copy_(0.8 + 0.4 * torch.rand(p.shape, generator=generator))
            elif name.endswith('/bn/beta') or name.endswith('/bias'):
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))
    # Realistic moving statistics: exactly one training-mode batch's (momentum 0).
    model.train()
    with torch.no_grad():
        model(voi)
    model.update_moving_stats(momentum=0.0)

    card = card_for(config, grid, 1.0)
    write_model_folder(os.path.join(args.dir, 'unfolded'), model.named_weights(), card)
    folded = model.folded_weights()
    write_model_folder(os.path.join(args.dir, 'folded'), folded, card)
    write_model_folder(os.path.join(args.dir, 'folded-f16'), folded, card, float16=True)

    out = {}
    model.eval()
    with torch.no_grad():
        for which in ('voi', 'phantom'):
            if which not in inputs:
                continue
            for k, p in enumerate(model(as_ncdhw(inputs[which]))):
                for field in ('seg_prob', 'cls_prob'):
                    if field in p:
                        out[f'{which}/pass{k + 1}/{field}'] = p[field]

    model.train()
    weights = class_weights(3, 5)
    passes = model(voi)
    mask = as_ncdhw(inputs['mask'])
    label = torch.from_numpy(inputs['label'].copy())
    lesion = torch.from_numpy(inputs['lesion'].copy())
    loss = multi_task_loss(config, passes, mask=mask, label=label, lesion=lesion, weights=weights)
    loss['total'].backward()
    for term in ('total', 'seg', 'cls'):
        if loss[term] is not None:
            out[f'loss/{term}'] = loss[term].detach().reshape(1)
    for name, p in model.named_weights().items():
        if p.requires_grad:
            out[f'grad/{name}'] = p.grad
    write_tensors(os.path.join(args.dir, 'outputs'), out)


if __name__ == '__main__':
    main()
