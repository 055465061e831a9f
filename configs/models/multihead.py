"""A shared backbone with two heads (class logits and a box regression): a multi-output model."""

import torch
from torch import nn


class MultiHead(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.cls = nn.Linear(32, num_classes)
        self.box = nn.Linear(32, 4)

    def forward(self, x):
        f = torch.flatten(self.backbone(x), 1)
        return self.cls(f), torch.sigmoid(self.box(f))


def build(num_classes=5):
    return MultiHead(num_classes)
