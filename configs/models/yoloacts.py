"""yolov5 / mobilenet_v3 activations for the matrix: kept apart from zoo.py, whose content is part of its models' digests."""

import torch.nn as nn


class YoloActs(nn.Module):
    """yolov5-style blocks with the activations torch 1.7 cannot export: Conv-BN-SiLU, Conv-BN-Hardswish,
    and a Hardsigmoid-gated squeeze-excite (as in mobilenet_v3)."""

    def __init__(self, cout=16):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.SiLU())
        self.b = nn.Sequential(nn.Conv2d(cout, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.Hardswish())
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cout, cout, 1), nn.Hardsigmoid())

    def forward(self, x):
        y = self.b(self.a(x))
        return y * self.gate(y)


def yoloacts(cout=16):
    return YoloActs(cout)
