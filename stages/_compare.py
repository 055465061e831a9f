"""Comparing a runtime's output with PyTorch's, in a way that can fail (numpy only; Python 3.6).

An absolute tolerance only means something for outputs well above it: with a reference of 3e-9
(seeded weights often give that) atol 1e-4 would pass an all-zero output. Then the check is made
relative to the reference's scale (atol becomes rtol x max|ref|) and says so; an all-zero reference
cannot tell a broken conversion at all and is reported as weak."""

import numpy as np

SCALE_MARGIN = 10.0        # outputs under SCALE_MARGIN x atol are compared relative to their scale


def compare(name, got, ref, atol, rtol):
    row = {"name": name, "shape": list(ref.shape), "got_shape": list(got.shape)}
    if got.shape != ref.shape:
        row.update(passed=False, max_abs_diff=None, max_rel_diff=None,
                   problem="shape %s, reference %s" % (list(got.shape), list(ref.shape)))
        return row
    tiny = _tiniest_normal(got.dtype, ref.dtype)
    got, ref = _flushed(got.astype(np.float64), tiny), _flushed(ref.astype(np.float64), tiny)
    both = np.isfinite(got) & np.isfinite(ref)
    # NaN where the reference has NaN, the same infinity where it has one: the same numbers
    alike = (np.isnan(got) & np.isnan(ref)) | (np.isinf(got) & (got == ref))
    finite = bool(np.all(both | alike))
    got, ref = got[both], ref[both]
    diff = np.abs(got - ref)
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    used_atol = atol
    notes = []
    if not both.all() and finite:
        notes.append("%d non-finite values, where the reference has the same" % int((~both).sum()))
    if scale < SCALE_MARGIN * atol:
        used_atol = rtol * scale
        notes.append("outputs are below the tolerance (max |ref| %.2g, atol %.2g): compared relative to "
                     "their scale, atol %.2g" % (scale, atol, used_atol))
    if scale == 0.0:
        row["weak"] = True
        notes.append("the reference is all zeros: this check cannot tell a broken conversion")
    if notes:
        row["note"] = "; ".join(notes)
    row.update(max_abs_diff=float(diff.max()) if diff.size else 0.0,
               max_rel_diff=float((diff / np.maximum(np.abs(ref), 1e-6)).max()) if diff.size else 0.0,
               ref_scale=scale, atol_used=used_atol,
               passed=finite and bool(np.all(diff <= used_atol + rtol * np.abs(ref))))
    if not finite:
        row["problem"] = "non-finite values in the output, where the reference has other values"
    return row


def _tiniest_normal(*dtypes):
    """The smallest normal magnitude of the floating dtypes compared (0 for integers)."""
    floats = [np.finfo(d).tiny for d in dtypes if np.issubdtype(d, np.floating)]
    return float(max(floats)) if floats else 0.0


def _flushed(values, tiny):
    """Subnormal values as zero: TensorFlow's CPU kernels flush them (FTZ), so a reference made only of
    subnormals is as good as all zeros, and a runtime that flushes them computed the same."""
    if tiny:
        values = np.where(np.abs(values) < tiny, 0.0, values)
    return values
