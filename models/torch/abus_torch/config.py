"""The network configuration, read from the same architecture.json as the TypeScript engine
(models/engine/src/engine/architecture.json), so the two networks cannot be configured apart."""
import json
import os

ARCHITECTURE_JSON = os.path.join(os.path.dirname(__file__), '..', '..', 'engine', 'src', 'engine', 'architecture.json')

with open(ARCHITECTURE_JSON) as f:
    ARCHITECTURE = json.load(f)

VARIANTS = list(ARCHITECTURE['variants'])
LOSS = ARCHITECTURE['loss']
BATCH_NORM_MOMENTUM = ARCHITECTURE['batchNormMomentum']
L2_NORM_EPSILON = ARCHITECTURE['l2NormEpsilon']
POOLING_WEIGHT_FLOOR = ARCHITECTURE['poolingWeightFloor']
SIZE_MULTIPLE = 16


def variant_config(variant, **overrides):
    if variant not in ARCHITECTURE['variants']:
        raise ValueError(f"Unknown variant '{variant}'; expected one of {', '.join(VARIANTS)}")
    config = {**ARCHITECTURE['defaults'], 'variant': variant, **ARCHITECTURE['variants'][variant], **overrides}
    validate_config(config)
    return config


def validate_config(config):
    if len(config['encoderConvs']) != 5:
        raise ValueError('encoderConvs needs 5 entries (stages 1-5)')
    if len(config['decoderConvs']) != 4:
        raise ValueError('decoderConvs needs 4 entries (stages 6-9)')
    max_stage = 9 if config['segmentation'] else 5
    for s in config['clsStages']:
        if not (1 <= s <= max_stage):
            raise ValueError(f'clsStages: stage {s} does not exist (1-{max_stage})')
    if not config['segmentation'] and not config['clsStages']:
        raise ValueError('a network needs a segmentation or a classification output')
    if not config['segmentation'] and config['iterations'] > 1:
        raise ValueError('iterative refinement needs a segmentation output')
    if config['iterations'] < 1:
        raise ValueError('iterations must be at least 1')
    if config['clsPooling'] not in ('global', 'lesion'):
        raise ValueError(f"clsPooling must be 'global' or 'lesion', not {config['clsPooling']!r}")
    if config['clsPooling'] == 'lesion' and not config['segmentation']:
        raise ValueError("clsPooling 'lesion' needs a segmentation output")


def stage_width(config, stage):
    level = stage - 1 if stage <= 5 else 9 - stage
    return config['baseWidth'] * 2 ** (level if stage <= 5 else level + 1)


def layer_specs(config):
    """Every batch-normalised layer in forward order: (name, kind, shape in the TypeScript layout, out channels)."""
    specs = []
    for s in range(1, 6):
        width = stage_width(config, s)
        for c in range(config['encoderConvs'][s - 1]):
            cin = 1 if (c == 0 and s == 1) else width
            specs.append((f'stage{s}/conv{c}', 'conv3', [3, 3, 3, cin, width], width))
        if s < 5:
            nxt = stage_width(config, s + 1)
            specs.append((f'down{s}', 'down', [8 * width, nxt], nxt))
    if config['segmentation']:
        for s in range(6, 10):
            below = stage_width(config, s - 1)
            width = stage_width(config, s)
            specs.append((f'up{s}', 'up', [below, 8 * (width // 2)], width // 2))
            for c in range(config['decoderConvs'][s - 6]):
                specs.append((f'stage{s}/conv{c}', 'conv3', [3, 3, 3, width, width], width))
    return specs


def head_shapes(config):
    shapes = {}
    if config['segmentation']:
        shapes['seg/kernel'] = [stage_width(config, 9), 1]
        shapes['seg/bias'] = [1]
    if config['clsStages']:
        features = sum(stage_width(config, s) for s in config['clsStages'])
        shapes['cls/fc1/kernel'] = [features, config['clsHidden']]
        shapes['cls/fc1/bias'] = [config['clsHidden']]
        shapes['cls/fc2/kernel'] = [config['clsHidden'], 1]
        shapes['cls/fc2/bias'] = [1]
    return shapes
