"""Named float32 tensors as one JSON index plus one little-endian binary file: how the parity
test and the PyTorch twin hand arrays to each other (test/torch-parity.test.ts)."""
import json
import os

import numpy as np


def write_tensors(path, tensors):
    index, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        array = np.ascontiguousarray((t.detach().cpu().numpy() if hasattr(t, 'detach') else np.asarray(t)), dtype='<f4')
        index[name] = {'shape': list(array.shape), 'offset': offset}
        chunks.append(array.tobytes())
        offset += array.size
    with open(path + '.bin', 'wb') as f:
        f.write(b''.join(chunks))
    with open(path + '.json', 'w') as f:
        json.dump(index, f)


def read_tensors(path):
    with open(path + '.json') as f:
        index = json.load(f)
    data = np.fromfile(path + '.bin', dtype='<f4')
    return {name: data[e['offset']:e['offset'] + int(np.prod(e['shape']))].reshape(e['shape']) for name, e in index.items()}


def exists(path):
    return os.path.exists(path + '.json')
