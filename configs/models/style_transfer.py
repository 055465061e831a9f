"""A fast style-transfer net after Johnson et al. (2016), as the PyTorch examples write it
(examples/fast_neural_style): ReflectionPad2d convs with InstanceNorm2d, two downsampling convs,
residual blocks, two nearest-upsampling convs back to full size."""

from torch import nn


class ConvLayer(nn.Sequential):
    def __init__(self, cin, cout, kernel, stride=1, upsample=None):
        layers = [nn.Upsample(scale_factor=upsample, mode="nearest")] if upsample else []
        layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        super().__init__(*layers)


def norm(channels):
    return nn.InstanceNorm2d(channels, affine=True)


class Residual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), norm(channels), nn.ReLU(),
                                  ConvLayer(channels, channels, 3), norm(channels))

    def forward(self, x):
        return x + self.body(x)


def build(width: int = 32, blocks: int = 5):
    w = width
    return nn.Sequential(
        ConvLayer(3, w, 9), norm(w), nn.ReLU(),
        ConvLayer(w, 2 * w, 3, stride=2), norm(2 * w), nn.ReLU(),
        ConvLayer(2 * w, 4 * w, 3, stride=2), norm(4 * w), nn.ReLU(),
        *[Residual(4 * w) for _ in range(blocks)],
        ConvLayer(4 * w, 2 * w, 3, upsample=2), norm(2 * w), nn.ReLU(),
        ConvLayer(2 * w, w, 3, upsample=2), norm(w), nn.ReLU(),
        ConvLayer(w, 3, 9))
