"""Export shims: activations torch 1.7 cannot export to ONNX (SiLU and HardSwish have no ONNX op
before opset 14, and torch 1.7 has no symbolic for them) replaced during export by exact compositions
of ops every opset has. torch.nn.functional is patched, so both the modules (nn.SiLU calls F.silu)
and functional calls in a forward are covered. Python 3.6-compatible like every stage helper."""

import contextlib


def compositions(torch):
    def hard_sigmoid(x):
        return torch.clamp(x + 3.0, 0.0, 6.0) / 6.0

    return {
        "silu": lambda x: x * torch.sigmoid(x),
        "hardswish": lambda x: x * hard_sigmoid(x),
        "hardsigmoid": hard_sigmoid,
        "mish": lambda x: x * torch.tanh(torch.nn.functional.softplus(x)),
    }


@contextlib.contextmanager
def export_shims(torch, applied):
    """Within the block, F.<name> computes the composition; `applied` collects the names used."""
    functional = torch.nn.functional
    originals = {}

    def shim(name, composition):
        def call(input, *args, **kwargs):      # inplace= and the like: the composition is out of place
            applied.add(name)
            return composition(input)
        return call

    for name, composition in compositions(torch).items():
        if hasattr(functional, name):
            originals[name] = getattr(functional, name)
            setattr(functional, name, shim(name, composition))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(functional, name, original)
