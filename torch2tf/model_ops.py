"""What a model is, for route choice: its ONNX op types, plus the attributes that change what a converter
does with an op (a depthwise or grouped conv, a ceil_mode pool, a resize mode). Read on the host with
its onnx; nothing here runs a model."""

from __future__ import annotations

from pathlib import Path

POOLS = ("MaxPool", "AveragePool")
RESIZES = ("Resize", "Upsample")


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def node_tokens(node, weights: dict) -> set[str]:
    """The op type, and op:qualifier for each attribute that matters to a converter."""
    attrs, op = _attrs(node), node.op_type
    tokens = {op}
    if op == "Conv" and int(attrs.get("group", 1)) > 1:
        shape = weights.get(node.input[1]) if len(node.input) > 1 else None
        tokens.add("Conv:depthwise" if shape is not None and len(shape) > 1 and shape[1] == 1 else "Conv:grouped")
    if op in POOLS and int(attrs.get("ceil_mode", 0)):
        tokens.add(f"{op}:ceil")
    if op in RESIZES:
        tokens.add(f"{op}:{_text(attrs.get('mode', b'nearest'))}")
    if op == "Pad" and _text(attrs.get("mode", b"constant")) != "constant":
        tokens.add(f"Pad:{_text(attrs['mode'])}")
    return tokens


def op_tokens(path: Path) -> frozenset[str]:
    """Every token of the file's main graph; an unreadable file has none (ranking then goes without)."""
    import onnx
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - route choice must never fail on this
        return frozenset()
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    tokens: set[str] = set()
    for node in model.graph.node:
        tokens |= node_tokens(node, weights)
    return frozenset(tokens)


def similarity(a: frozenset[str] | None, b: frozenset[str] | None) -> float | None:
    """Jaccard similarity of two models' tokens; None when either is unknown."""
    if not a or not b:
        return None
    return len(a & b) / len(a | b)
