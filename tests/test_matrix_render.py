"""The matrix report: failing cells carry their cause (the failing program's first line) in report.md
and report.html, and the heatmap leaves room for its rotated column labels."""

from __future__ import annotations

import re

from torch2tf.matrix.render import render_html, render_markdown

CAUSE = "NotImplementedError: InstanceNormalization op is not implemented."


def results() -> dict:
    ok = {"model": "a", "status": "passed", "max_abs_diff": 1e-7}
    bad = {"model": "a", "status": "failed", "error_class": "OpNotImplemented", "stage": "convert",
           "message": "stage convert failed: onnx-tf could not convert the model: " + CAUSE, "cause": CAUSE,
           "hint": "take another route"}
    return {"generated": "now", "cells": [{**ok, "target": "tf1.13", "route": "onnx-tf-1.3.0-opset9"},
                                          {**bad, "target": "tf1.4", "route": "onnx-tf-1.1.2-opset9to7"}]}


def test_failing_cells_carry_their_cause_in_markdown_and_html():
    md, page = render_markdown(results()), render_html(results())
    assert f"| OpNotImplemented: {CAUSE} |" in md
    assert f'<div class="cause">{CAUSE}</div>' in page


def test_an_old_cell_without_a_cause_shows_its_messages_first_line():
    r = results()
    del r["cells"][1]["cause"]
    assert "OpNotImplemented: stage convert failed: onnx-tf could not convert" in render_markdown(r)


def test_the_heatmap_has_room_for_every_rotated_column_label():
    page = render_html(results())
    width, height = map(int, re.search(r'<svg [^>]*width="(\d+)" height="(\d+)"', page).groups())
    for x, y, text in re.findall(r'<text transform="translate\(([\d.]+),([\d.]+)\) rotate\(-60\)">([^<]+)</text>', page):
        extent = 6.5 * len(text)                 # ~px per character at font-size 11
        assert float(x) + extent * 0.5 <= width and float(y) - extent * 0.87 >= 0, text
