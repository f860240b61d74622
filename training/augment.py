"""Batch augmentation with plain torch ops (no torchvision), driven by an explicit generator.

Pad-and-crop (reflect padding), horizontal flip and cutout, the recipe that lets ResNet-9 learn
from a few hundred 32x32 images without memorising them. Every random draw comes from the
passed `torch.Generator`, so a seed reproduces the exact same batches.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Reflect-pad by `padding` and cut a random HxW window per image."""
    if padding <= 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding), mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]  # (n, 1, h, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]  # (n, 1, 1, w)
    batch = torch.arange(n)[:, None, None, None]
    channels = torch.arange(images.shape[1])[None, :, None, None]
    return padded[batch, channels, rows, cols]


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def cutout(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a size x size square (clipped at the border) at a random centre in each image."""
    if size <= 0:
        return images
    n, _, h, w = images.shape
    cy = torch.randint(0, h, (n,), generator=generator)
    cx = torch.randint(0, w, (n,), generator=generator)
    y = torch.arange(h)[None, :]
    x = torch.arange(w)[None, :]
    inside_y = (y >= (cy - size // 2)[:, None]) & (y < (cy - size // 2 + size)[:, None])  # (n, h)
    inside_x = (x >= (cx - size // 2)[:, None]) & (x < (cx - size // 2 + size)[:, None])  # (n, w)
    mask = inside_y[:, :, None] & inside_x[:, None, :]
    return images.masked_fill(mask[:, None, :, :], 0.0)


def augment_batch(images: torch.Tensor, generator: torch.Generator, crop_padding: int = 4,
                  cutout_size: int = 12, flip: bool = True) -> torch.Tensor:
    """Normalised float batch (N, 3, H, W) -> augmented copy (cutout fills with the mean, i.e. 0)."""
    images = random_crop(images, crop_padding, generator)
    if flip:
        images = random_flip(images, generator)
    return cutout(images, cutout_size, generator)


def cutmix(images: torch.Tensor, generator: torch.Generator, probability: float
           ) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """With `probability`, paste one random box from a shuffled copy of the batch (CutMix).

    Returns (images, partner_order or None, weight of the original labels = 1 - box share).
    """
    if probability <= 0 or float(torch.rand((), generator=generator)) >= probability:
        return images, None, 1.0
    n, _, h, w = images.shape
    share = float(torch.rand((), generator=generator))  # box area share ~ U(0, 1), as Beta(1, 1)
    box_h, box_w = int(round(h * share ** 0.5)), int(round(w * share ** 0.5))
    cy, cx = int(torch.randint(0, h, (), generator=generator)), int(torch.randint(0, w, (), generator=generator))
    y0, y1 = max(cy - box_h // 2, 0), min(cy - box_h // 2 + box_h, h)
    x0, x1 = max(cx - box_w // 2, 0), min(cx - box_w // 2 + box_w, w)
    order = torch.randperm(n, generator=generator)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[order, :, y0:y1, x0:x1]
    return mixed, order, 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
