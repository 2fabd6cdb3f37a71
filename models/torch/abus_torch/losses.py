"""The paper's multi-task loss, the twin of models/engine/src/engine/losses.ts:
L = lambda * L_cls + (1 - lambda) * L_seg, a class-weighted focal loss and soft Dice."""
import torch
import torch.nn.functional as F

from .config import LOSS


def class_weights(malignant_count, benign_count):
    """w_m = N_n / (N_m + N_n), w_n = N_m / (N_m + N_n): the rarer class weighs more."""
    total = malignant_count + benign_count
    if total == 0:
        return {'malignant': 0.5, 'benign': 0.5}
    return {'malignant': benign_count / total, 'benign': malignant_count / total}


def focal_loss(logits, labels, weights, gamma=LOSS['focalGamma'], lesion=None):
    """Mean over the whole batch; a sample without a lesion contributes zero (see losses.ts)."""
    z = logits.reshape(-1)
    y = labels.reshape(-1).to(z.dtype)
    has = lesion.reshape(-1).to(z.dtype) if lesion is not None else torch.ones_like(y)
    p = torch.sigmoid(z)
    log_p = -F.softplus(-z)
    log_1mp = -F.softplus(z)
    pos = (1 - p) ** gamma * log_p * (y * weights['malignant'])
    neg = p ** gamma * log_1mp * ((1 - y) * weights['benign'])
    return -((pos + neg) * has).mean()


def weighted_bce(logits, labels, weights, lesion=None):
    """Class-weighted cross-entropy, mean over the batch; a sample without a lesion contributes zero."""
    z = logits.reshape(-1)
    y = labels.reshape(-1).to(z.dtype)
    has = lesion.reshape(-1).to(z.dtype) if lesion is not None else torch.ones_like(y)
    w = y * weights['malignant'] + (1 - y) * weights['benign']
    return (F.binary_cross_entropy_with_logits(z, y, reduction='none') * w * has).mean()


def dice_loss(prob, truth, smooth=LOSS['diceSmooth'], miss_weight=0.5):
    """Soft Dice per sample. miss_weight > 0.5 weighs missed lesion voxels above false ones (the
    Tversky index, of which Dice is the 0.5 case): a detector trades a few false voxels for recall."""
    batch = prob.shape[0]
    p = prob.reshape(batch, -1)
    g = truth.reshape(batch, -1).to(p.dtype)
    overlap = (p * g).sum(1)
    if miss_weight == 0.5:
        # Dice by the TypeScript twin's formula, so the parity tests stay exact to float rounding.
        sizes = p.sum(1) + g.sum(1)
        return (1 - (2 * overlap + smooth) / (sizes + smooth)).mean()
    false = (p * (1 - g)).sum(1)
    missed = ((1 - p) * g).sum(1)
    return (1 - (overlap + smooth / 2) / (overlap + (1 - miss_weight) * false + miss_weight * missed + smooth / 2)).mean()


def multi_task_loss(config, passes, mask=None, label=None, lesion=None, weights=None, lam=LOSS['lambda'], cls_loss='focal', miss_weight=0.5):
    used = passes if config['lossOnEveryIteration'] else passes[-1:]
    dtype = torch.get_default_dtype()  # bf16 autocast outputs are scored in full precision
    seg = cls = None
    if config['segmentation'] and mask is not None:
        seg = sum(dice_loss(p['seg_prob'].to(dtype), mask, miss_weight=miss_weight) for p in used) / len(used)
    if config['clsStages'] and label is not None:
        term = focal_loss if cls_loss == 'focal' else weighted_bce
        cls = sum(term(p['cls_logit'].to(dtype), label, weights, lesion=lesion) for p in used) / len(used)
    if seg is not None and cls is not None:
        total = lam * cls + (1 - lam) * seg
    elif seg is not None:
        total = seg
    elif cls is not None:
        total = cls
    else:
        raise ValueError('No loss term: the network has no output the given truth can supervise')
    return {'total': total, 'seg': seg, 'cls': cls}
