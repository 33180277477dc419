#!/usr/bin/python3
"""Exports randomly initialised torchvision models to ONNX for the parity tests.

Test / benchmark tooling only: the product never runs Python. Run it with Debian's
interpreter, /usr/bin/python3 (python3-torch, python3-torchvision, python3-onnx), not a
python3 that happens to be first on PATH.

    /usr/bin/python3 tools/export_torchvision.py --out DIR [--force] [arch ...]

For each architecture, DIR/<arch>/ receives
    model.onnx        opset 13, TrainingMode.PRESERVE of an eval() model, no constant folding:
                      BatchNormalization nodes stay and initializer names are the
                      state_dict names (what //networks:onnx_import binds by_name);
                      input "input" [batch, 3, S, S], output "logits" [batch, classes]
    input.bin         np.random.default_rng(0).standard_normal((2, 3, S, S)), float32 LE
    input.json        {"shape": [2, 3, S, S], ...}
    torch_logits.bin  PyTorch's logits for input.bin (float32 LE, [2, classes])
    export.json       versions, settings, timing, the initializer check (written last:
                      its presence means the export is complete)

Weights: torch.manual_seed(0), then torchvision.models.<arch>(weights=None) (inception_v3:
init_weights=True, aux_logits=True, transform_input=False). Then, so that the test exercises
every tensor and no two initializers hold equal values, with torch.Generator seeded 1:
  * every BatchNorm: gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1^2), running statistics recomputed
    from one train-mode forward pass of a N(0, 1) batch of 4 (momentum=None: plain average),
    so eval-mode activations are normalised as in a trained net instead of BN being identity;
  * every conv / linear bias torchvision initialises to a constant (zero): ~ N(0, 0.1^2).
Why the second point matters: torch.onnx.export of an eval() model merges initializers with
equal values (_jit_pass_onnx_deduplicate_initializers), so the many zero biases and unit
gammas of a fresh net would lose their state_dict names.

The check: every state_dict key except num_batches_tracked (and, for inception_v3, the
AuxLogits branch, which an eval-mode graph does not run) must be an initializer name.
Exit status 1 if any is missing.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
import torchvision

DEFAULT_ARCHS = ["resnet18", "resnet50", "mobilenet_v2", "squeezenet1_1", "squeezenet1_0",
                 "vgg16", "alexnet", "mnasnet1_0", "inception_v3"]
INPUT_BATCH = 2
CALIBRATION_BATCH = 4


def image_size(arch):
    return 299 if arch == "inception_v3" else 224


def build(arch):
    torch.manual_seed(0)
    kwargs = {"weights": None}
    if arch == "inception_v3":
        kwargs.update(init_weights=True, aux_logits=True, transform_input=False)
    model = getattr(torchvision.models, arch)(**kwargs)
    size = image_size(arch)

    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.reset_running_stats()
                m.momentum = None  # cumulative average: one batch -> its statistics
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
                if torch.all(m.bias == m.bias.flatten()[0]):
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
        if has_bn:
            model.train()
            model(torch.randn((CALIBRATION_BATCH, 3, size, size), generator=gen))
    model.eval()
    return model, size


def expected_names(arch, model):
    names = []
    for key in model.state_dict().keys():
        if key.endswith("num_batches_tracked"):
            continue
        if arch == "inception_v3" and key.startswith("AuxLogits."):
            continue
        names.append(key)
    return names


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def export(arch, out_dir, force):
    arch_dir = os.path.join(out_dir, arch)
    done = os.path.join(arch_dir, "export.json")
    if os.path.exists(done) and not force:
        print(f"export_torchvision: {arch}: already exported ({done})", file=sys.stderr)
        return True
    os.makedirs(arch_dir, exist_ok=True)
    t0 = time.time()
    model, size = build(arch)
    t_build = time.time() - t0

    x = np.random.default_rng(0).standard_normal((INPUT_BATCH, 3, size, size)).astype("<f4")
    write_atomic(os.path.join(arch_dir, "input.bin"), x.tobytes())
    write_atomic(os.path.join(arch_dir, "input.json"), json.dumps({
        "shape": list(x.shape), "dtype": "float32", "byte_order": "little",
        "generator": "numpy.random.default_rng(0).standard_normal",
    }, indent=1).encode())
    with torch.no_grad():
        logits = model(torch.from_numpy(x.astype(np.float32))).numpy().astype("<f4")
    write_atomic(os.path.join(arch_dir, "torch_logits.bin"), logits.tobytes())

    t1 = time.time()
    model_path = os.path.join(arch_dir, "model.onnx")
    tmp_path = model_path + ".tmp"
    dummy = torch.zeros((1, 3, size, size))
    torch.onnx.export(
        model, dummy, tmp_path,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
        opset_version=13,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    os.replace(tmp_path, model_path)
    t_export = time.time() - t1

    proto = onnx.load(model_path, load_external_data=False)
    init_names = {t.name for t in proto.graph.initializer}
    expected = expected_names(arch, model)
    missing = [n for n in expected if n not in init_names]
    extra = sorted(init_names - set(model.state_dict().keys()))
    ops = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1

    meta = {
        "arch": arch,
        "image_size": size,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnx": onnx.__version__,
        "seed": 0,
        "weights": "torchvision init after torch.manual_seed(0); BN gamma/beta and constant "
                   "biases re-drawn (generator seed 1), BN running stats from one train-mode "
                   f"pass of a N(0,1) batch of {CALIBRATION_BATCH}",
        "export": {"opset_version": 13, "training": "PRESERVE", "do_constant_folding": False,
                   "input_names": ["input"], "output_names": ["logits"], "dynamic_batch": True},
        "model_bytes": os.path.getsize(model_path),
        "initializers": len(init_names),
        "expected_state_dict_names": len(expected),
        "missing_state_dict_names": missing,
        "extra_initializers": extra,
        "ops": ops,
        "torch_logits_shape": list(logits.shape),
        "seconds": {"build": round(t_build, 2), "export": round(t_export, 2)},
    }
    if missing:
        print(f"export_torchvision: {arch}: {len(missing)} state_dict names are not initializers "
              f"of {model_path}, e.g. {missing[:5]}", file=sys.stderr)
        write_atomic(os.path.join(arch_dir, "export_failed.json"),
                     json.dumps(meta, indent=1).encode())
        return False
    write_atomic(done, json.dumps(meta, indent=1).encode())
    print(f"export_torchvision: {arch}: {meta['model_bytes'] / 1e6:.1f} MB, "
          f"{len(init_names)} initializers ({len(extra)} not in state_dict), "
          f"build {t_build:.1f}s, export {t_export:.1f}s", file=sys.stderr)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="reference directory (one folder per arch)")
    parser.add_argument("--force", action="store_true", help="re-export existing archs")
    parser.add_argument("archs", nargs="*", default=DEFAULT_ARCHS)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    ok = True
    for arch in args.archs:
        if not hasattr(torchvision.models, arch):
            print(f"export_torchvision: unknown torchvision architecture '{arch}'", file=sys.stderr)
            ok = False
            continue
        ok = export(arch, args.out, args.force) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
