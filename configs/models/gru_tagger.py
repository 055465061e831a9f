"""A sequence tagger: an Embedding on int64 token ids, a bidirectional GRU, a Linear per step.
PyTorch's GRU always has linear_before_reset, which onnx-tf 1.3 / 1.5 / 1.10 refuse."""

from torch import nn


class Tagger(nn.Module):
    def __init__(self, vocab: int = 50, dim: int = 16, hidden: int = 24, tags: int = 5):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, hidden, bidirectional=True)
        self.out = nn.Linear(2 * hidden, tags)

    def forward(self, ids):
        seq, _ = self.gru(self.embed(ids))
        return self.out(seq)


def build():
    return Tagger()
