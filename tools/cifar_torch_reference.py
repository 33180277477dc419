#!/usr/bin/python3
"""PyTorch reference for the CIFAR-10 networks of networks/arch_cifar.cc (test-time only).

Defines the networks in plain PyTorch from their published definitions, independently of
the C++ builder:
  cifar_resnet20/32/44/56  He et al. 2016, sec. 4.2, as in the widely used PyTorch definition
                           (BasicBlock, option-A shortcut F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0,
                           planes // 4, planes // 4)), avg_pool2d, `linear`);
  resiliency_cnn           3 x (conv5x5 pad 2 + bias, ReLU, max pool 2x2) with 32/32/64 maps
                           times --width_multiplier, then `fc` (networks/README.md states
                           why this layer list).

With random weights from --seed (BatchNorm: gamma, beta random; running statistics those of
random calibration batches, so they are neither 0/1 nor the test batch's), it writes one ONNX
file whose graph has no nodes, only initializers (float32, read by networks/onnx_model.h):
  <state_dict key>          every parameter and running statistic (num_batches_tracked left
                            out): binds to the C++ graph by name;
  ref.input                 [batch, 3, 32, 32] N(0, 1) input;
  ref.labels                [batch] class indices as floats;
  ref.eval_logits           model.eval() logits (running statistics);
  ref.train_logits          model.train() logits (batch statistics);
  ref.loss                  [1] mean softmax cross-entropy of the train-mode logits;
  grad.<parameter>          d loss / d parameter after one backward of that loss;
  updated.<bn>.running_mean / updated.<bn>.running_var
                            the running statistics after that train-mode forward (momentum
                            0.1, unbiased batch variance: PyTorch's rule).
Prints "parameters N" (sum of numel over model.parameters()) on stdout.

  /usr/bin/python3 tools/cifar_torch_reference.py --net cifar_resnet20 --out /tmp/r20.onnx
"""
import argparse
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class OptionAShortcut(nn.Module):
    """x[:, :, ::2, ::2] with planes // 4 zero channels on each side (no weights)."""

    def __init__(self, planes):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = OptionAShortcut(planes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        for stage, planes in enumerate((16, 32, 64)):
            blocks = []
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*blocks))
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


class ResiliencyCnn(nn.Module):
    def __init__(self, multiplier, num_classes):
        super().__init__()
        maps = [max(1, int(round(base * multiplier))) for base in (32, 32, 64)]
        self.conv1 = nn.Conv2d(3, maps[0], 5, padding=2)
        self.conv2 = nn.Conv2d(maps[0], maps[1], 5, padding=2)
        self.conv3 = nn.Conv2d(maps[1], maps[2], 5, padding=2)
        self.fc = nn.Linear(maps[2] * 4 * 4, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return self.fc(torch.flatten(x, 1))


def build(name, multiplier, num_classes):
    if name.startswith("cifar_resnet"):
        depth = int(name[len("cifar_resnet"):])
        if depth not in (20, 32, 44, 56):
            raise SystemExit("unknown depth in %s" % name)
        return CifarResNet(depth, num_classes)
    if name == "resiliency_cnn":
        return ResiliencyCnn(multiplier, num_classes)
    raise SystemExit("unknown network %s" % name)


def randomize(model, generator):
    """Random biases and BatchNorm affine terms; running statistics from random batches."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
                module.bias.uniform_(-0.2, 0.2, generator=generator)
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.5, 0.5, generator=generator)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return
    for bn in bns:
        bn.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 3, 32, 32, generator=generator) * 1.5 + 0.3)
    for bn in bns:
        bn.momentum = 0.1
        bn.num_batches_tracked.zero_()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--width_multiplier", type=float, default=1.0)
    parser.add_argument("--num_classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model = build(args.net, args.width_multiplier, args.num_classes)
    randomize(model, generator)

    tensors = {}

    def put(name, tensor):
        tensors[name] = tensor.detach().to(torch.float32).contiguous().numpy().copy()

    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        put(key, value)

    x = torch.randn(args.batch, 3, 32, 32, generator=generator)
    labels = torch.randint(0, args.num_classes, (args.batch,), generator=generator)
    put("ref.input", x)
    put("ref.labels", labels.to(torch.float32))

    model.eval()
    with torch.no_grad():
        put("ref.eval_logits", model(x))

    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    put("ref.train_logits", logits)
    put("ref.loss", loss.reshape(1))
    for name, p in model.named_parameters():
        put("grad." + name, p.grad)
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            put("updated.%s.running_mean" % name, module.running_mean)
            put("updated.%s.running_var" % name, module.running_var)

    initializers = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k)
                    for k, v in tensors.items()]
    graph = helper.make_graph([], "%s_reference" % args.net, [], [], initializer=initializers)
    model_proto = helper.make_model(graph, producer_name="tools/cifar_torch_reference.py",
                                    opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model_proto, args.out)
    print("parameters %d" % sum(p.numel() for p in model.parameters()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
