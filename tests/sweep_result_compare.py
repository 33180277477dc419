#!/usr/bin/env python3
"""Compares two sweep result JSONs apart from timings, timestamps, machine facts and paths.

usage: sweep_result_compare.py A.json B.json   (exit 0 = equal; else prints the differences)

The ignored fields are the ones experiments/README.md lists under "Determinism": everything
else (every accuracy, error, size, training curve value) must be byte-identical.
"""
import json
import sys

# Keys whose values are timings, timestamps, machine facts or where files were.
IGNORED_KEYS = {
    "timestamp", "environment", "wall_seconds", "command", "config_path", "work_dir",
    "seconds", "eval_seconds", "quantize_seconds", "train_seconds", "images_per_second",
    "simulated_eval_seconds", "fp32_eval_seconds", "ms_per_image", "speedup_vs_simulated",
    # Run history: whether the weights came from the cache or a checkpoint, and where it is.
    "from_cache", "resumed_after_epoch", "path", "output",
}


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in IGNORED_KEYS}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def differences(a, b, where=""):
    if type(a) != type(b):
        return [f"{where or '/'}: {a!r} vs {b!r}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}/{k}: only in {'second' if k not in a else 'first'}")
            else:
                out.extend(differences(a[k], b[k], f"{where}/{k}"))
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} entries"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(differences(x, y, f"{where}/{i}"))
        return out
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        a = strip(json.load(f))
    with open(sys.argv[2], encoding="utf-8") as f:
        b = strip(json.load(f))
    diffs = differences(a, b)
    for d in diffs[:20]:
        print(d)
    if len(diffs) > 20:
        print(f"... {len(diffs) - 20} more")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
