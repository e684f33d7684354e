"""The CNN. Exported with TorchScript, so serving needs only the artifact, not this file."""

from __future__ import annotations

import torch
from torch import nn

from ml.metadata import NUM_CLASSES


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class InkNet(nn.Module):
    """A compact VGG-style CNN over 28x28 renders (about 0.6 M parameters)."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 32, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_block(1, w),
            nn.MaxPool2d(2),  # 14
            *_block(w, 2 * w),
            *_block(2 * w, 2 * w),
            nn.MaxPool2d(2),  # 7
            *_block(2 * w, 4 * w),
            *_block(4 * w, 4 * w),
            nn.MaxPool2d(2),  # 3
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(4 * w * 9, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Exported(nn.Module):
    """What the artifact holds: uint8 images (N, 28, 28) in, logits (N, classes) out."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(torch.float32).unsqueeze(1) * (1.0 / 255.0)
        return self.net((x - 0.13) * (1.0 / 0.3))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Ensemble(nn.Module):
    """Several exported nets (and/or image-level test-time variants) averaged in probability space.

    Takes and returns what ``Exported`` does (uint8 images in, log-probabilities as logits out), so
    the serving code cannot tell the difference. ``shifts`` adds copies of the input moved by whole
    pixels; the rasteriser centres by mass, so small shifts mimic its rounding on other writers' ink.
    """

    def __init__(self, members: list[nn.Module], shifts: list[tuple[int, int]] | None = None):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.shifts = shifts or [(0, 0)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        probs = []
        for dy, dx in self.shifts:
            x = images if dy == 0 and dx == 0 else torch.roll(images, shifts=(dy, dx), dims=(1, 2))
            for m in self.members:
                probs.append(torch.softmax(m(x), dim=1))
        return torch.log(torch.stack(probs).mean(0) + 1e-12)
