"""An image and a feature vector in, one score out: a model with a 4D and a 2D input (onnx2tf keeps
only 3D / 4D / 5D inputs channels-first; the convert stage asks it for those alone)."""

import torch
from torch import nn


class ImageAndFeatures(nn.Module):
    def __init__(self, features=8, width=8, classes=4):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.meta = nn.Linear(features, width)
        self.head = nn.Linear(2 * width, classes)

    def forward(self, image, features):
        pooled = torch.flatten(self.conv(image), 1)
        return self.head(torch.cat([pooled, torch.relu(self.meta(features))], 1))


def build(features=8, width=8, classes=4):
    return ImageAndFeatures(features=features, width=width, classes=classes)
