#!/usr/bin/python3
"""PyTorch 1.13 CPU training throughput of a CIFAR network: the baseline //training:bench
runs beside quantbench's trainer (benchmarks only, never a product dependency).

One step = forward in train mode, mean cross-entropy, backward, SGD (Nesterov momentum 0.9,
weight decay 5e-4) on random N(0, 1) images and random labels at the given batch size and
thread count. Prints one line: "images_per_second <value>" (median over --steps steps,
after --warmup steps).

  /usr/bin/python3 tools/torch_train_bench.py --net cifar_resnet20 --threads 2 --batch 128
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cifar_torch_reference import build  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--net", default="cifar_resnet20")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.net, 1.0, 10)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    print(f"images_per_second {args.batch / statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
