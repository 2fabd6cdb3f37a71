"""CMSVNetIter and its ablation variants in PyTorch: the twin of models/engine/src/engine/network.ts.

Weights are kept under the TypeScript engine's names and in its layouts (kernels [3,3,3,cin,cout],
2x2x2 layers as [8*cin, cout] and [cin, 8*cout], dense layers [in, out]), so export is a copy and
a parity test can compare any weight or gradient by name. They are permuted into PyTorch's layouts
inside forward (a view, and a small copy for the kernels).

Tensors are NCDHW with D = sweep (k), H = depth (j), W = lateral (i): the TypeScript NDHWC grid
[batch, z, y, x, channel] with the channel moved to axis 1.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import BATCH_NORM_MOMENTUM, L2_NORM_EPSILON, POOLING_WEIGHT_FLOOR, SIZE_MULTIPLE, head_shapes, layer_specs, stage_width


def key(name):
    """ParameterDict keys may not contain '/' or '.'."""
    return name.replace('/', '__')


def batch_moments(x, group=None):
    """Per-channel mean and biased variance over (N, D, H, W), summed over every process of
    `group` when one is given (distributed training sees the global batch, as one process would)."""
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()  # under autocast: bf16 sums would round the moments to 3 digits
    dims = (0, 2, 3, 4)
    count = torch.tensor(float(x.shape[0] * x.shape[2] * x.shape[3] * x.shape[4]), device=x.device)
    s1 = x.sum(dims)
    s2 = (x * x).sum(dims)
    if group is not None:
        import torch.distributed.nn.functional as dist_nn
        import torch.distributed as dist
        stacked = dist_nn.all_reduce(torch.cat([s1, s2]), group=group)
        s1, s2 = stacked[: s1.numel()], stacked[s1.numel():]
        count = count * dist.get_world_size(group)
    mean = s1 / count
    variance = (s2 / count - mean * mean).clamp_min(0)
    return mean, variance


def weighted_avg_pool(x, prob):
    """x [n, c, d, h, w] averaged with weights from prob [n, 1, f*d, f*h, f*w], box-averaged to x's
    grid, plus POOLING_WEIGHT_FLOOR (as ops.weightedAvgPool)."""
    f = prob.shape[2] // x.shape[2]
    w = F.avg_pool3d(prob, f) + POOLING_WEIGHT_FLOOR if f > 1 else prob + POOLING_WEIGHT_FLOOR
    return (x * w).sum((2, 3, 4)) / w.sum((2, 3, 4))


class CMSVNet(nn.Module):
    """fast: the CPU path through oneDNN (bench_step.py measures it against the plain one): tensors
    in channels_last_3d, the layout in which torch 1.13's oneDNN convolutions skip the reorders that
    cost them most of their time on NCDHW; batch norm in one fused op (native_batch_norm) instead
    of seven element-wise passes; and the 2x2x2 up-convolutions as a matrix product plus
    depth-to-space, because torch 1.13 runs conv_transpose3d on the CPU in its slow reference
    kernel. The same function of the same weights: the parity test runs both paths."""

    def __init__(self, config, seed=None, fast=False):
        super().__init__()
        self.config = config
        self.fast = fast
        self.specs = layer_specs(config)
        self.params = nn.ParameterDict()
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        for name, kind, shape, cout in self.specs:
            fan_in = 27 * shape[3] if kind == 'conv3' else shape[0]
            self.params[key(f'{name}/kernel')] = nn.Parameter(torch.randn(shape, generator=generator) * (2 / fan_in) ** 0.5)
            self.params[key(f'{name}/bn/gamma')] = nn.Parameter(torch.ones(cout))
            self.params[key(f'{name}/bn/beta')] = nn.Parameter(torch.zeros(cout))
            self.register_buffer(key(f'{name}/bn/moving_mean'), torch.zeros(cout))
            self.register_buffer(key(f'{name}/bn/moving_variance'), torch.ones(cout))
        for name, shape in head_shapes(config).items():
            init = torch.zeros(shape) if name.endswith('bias') else torch.randn(shape, generator=generator) * (2 / shape[0]) ** 0.5
            self.params[key(name)] = nn.Parameter(init)
        # Filled by a training-mode forward: name -> list of (mean, variance), one per pass.
        self.batch_moments = {}
        # When set, each pass also returns its stage features under both poolings ('pooled'),
        # for training the head on frozen features (head.py).
        self.keep_pooled = False
        # Fine-tuning a folded model: batch norm keeps its (identity) moving statistics in
        # training too, so the network starts as exactly the model it came from.
        self.frozen_bn = False
        self.sync_group = None

    # -- weights by TypeScript name ------------------------------------------------------------
    def named_weights(self):
        """Every weight (trainable and moving statistics) by its TypeScript name."""
        out = {k.replace('__', '/'): p for k, p in self.params.items()}
        for k, b in self.named_buffers():
            out[k.replace('__', '/')] = b
        return out

    def load_weights(self, weights):
        own = self.named_weights()
        missing = sorted(set(own) - set(weights))
        extra = sorted(set(weights) - set(own))
        if missing or extra:
            raise ValueError(f"Weights do not match the {self.config['variant']} architecture: missing {missing[:3]}, unexpected {extra[:3]}")
        with torch.no_grad():
            for name, t in own.items():
                value = torch.as_tensor(weights[name], dtype=t.dtype)
                if list(value.shape) != list(t.shape):
                    raise ValueError(f"'{name}' is {list(value.shape)}, expected {list(t.shape)}")
                t.copy_(value)

    def load_folded(self, weights):
        """Folded inference weights (each batch norm in its layer's kernel and bias) as an unfolded
        network whose batch norms are the identity in eval mode: the same function, trainable."""
        eps = self.config['batchNormEpsilon']
        unfolded = {}
        for name, t in weights.items():
            layer = name[: -len('/bias')] if name.endswith('/bias') else None
            if layer and any(spec[0] == layer for spec in self.specs):
                cout = len(t)
                unfolded[f'{layer}/bn/gamma'] = torch.ones(cout)
                unfolded[f'{layer}/bn/beta'] = torch.as_tensor(t)
                unfolded[f'{layer}/bn/moving_mean'] = torch.zeros(cout)
                unfolded[f'{layer}/bn/moving_variance'] = torch.full((cout,), 1 - eps)
            else:
                unfolded[name] = t
        self.load_weights(unfolded)

    def w(self, name):
        return self.params[key(name)]

    # -- layers --------------------------------------------------------------------------------
    def norm_relu(self, name, x):
        gamma, beta = self.w(f'{name}/bn/gamma'), self.w(f'{name}/bn/beta')
        eps = self.config['batchNormEpsilon']
        if self.training and not self.frozen_bn and self.fused_norm(x):
            y, mean, invstd = torch.native_batch_norm(x, gamma, beta, None, None, True, 0.0, eps)
            # Its saved statistics are the batch's mean and 1/sqrt(biased variance + eps).
            self.batch_moments.setdefault(name, []).append((mean.detach(), (invstd.detach() ** -2 - eps).clamp_min(0)))
            return F.relu(y)
        if self.training and not self.frozen_bn:
            mean, variance = batch_moments(x, self.sync_group)
            self.batch_moments.setdefault(name, []).append((mean.detach(), variance.detach()))
        else:
            mean = getattr(self, key(f'{name}/bn/moving_mean'))
            variance = getattr(self, key(f'{name}/bn/moving_variance'))
        scale = gamma * torch.rsqrt(variance + eps)
        shift = beta - mean * scale
        return F.relu(x * scale.view(1, -1, 1, 1, 1) + shift.view(1, -1, 1, 1, 1))

    def fused_norm(self, x):
        """The fused batch norm: fast path, one process (a sync group sums moments itself), full
        precision (bf16 moments are summed in float32 by batch_moments)."""
        return self.fast and self.sync_group is None and x.dtype in (torch.float32, torch.float64)

    def layout(self):
        return torch.channels_last_3d if self.fast else torch.contiguous_format

    def conv3(self, name, x):
        kernel = self.w(f'{name}/kernel').permute(4, 3, 0, 1, 2).contiguous(memory_format=self.layout())
        return F.conv3d(x, kernel, padding=1)

    def down(self, s, x):
        k = self.w(f'down{s}/kernel')
        cin = k.shape[0] // 8
        kernel = k.view(2, 2, 2, cin, -1).permute(4, 3, 0, 1, 2).contiguous(memory_format=self.layout())
        return F.conv3d(x, kernel, stride=2)

    def up(self, s, x):
        k = self.w(f'up{s}/kernel')
        if self.fast:
            # [cin, (2, 2, 2, cout)] per input voxel, then each voxel's 2x2x2 block into place.
            n, c, d, h, w = x.shape
            cout = k.shape[1] // 8
            y = (x.permute(0, 2, 3, 4, 1).reshape(-1, c) @ k).view(n, d, h, w, 2, 2, 2, cout)
            return y.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(n, cout, 2 * d, 2 * h, 2 * w).contiguous(memory_format=self.layout())
        kernel = k.view(k.shape[0], 2, 2, 2, -1).permute(0, 4, 1, 2, 3).contiguous()
        return F.conv_transpose3d(x, kernel, stride=2)

    def conv_stage(self, s, x, count):
        y = x
        for c in range(count):
            y = self.norm_relu(f'stage{s}/conv{c}', self.conv3(f'stage{s}/conv{c}', y))
        # V-Net residual; stage 1 copies its one input channel to every channel.
        return y + (x.expand(-1, stage_width(self.config, 1), -1, -1, -1) if s == 1 else x)

    def run_pass(self, x, prior=None):
        """prior: the previous pass's probability map, which weights the pooling under clsPooling 'lesion'."""
        config = self.config
        stages = {}
        for s in range(1, 6):
            x = self.conv_stage(s, x, config['encoderConvs'][s - 1])
            stages[s] = x
            if s < 5:
                x = self.norm_relu(f'down{s}', self.down(s, x))
        out = {}
        if config['segmentation']:
            for s in range(6, 10):
                up = self.norm_relu(f'up{s}', self.up(s, x))
                x = self.conv_stage(s, torch.cat([up, stages[10 - s]], 1), config['decoderConvs'][s - 6])
                stages[s] = x
            seg = self.w('seg/kernel')
            out['seg_logits'] = F.conv3d(x, seg.t().reshape(1, -1, 1, 1, 1), self.w('seg/bias'))
            out['seg_prob'] = torch.sigmoid(out['seg_logits'])
        if config['clsStages']:
            def pool(weights):
                out = []
                for s in config['clsStages']:
                    v = stages[s].mean((2, 3, 4)) if weights is None else weighted_avg_pool(stages[s], weights)
                    if config['normalizeStageFeatures']:
                        v = v / torch.sqrt((v * v).sum(1, keepdim=True) + L2_NORM_EPSILON)
                    out.append(v)
                return torch.cat(out, 1)
            lesion_weights = prior.detach() if prior is not None else None
            features = pool(lesion_weights if config['clsPooling'] == 'lesion' else None)
            if self.keep_pooled:
                out['pooled'] = {'global': pool(None), 'lesion': pool(lesion_weights) if lesion_weights is not None else None}
            hidden = F.relu(features @ self.w('cls/fc1/kernel') + self.w('cls/fc1/bias'))
            out['cls_logit'] = hidden @ self.w('cls/fc2/kernel') + self.w('cls/fc2/bias')
            out['cls_prob'] = torch.sigmoid(out['cls_logit'])
        return out

    def forward(self, voi):
        """voi [batch, 1, d, h, w]; returns one dict per pass (seg_logits, seg_prob, cls_logit, cls_prob)."""
        if voi.shape[1] != 1:
            raise ValueError(f'The network takes one input channel, got {voi.shape[1]}')
        if any(n % SIZE_MULTIPLE for n in voi.shape[2:]):
            raise ValueError(f'Input {tuple(voi.shape[2:])} is not a multiple of {SIZE_MULTIPLE} along every axis')
        self.batch_moments = {}
        voi = voi.contiguous(memory_format=self.layout())
        passes = []
        for _ in range(self.config['iterations']):
            x = voi
            if passes:
                prior = passes[-1]['seg_prob']
                x = voi + (prior.detach() if self.training and self.config['detachPrior'] else prior)
            passes.append(self.run_pass(x, passes[-1]['seg_prob'] if passes else None))
        return passes

    @torch.no_grad()
    def update_moving_stats(self, momentum=BATCH_NORM_MOMENTUM):
        """As the TypeScript trainer: every pass's batch moments are averaged, then blended in."""
        for name, moments in self.batch_moments.items():
            mean = sum(m for m, _ in moments) / len(moments)
            variance = sum(v for _, v in moments) / len(moments)
            mm = getattr(self, key(f'{name}/bn/moving_mean'))
            mv = getattr(self, key(f'{name}/bn/moving_variance'))
            mm.mul_(momentum).add_(mean.to(mm.dtype), alpha=1 - momentum)
            mv.mul_(momentum).add_(variance.to(mv.dtype), alpha=1 - momentum)
        self.batch_moments = {}

    @torch.no_grad()
    def folded_weights(self):
        """Inference weights: each batch norm folded into its layer's kernel (per output column) and a bias."""
        w = self.named_weights()
        eps = self.config['batchNormEpsilon']
        out = {}
        for name, kind, shape, cout in self.specs:
            scale = w[f'{name}/bn/gamma'] * torch.rsqrt(w[f'{name}/bn/moving_variance'] + eps)
            shift = w[f'{name}/bn/beta'] - w[f'{name}/bn/moving_mean'] * scale
            column_scale = scale.repeat(8) if kind == 'up' else scale
            kernel = w[f'{name}/kernel']
            out[f'{name}/kernel'] = (kernel.reshape(-1, column_scale.shape[0]) * column_scale).reshape(kernel.shape).clone()
            out[f'{name}/bias'] = shift.clone()
        for name in w:
            if name.startswith('seg/') or name.startswith('cls/'):
                out[name] = w[name].detach().clone()
        return out
