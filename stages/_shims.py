"""Export shims: functions the routes' opsets have no ONNX form for, replaced during export by exact
compositions of ops every opset has: activations torch 1.7 cannot export (SiLU and HardSwish have no
ONNX op before opset 14, and torch 1.7 has no symbolic for them), and torch 2.x's
F.scaled_dot_product_attention (exported only at opset >= 14, above every TF 1.x route) and
Tensor.unflatten (opset >= 13; torch 2.x's nn.MultiheadAttention uses it). torch.nn.functional and
torch.Tensor are patched, so both the modules (nn.SiLU calls F.silu) and functional calls in a
forward are covered. Python 3.6-compatible like every stage helper."""

import contextlib


def compositions(torch):
    def hard_sigmoid(x):
        return torch.clamp(x + 3.0, 0.0, 6.0) / 6.0

    def attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **_):
        # eval export: no dropout. softmax(q k^T * scale + mask) v, as torch defines it
        scale = 1.0 / float(query.shape[-1]) ** 0.5 if scale is None else scale
        scores = torch.matmul(query, key.transpose(-2, -1)) * scale
        if is_causal:
            n, m = query.shape[-2], key.shape[-2]
            attn_mask = torch.ones(n, m, dtype=torch.bool).tril()
        if attn_mask is not None:
            if attn_mask.dtype == torch.bool:
                scores = scores.masked_fill(~attn_mask, float("-inf"))
            else:
                scores = scores + attn_mask
        return torch.matmul(torch.softmax(scores, dim=-1), value)

    return {
        "silu": lambda x, *a, **k: x * torch.sigmoid(x),
        "hardswish": lambda x, *a, **k: x * hard_sigmoid(x),
        "hardsigmoid": lambda x, *a, **k: hard_sigmoid(x),
        "mish": lambda x, *a, **k: x * torch.tanh(torch.nn.functional.softplus(x)),
        "scaled_dot_product_attention": attention,
    }


def tensor_compositions(torch):
    def unflatten(x, dim, sizes):
        dim = dim % x.dim()
        return x.reshape(tuple(x.shape[:dim]) + tuple(sizes) + tuple(x.shape[dim + 1:]))

    return {"unflatten": unflatten}


@contextlib.contextmanager
def export_shims(torch, applied):
    """Within the block, F.<name> computes the composition; `applied` collects the names used."""
    functional = torch.nn.functional
    originals = {}

    def shim(name, composition):
        def call(*args, **kwargs):      # inplace= and the like: the composition is out of place
            applied.add(name)
            return composition(*args, **kwargs)
        return call

    for owner, table in ((functional, compositions(torch)), (torch.Tensor, tensor_compositions(torch))):
        for name, composition in table.items():
            if hasattr(owner, name):
                originals[(owner, name)] = getattr(owner, name)
                setattr(owner, name, shim(name, composition))
    try:
        yield
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)
