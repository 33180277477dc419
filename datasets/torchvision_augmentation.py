"""Test-time reference for datasets/augmentation.h: torchvision's own functional transforms.

Usage: /usr/bin/python3 torchvision_augmentation.py IN OUT
IN (little-endian): int32 n, c, h, w, padding; float32 mean[c], std[c]; then per example
int32 top, left, flip and n x c x h x w uint8 pixels (CHW). OUT: n x c x h x w float32, what
RandomCrop(padding) (with those offsets) -> RandomHorizontalFlip (flip = 1) -> ToTensor ->
Normalize(mean, std) produce on a PIL image, i.e. the code path of transforms.RandomCrop.forward
(F.pad then F.crop at get_params' offsets) and RandomHorizontalFlip.forward (F.hflip).
Debian's python3 with python3-torchvision and python3-pil; used only by the test.
"""
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import functional as F


def main(in_path, out_path):
    raw = open(in_path, "rb").read()
    n, c, h, w, padding = np.frombuffer(raw, "<i4", 5, 0)
    offset = 20
    mean = np.frombuffer(raw, "<f4", c, offset).tolist()
    offset += 4 * c
    std = np.frombuffer(raw, "<f4", c, offset).tolist()
    offset += 4 * c
    draws = np.frombuffer(raw, "<i4", 3 * n, offset).reshape(n, 3)
    offset += 12 * n
    pixels = np.frombuffer(raw, np.uint8, n * c * h * w, offset).reshape(n, c, h, w)
    out = []
    for i in range(n):
        hwc = np.ascontiguousarray(pixels[i].transpose(1, 2, 0))
        img = Image.fromarray(hwc[:, :, 0] if c == 1 else hwc, "L" if c == 1 else "RGB")
        if padding > 0:
            img = F.pad(img, int(padding), fill=0, padding_mode="constant")
        top, left, flip = (int(v) for v in draws[i])
        img = F.crop(img, top, left, int(h), int(w))
        if flip:
            img = F.hflip(img)
        x = F.normalize(F.to_tensor(img), mean, std)
        out.append(x.numpy().astype("<f4"))
    np.stack(out).tofile(out_path)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1], sys.argv[2])
