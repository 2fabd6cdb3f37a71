"""The project's weights format (models/engine/src/engine/weights.ts): model.json (a TensorFlow.js
weightsManifest), 4 MiB binary shards, and model-card.json with the SHA-256 of every shard.
Written here exactly as serializeModel writes it, so the TypeScript engine loads it unchanged."""
import hashlib
import json
import os

import numpy as np

RESEARCH_USE_NOTICE = 'Research use only, not for clinical diagnosis.'
SHARD_BYTES = 4 * 1024 * 1024


def is_folded(weights):
    return not any('/bn/' in k for k in weights)


def write_model_folder(folder, weights, card, float16=False):
    """weights: name -> array (numpy or torch). card: the model card without shards/folded/notice.
    float16 stores every weight as IEEE half (tfjs 'quantization' float16), decoded to float32 on load."""
    names = sorted(weights)
    specs, chunks = [], []
    for name in names:
        w = weights[name]
        array = (w.detach().cpu().numpy() if hasattr(w, 'detach') else np.asarray(w)).astype(np.float32)
        spec = {'name': name, 'shape': list(array.shape), 'dtype': 'float32'}
        if float16:
            spec['quantization'] = {'dtype': 'float16'}
            chunks.append(array.astype('<f2').tobytes())
        else:
            chunks.append(array.astype('<f4').tobytes())
        specs.append(spec)
    data = b''.join(chunks)
    count = max(1, -(-len(data) // SHARD_BYTES))
    tmp = folder.rstrip('/') + '.tmp'
    os.makedirs(tmp, exist_ok=True)
    for f in os.listdir(tmp):
        os.remove(os.path.join(tmp, f))
    shards = []
    for i in range(count):
        path = f'group1-shard{i + 1}of{count}.bin'
        part = data[i * SHARD_BYTES:(i + 1) * SHARD_BYTES]
        with open(os.path.join(tmp, path), 'wb') as f:
            f.write(part)
        shards.append({'path': path, 'bytes': len(part), 'sha256': hashlib.sha256(part).hexdigest()})
    manifest = {'format': 'abus-tumor-ai/weights', 'generatedBy': 'abus-tumor-ai models/torch',
                'weightsManifest': [{'paths': [s['path'] for s in shards], 'weights': specs}]}
    full_card = {**card, 'notice': RESEARCH_USE_NOTICE, 'folded': is_folded(weights), 'shards': shards}
    with open(os.path.join(tmp, 'model.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
    with open(os.path.join(tmp, 'model-card.json'), 'w') as f:
        json.dump(full_card, f, indent=2)
    # Swap in whole, so a reader never sees half a model.
    if os.path.isdir(folder):
        for f in os.listdir(folder):
            os.remove(os.path.join(folder, f))
        os.rmdir(folder)
    os.rename(tmp, folder)
    return full_card


def read_model_folder(folder):
    """Returns (card, name -> float32 array), checking every shard's SHA-256 against the card."""
    with open(os.path.join(folder, 'model-card.json')) as f:
        card = json.load(f)
    with open(os.path.join(folder, 'model.json')) as f:
        group = json.load(f)['weightsManifest'][0]
    expected = {s['path']: s['sha256'] for s in card['shards']}
    parts = []
    for path in group['paths']:
        with open(os.path.join(folder, path), 'rb') as f:
            part = f.read()
        if hashlib.sha256(part).hexdigest() != expected.get(path):
            raise ValueError(f'Weights shard {path} is corrupt or not listed in model-card.json')
        parts.append(part)
    data = b''.join(parts)
    weights, offset = {}, 0
    for spec in group['weights']:
        n = int(np.prod(spec['shape'])) if spec['shape'] else 1
        half = spec.get('quantization', {}).get('dtype') == 'float16'
        dtype, size = ('<f2', 2) if half else ('<f4', 4)
        weights[spec['name']] = np.frombuffer(data, dtype, n, offset).astype(np.float32).reshape(spec['shape'])
        offset += n * size
    return card, weights
