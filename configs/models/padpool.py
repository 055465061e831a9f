"""Matrix model for average pools with padding, kept apart from the other model files, whose content
is part of their models' digests."""

from torch import nn


class PadPool(nn.Module):
    """inception-style 3x3 average pool with padding 1 (count_include_pad=True: torch writes a Pad
    before the AveragePool below opset 11) and a densenet-style transition (1x1 conv, 2x2 pool)."""

    def __init__(self, classes=5):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.transition = nn.Sequential(nn.Conv2d(8, 8, 1), nn.AvgPool2d(2, 2))
        self.fc = nn.Linear(8 * 8 * 8, classes)

    def forward(self, x):
        return self.fc(self.transition(self.pool(self.conv(x))).flatten(1))


def padpool(classes=5):
    return PadPool(classes)
