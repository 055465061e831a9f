"""Matrix models for the layers that legacy converters mishandle: kept apart from zoo.py, whose content
is part of its models' digests."""

import torch
from torch import nn


class StandaloneBN(nn.Module):
    """densenet-style pre-activation: BatchNorm after a concat, before any conv, so the export cannot fold
    it into a conv and a standalone BatchNormalization node reaches the converter."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.branch = nn.Conv2d(16, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(24)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(24, classes, 1), nn.AdaptiveAvgPool2d(1))
        # running statistics that are not the identity: a converter that normalises with batch
        # statistics instead (training mode) then computes visibly other numbers
        with torch.no_grad():
            self.norm.running_mean.uniform_(-0.5, 0.5)
            self.norm.running_var.uniform_(0.5, 2.0)
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.2, 0.2)

    def forward(self, x):
        x = self.stem(x)
        return torch.flatten(self.head(self.norm(torch.cat([x, self.branch(x)], 1))), 1)


class SamePool(nn.Module):
    """alexnet/vgg-style AdaptiveAvgPool2d to the size it already has: exported as an AveragePool
    without a `pads` attribute."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d((8, 8))
        self.fc = nn.Linear(16 * 8 * 8, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class Encoder(nn.Module):
    """A transformer encoder layer (multi-head attention, LayerNorm, GELU) on a token sequence."""

    def __init__(self, d_model=32, heads=4, classes=10):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=64, dropout=0.0,
                                                activation="gelu")
        self.head = nn.Linear(d_model, classes)

    def forward(self, x):  # x: (sequence, batch, d_model)
        return self.head(self.layer(x))


class Recurrent(nn.Module):
    """A one-layer LSTM over a sequence, classified from every step."""

    def __init__(self, features=16, hidden=32, classes=10):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):  # x: (batch, steps, features)
        out, _ = self.lstm(x)
        return self.head(out)


def standalone_bn(classes=10):
    return StandaloneBN(classes)


def samepool(classes=10):
    return SamePool(classes)


def encoder(d_model=32, heads=4, classes=10):
    return Encoder(d_model, heads, classes)


def lstm(features=16, hidden=32, classes=10):
    return Recurrent(features, hidden, classes)
