"""Find lesions' whole-volume detector: a small one-pass segmentation network (variant vnet)
trained on the click model's shards averaged over 2 x 2 x 2 voxels (`train --input-pool 2`).

`python -m abus_torch.detector` puts a trained detector into a click model's folder: its weights
under 'detector/' in the same shards, its card under 'detector'. The click network's weights and
every other card field are kept as they are; the result goes to --out (never over an input).
`--take-out` does the reverse: the detector of a model folder as a model folder of its own, which
`abus_torch.train --init` fine-tunes. The TypeScript side is models/engine/src/pipeline/detector.ts."""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

from .network import CMSVNet
from .weights_io import read_model_folder, write_model_folder

PREFIX = 'detector/'


def coarse(taken, cube):
    """The network's input on a grid `cube` times coarser: the z-scored VOI averaged over each cube
    (as the engine averages the detector's window), the mask kept where it fills half a cell."""
    if cube == 1:
        return taken
    voi, mask, label, lesion = taken
    return F.avg_pool3d(voi, cube), (F.avg_pool3d(mask, cube) >= 0.5).to(mask.dtype), label, lesion


@torch.no_grad()
def detector_probability(model_dir, voi):
    """The detector's map of a model folder for z-scored VOIs [n, z, y, x] on the read grid: [n, z/2, y/2, x/2]."""
    card, weights = read_model_folder(model_dir)
    model = CMSVNet(card['detector']['architecture'])
    model.load_folded({k[len(PREFIX):]: torch.from_numpy(v.copy()) for k, v in weights.items() if k.startswith(PREFIX)})
    model.eval()
    x = F.avg_pool3d(torch.as_tensor(voi, dtype=torch.float32).unsqueeze(1), 2)
    return model(x)[-1]['seg_prob'][:, 0]


def stored_float16(model_dir):
    """Whether a model folder's weights are stored as float16, so a folder made from it is too."""
    with open(os.path.join(model_dir, 'model.json')) as f:
        return any(s.get('quantization') for s in json.load(f)['weightsManifest'][0]['weights'])


def add_detector(model_dir, detector_dir, out_dir, metrics=None):
    if os.path.abspath(out_dir) in (os.path.abspath(model_dir), os.path.abspath(detector_dir)):
        raise ValueError('--out must be a new folder, not one of the inputs')
    card, weights = read_model_folder(model_dir)
    det_card, det_weights = read_model_folder(detector_dir)
    arch = det_card['architecture']
    if arch.get('clsStages') or not arch.get('segmentation') or arch.get('iterations') != 1:
        raise ValueError(f"{detector_dir} is not a one-pass segmentation network (train --variant vnet)")
    read_mm = det_card['input'].get('readVoxelMm')
    if read_mm != card['input']['voxelMm'] or det_card['input']['voxelMm'] != 2 * read_mm:
        raise ValueError(f"the detector reads on a {read_mm} mm grid at {det_card['input']['voxelMm']} mm; the click model's grid is {card['input']['voxelMm']} mm (train it with --input-pool 2 on the click model's shards)")
    weights = {k: v for k, v in weights.items() if not k.startswith(PREFIX)}
    weights.update({PREFIX + k: v for k, v in det_weights.items()})
    half = stored_float16(model_dir)
    card = {k: v for k, v in card.items() if k not in ('shards', 'folded', 'notice')}
    card['detector'] = {
        'architecture': arch,
        'input': {'voxelMm': det_card['input']['voxelMm'], 'readVoxelMm': read_mm, 'normalization': det_card['input']['normalization']},
        'training': det_card.get('training', {}),
        'metrics': {**det_card.get('metrics', {}), **(metrics or {})},
    }
    return write_model_folder(out_dir, weights, card, float16=half)


def take_out_detector(model_dir, out_dir):
    if os.path.abspath(out_dir) == os.path.abspath(model_dir):
        raise ValueError('--out must be a new folder, not the model folder')
    card, weights = read_model_folder(model_dir)
    det = card.get('detector')
    if det is None:
        raise ValueError(f'{model_dir} has no detector (its card has no "detector")')
    half = stored_float16(model_dir)
    own = {
        'name': f"{det['architecture']['variant']}-detector", 'version': card.get('version', '0'),
        'architecture': det['architecture'], 'input': det['input'],
        'training': det.get('training', {}), 'metrics': det.get('metrics', {}),
    }
    return write_model_folder(out_dir, {k[len(PREFIX):]: v for k, v in weights.items() if k.startswith(PREFIX)}, own, float16=half)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--model', required=True, help='the click model folder (kept as it is)')
    parser.add_argument('--detector', help="the detector's model folder (a train run's out/model)")
    parser.add_argument('--take-out', action='store_true', help="write the model's detector to --out as a model folder of its own (for train --init)")
    parser.add_argument('--out', required=True, help='a new folder for the model with its detector (or, with --take-out, for the detector)')
    args = parser.parse_args(argv)
    if args.take_out == bool(args.detector):
        parser.error('give --detector (to put one in) or --take-out (to take the model\'s out)')
    try:
        if args.take_out:
            card = take_out_detector(args.model, args.out)
            print(f"abus_torch.detector: {args.out} (the detector of {args.model}, {len(card['shards'])} shards)")
            return 0
        card = add_detector(args.model, args.detector, args.out)
    except (ValueError, FileNotFoundError) as err:
        print(f'abus_torch.detector: {err}', file=sys.stderr)
        return 2
    print(f"abus_torch.detector: {args.out} ({len(card['shards'])} shards, detector {card['detector']['architecture']['variant']} width {card['detector']['architecture']['baseWidth']})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
