"""Small models that stress converters, for `invoke matrix`. Weights come from the config's seed."""

import torch
from torch import nn


class SegNet(nn.Module):
    """Depthwise-separable convs with ReLU6 and a bilinear Upsample back to input size."""

    def __init__(self, classes=4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.ReLU6(),
                                nn.Conv2d(16, 32, 1), nn.BatchNorm2d(32), nn.ReLU6())
        self.head = nn.Conv2d(32, classes, 1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x):
        return self.up(self.head(self.dw(self.stem(x))))


class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU(inplace=True))
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU(inplace=True))
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x):
        x = self.squeeze(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


class SqueezeLike(nn.Module):
    """SqueezeNet-style: ceil_mode max pools, whose asymmetric pads old converters cannot express."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(32, 8, 16), nn.MaxPool2d(3, 2, ceil_mode=True), Fire(32, 8, 16))
        self.classifier = nn.Sequential(nn.Conv2d(32, classes, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1))
        # He init (as torchvision's SqueezeNet): with torch's default init the logits are nearly all bias
        # and a second random input moves them by 5e-4, too little for a check at atol 1e-4 to mean anything
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.uniform_(m.bias, -0.1, 0.1)

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class Conv3DNet(nn.Module):
    """A video-style 3D conv net on a 5D (N, C, T, H, W) input."""

    def __init__(self, classes=5):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
                                  nn.Conv3d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1))
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.body(x), 1))


class Focus(nn.Module):
    """The yolov5 Focus block: strided slices (step 2) concatenated, then a conv."""

    def __init__(self, cout=16):
        super().__init__()
        # LeakyReLU as in yolov3/v4 (torch 1.7 cannot export yolov5's SiLU to ONNX at any opset)
        self.conv = nn.Sequential(nn.Conv2d(12, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1))

    def forward(self, x):
        return self.conv(torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1))


def segnet(classes=4):
    return SegNet(classes)


def squeezelike(classes=10):
    return SqueezeLike(classes)


def conv3dnet(classes=5):
    return Conv3DNet(classes)


def focus(cout=16):
    return Focus(cout)
