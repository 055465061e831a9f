"""torch2tf: PyTorch -> ONNX -> TensorFlow through locked per-stage environments."""

from torch2tf.errors import Torch2TFError

__all__ = ["Torch2TFError"]
__version__ = "0.1.0"
