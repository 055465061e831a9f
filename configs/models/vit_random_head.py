"""torchvision's VisionTransformer from kwargs, with its classifier head drawn at random. torchvision
zero-initialises the head (heads.head), so with random init every logit is 0 and no check could tell
a broken conversion; a seeded normal head (std 0.02, as in the ViT paper's pre-training) fixes that."""

from torch import nn
from torchvision.models.vision_transformer import VisionTransformer


def build(**kwargs):
    model = VisionTransformer(**kwargs)
    nn.init.normal_(model.heads.head.weight, std=0.02)
    nn.init.normal_(model.heads.head.bias, std=0.02)
    return model
