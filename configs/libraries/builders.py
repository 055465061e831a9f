"""Factories for models built by the libraries labs use, with random init and nothing downloaded.
Each returns a module in eval mode whose forward gives the one tensor a deployment serves."""

import os
import tempfile

import torch


def _calibrate(model, shape, batches=4):
    """BatchNorm statistics from a few random batches, as training would leave them: a freshly built
    detector's running stats (0 / 1) make its outputs hardly depend on the input, and a check of such
    outputs could not fail."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(*shape))
    return model.eval()


def yolov8n():
    """ultralytics' YOLOv8n detector from its bundled yaml, its Detect head in export mode ([1, 84, 8400])."""
    scratch = tempfile.mkdtemp(prefix="yolo-config-")
    for key in ("YOLO_CONFIG_DIR", "MPLCONFIGDIR"):
        os.environ.setdefault(key, scratch)
    os.environ.setdefault("YOLO_OFFLINE", "True")     # no connection checks at import
    from ultralytics.nn.tasks import DetectionModel
    model = DetectionModel("yolov8n.yaml", verbose=False)
    model = _calibrate(model, (2, 3, 320, 320))
    for m in model.modules():
        if type(m).__name__ == "Detect":
            m.export, m.format = True, "onnx"
    return model


class _Encoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids).last_hidden_state


def bert_encoder():
    """A small HF BERT encoder built from a config object (no download): last_hidden_state."""
    from transformers import BertConfig, BertModel
    config = BertConfig(vocab_size=1000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, max_position_embeddings=128)
    return _Encoder(BertModel(config).eval())


def distilbert_encoder():
    """A small HF DistilBERT encoder from a config object (no download): its attention masks the scores
    with a Where against a scalar, which TF < 1.14's Select cannot broadcast."""
    from transformers import DistilBertConfig, DistilBertModel
    config = DistilBertConfig(vocab_size=1000, dim=256, n_layers=2, n_heads=4, hidden_dim=1024,
                              max_position_embeddings=128)
    return _Encoder(DistilBertModel(config).eval())


def yolov5n():
    """The yolov5 package's YOLOv5n from its bundled yaml, Detect in export mode ([1, 6300, 85] at 320)."""
    scratch = tempfile.mkdtemp(prefix="yolov5-config-")
    for key in ("YOLOV5_CONFIG_DIR", "YOLO_CONFIG_DIR", "MPLCONFIGDIR"):
        os.environ.setdefault(key, scratch)
    import yolov5
    from yolov5.models.yolo import Detect, Model
    model = Model(os.path.join(os.path.dirname(yolov5.__file__), "models", "yolov5n.yaml"))
    model = _calibrate(model, (2, 3, 320, 320))
    for m in model.modules():
        if isinstance(m, Detect):
            m.inplace, m.export = False, True
    return _First(model)


class _First(torch.nn.Module):
    """The first output of a forward that returns a tuple (yolov5's Detect: (predictions, ...))."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out[0] if isinstance(out, (tuple, list)) else out


def efficientnet_pytorch_b0():
    """efficientnet-pytorch's EfficientNet-B0 from its name (random init) with the plain-op Swish: its
    memory-efficient Swish is a torch.autograd.Function, which has no ONNX form (its README says so)."""
    from efficientnet_pytorch import EfficientNet
    model = EfficientNet.from_name("efficientnet-b0")
    model.set_swish(memory_efficient=False)
    # from_name's fresh net gives all-zero logits (a check of those could not fail): a drawn head and
    # BatchNorm statistics from random batches, as trained weights would have
    torch.nn.init.normal_(model._fc.weight, std=0.05)
    torch.nn.init.uniform_(model._fc.bias, -0.1, 0.1)
    return _calibrate(model, (2, 3, 224, 224))
