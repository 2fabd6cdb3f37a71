"""cuDNN reference for `npm run bench:kernels`: the same 3x3x3 convolutions (fp32, stride 1, 'same'),
timed with CUDA events on the same GPU, median of warm runs. Usage:
  python3 torch_reference.py layers.json [--reps 20]
layers.json comes from `node models/tools/research/dist/bench/kernels.js --input 128x64x128 --width 16 --layers-json layers.json`.
"""
import json
import statistics
import sys

import torch


def main() -> None:
    layers = json.load(open(sys.argv[1]))
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 20
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name(0)}; fp32, TF32 off")
    print("| layer (DxHxW cin->cout) | x | cuDNN ms | GFLOP/s |")
    print("|---|--:|--:|--:|")
    total = 0.0
    for layer in layers:
        b, d, h, w, cin = layer["x"]
        cout = layer["cout"]
        x = torch.randn(b, cin, d, h, w, device="cuda")
        conv = torch.nn.Conv3d(cin, cout, 3, padding=1, bias=False).cuda()
        times = []
        with torch.no_grad():
            for i in range(reps + 3):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                conv(x)
                end.record()
                torch.cuda.synchronize()
                if i >= 3:
                    times.append(start.elapsed_time(end))
        ms = statistics.median(times)
        gflop = 2 * b * d * h * w * 27 * cin * cout / 1e9
        total += layer["count"] * ms
        print(f"| {d}x{h}x{w} {cin}->{cout} | {layer['count']} | {ms:.3f} | {gflop / (ms / 1000):.0f} |")
    print(f"\nAll 3x3x3 layers of one pass (sum of count x median): {total:.2f} ms")


if __name__ == "__main__":
    main()
