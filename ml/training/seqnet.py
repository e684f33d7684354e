"""The stroke-sequence model and the image + sequence ensemble. Exported with TorchScript, like ``net.py``."""

from __future__ import annotations

import torch
from torch import nn

from ml.metadata import NUM_CLASSES
from ml.sequence import SEQ_CHANNELS


def _conv(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]


class SeqNet(nn.Module):
    """A 1-D CNN over the resampled pen path: (N, L, channels) float in, logits out (about 0.5 M parameters).

    Convolutions rather than a recurrent net: on a CPU they train several times faster, and the
    receptive field after the last block covers the whole 64-point path.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 64, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_conv(SEQ_CHANNELS, w, 5),
            *_conv(w, 2 * w, 5),
            nn.MaxPool1d(2),  # 32
            *_conv(2 * w, 2 * w, 5),
            *_conv(2 * w, 2 * w, 5),
            nn.MaxPool1d(2),  # 16
            *_conv(2 * w, 4 * w, 3),
            *_conv(4 * w, 4 * w, 3),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(8 * w, num_classes))

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        h = self.features(seq.transpose(1, 2))
        return self.head(torch.cat([h.mean(2), h.amax(2)], dim=1))


class InkEnsemble(nn.Module):
    """The serving artifact when sequence models join: uint8 images + pen paths in, log-probabilities out.

    Each family's members are averaged in probability space, then the two families are mixed with
    weight ``image_weight`` on the image CNNs. ``image_logits`` serves sources with no pen path (MNIST).
    """

    def __init__(self, image_nets: list[nn.Module], seq_nets: list[nn.Module], image_weight: float = 0.5):
        super().__init__()
        self.image_nets = nn.ModuleList(image_nets)
        self.seq_nets = nn.ModuleList(seq_nets)
        self.image_weight = image_weight

    def _image_probs(self, images: torch.Tensor) -> torch.Tensor:
        probs: list[torch.Tensor] = []
        for m in self.image_nets:  # a loop, not a comprehension: TorchScript unrolls ModuleList loops
            probs.append(torch.softmax(m(images), dim=1))
        return torch.stack(probs).mean(0)

    def forward(self, images: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
        seq_probs: list[torch.Tensor] = []
        for m in self.seq_nets:
            seq_probs.append(torch.softmax(m(seq), dim=1))
        p_seq = torch.stack(seq_probs).mean(0)
        w = self.image_weight
        return torch.log(w * self._image_probs(images) + (1.0 - w) * p_seq + 1e-12)

    @torch.jit.export
    def image_logits(self, images: torch.Tensor) -> torch.Tensor:
        return torch.log(self._image_probs(images) + 1e-12)
