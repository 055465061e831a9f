"""Exact lowerings of newer TF ops for older runtimes, on GraphDef protos (Python 3.6; numpy + TF).

ResizeBilinear with half_pixel_centers (PyTorch's bilinear, align_corners=False; the attr came in
TF 1.14) is a separable linear map: with the input's spatial size static, it is two MatMuls with
constant interpolation matrices, which every TF 1.x runs. The matrices hold TF's own half-pixel
weights (in = (out + 0.5) * in_size / out_size - 0.5, clamped at the edges), so the numbers are
those of the newer op up to float summation order.
"""

import numpy as np

import _graphdef

DT_FLOAT, DT_INT32, DT_BOOL = 1, 3, 10


def interpolation_matrix(in_size, out_size):
    """[out_size, in_size] weights of half-pixel linear interpolation (TF's HalfPixelScaler)."""
    scale = float(in_size) / out_size
    m = np.zeros((out_size, in_size), np.float64)
    for i in range(out_size):
        x = (i + 0.5) * scale - 0.5
        lower_f = np.floor(x)
        lower = int(max(lower_f, 0))
        upper = int(min(np.ceil(x), in_size - 1))
        lerp = x - lower_f
        m[i, lower] += 1.0 - lerp
        m[i, upper] += lerp
    return m.astype(np.float32)


def static_shape(gd_nodes, ref):
    """The shape recorded in `_output_shapes` for a tensor reference "node:port", or None."""
    name, _, port = ref.partition(":")
    node = gd_nodes.get(name)
    if node is None or "_output_shapes" not in node.attr:
        return None
    shapes = node.attr["_output_shapes"].list.shape
    port = int(port or 0)
    if port >= len(shapes) or shapes[port].unknown_rank:
        return None
    return [d.size for d in shapes[port].dim]


def _const(gd, tf, name, array):
    from tensorflow.python.framework import tensor_util
    node = gd.node.add()
    node.name, node.op = name, "Const"
    node.attr["dtype"].type = tf.as_dtype(array.dtype).as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(array))
    return name


def _op(gd, name, op, inputs, attrs):
    node = gd.node.add()
    node.name, node.op = name, op
    node.input.extend(inputs)
    for key, dtype in attrs.items():
        node.attr[key].type = dtype
    return name


def _become(node, op, inputs, types):
    """Turn `node` into the last op of its lowering: its name stays, so its consumers need no change."""
    node.op = op
    del node.input[:]
    node.input.extend(inputs)
    for key in list(node.attr):
        if not key.startswith("_"):
            del node.attr[key]
    for key, dtype in types.items():
        node.attr[key].type = dtype


def _resize_sizes(tf, node, nodes):
    """((in height, in width, channels, out height, out width), None) of a half-pixel resize, else
    (None, why not): the lowerings need them static."""
    from tensorflow.python.framework import tensor_util
    if node.attr["align_corners"].b:
        return None, "align_corners and half_pixel_centers together"
    shape = static_shape(nodes, node.input[0])
    size_node = nodes.get(node.input[1].partition(":")[0])
    if not shape or len(shape) != 4 or any(d < 0 for d in shape[1:]):
        return None, "the input's height, width and channels are not static (%s)" % (shape,)
    _, h, w, c = shape
    if size_node is not None and size_node.op == "Const":
        oh, ow = [int(v) for v in tensor_util.MakeNdarray(size_node.attr["value"].tensor)]
    else:                                      # computed from Shape ops: the node's own static output
        out = static_shape(nodes, node.name)
        if not out or len(out) != 4 or min(out[1:3]) < 1:
            return None, "the output size is neither a constant nor static"
        oh, ow = out[1], out[2]
    return (h, w, c, oh, ow), None


def nearest_indices(in_size, out_size):
    """The source row of each output row of TF's half-pixel nearest resize (HalfPixelScalerForNN, in
    float32 as its kernel computes: floor((out + 0.5) * in / out), within the input)."""
    scale = np.float32(in_size) / np.float32(out_size)
    at = np.floor((np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale)
    return np.clip(at, 0, in_size - 1).astype(np.int32)


def resize_nearest_half_pixel(tf, gd, node, nodes):
    """ResizeNearestNeighbor with half_pixel_centers (TF >= 1.14) as two GatherV2 of constant source
    rows and columns, which TF 1.x runs: the same pixels picked, so exact. (what was done, None) or
    (None, why not)."""
    sizes, why = _resize_sizes(tf, node, nodes)
    if why:
        return None, why
    h, w, _, oh, ow = sizes
    p = node.name + "/torch2tf_nearest/"
    gather = {"Tparams": node.attr["T"].type, "Tindices": DT_INT32, "Taxis": DT_INT32}
    rows = _op(gd, p + "rows", "GatherV2", [node.input[0], _const(gd, tf, p + "source_rows", nearest_indices(h, oh)),
                                           _const(gd, tf, p + "axis_h", np.array(1, np.int32))], gather)
    _become(node, "GatherV2", [rows, _const(gd, tf, p + "source_cols", nearest_indices(w, ow)),
                               _const(gd, tf, p + "axis_w", np.array(2, np.int32))], gather)
    return "ResizeNearestNeighbor(half_pixel_centers)->2 GatherV2", None


def resize_bilinear_half_pixel(tf, gd, node, nodes):
    """Rewrite `node` (ResizeBilinear, half_pixel_centers) in place as Transpose/Reshape/MatMul; returns
    None when done, else why it cannot be (the caller refuses the graph with that reason)."""
    sizes, why = _resize_sizes(tf, node, nodes)
    if why:
        return why
    h, w, c, oh, ow = sizes
    f32, i32 = tf.float32.as_datatype_enum, tf.int32.as_datatype_enum
    if node.attr["T"].type != f32:
        return "the input is not float32"
    p = node.name + "/torch2tf_bilinear/"

    def perm(name, values):
        return _const(gd, tf, p + name, np.array(values, np.int32))

    t = {"T": f32, "Tperm": i32}
    r = {"T": f32, "Tshape": i32}
    m = {"T": f32}
    nchw = _op(gd, p + "nchw", "Transpose", [node.input[0], perm("perm_nchw", [0, 3, 1, 2])], t)
    rows = _op(gd, p + "rows", "Reshape", [nchw, perm("shape_rows", [-1, w])], r)
    along_w = _op(gd, p + "along_w", "MatMul", [rows, _const(gd, tf, p + "weights_w", interpolation_matrix(w, ow).T.copy())], m)
    cube = _op(gd, p + "cube", "Reshape", [along_w, perm("shape_cube", [-1, h, ow])], r)
    swapped = _op(gd, p + "swapped", "Transpose", [cube, perm("perm_swap", [0, 2, 1])], t)
    cols = _op(gd, p + "cols", "Reshape", [swapped, perm("shape_cols", [-1, h])], r)
    along_h = _op(gd, p + "along_h", "MatMul", [cols, _const(gd, tf, p + "weights_h", interpolation_matrix(h, oh).T.copy())], m)
    back = _op(gd, p + "back", "Reshape", [along_h, perm("shape_back", [-1, c, ow, oh])], r)
    _become(node, "Transpose", [back, perm("perm_nhwc", [0, 3, 2, 1])], {"T": f32, "Tperm": i32})
    return None


def grouped_conv2d(tf, node, nodes):
    """Conv2D with a grouped filter (TF >= 2 reads groups off the filter's in-channels; TF 1.x
    cannot): with one input channel per group it is a depthwise conv (multiplier = out / in), whose
    filter is the same values reshaped. Returns None when not grouped or when rewritten in place,
    else why it cannot be lowered."""
    from tensorflow.python.framework import tensor_util
    shape = static_shape(nodes, node.input[0])
    chain = [nodes.get(node.input[1].partition(":")[0])]
    while chain[-1] is not None and chain[-1].op == "Identity":      # frozen functions pass consts on
        chain.append(nodes.get(chain[-1].input[0].partition(":")[0]))
    filt = chain[-1]
    if node.attr["data_format"].s not in (b"", b"NHWC") or not shape or len(shape) != 4 or shape[3] < 1:
        return None
    if filt is None or filt.op != "Const":
        return None
    weights = tensor_util.MakeNdarray(filt.attr["value"].tensor)
    kh, kw, per_group, out = weights.shape
    channels = shape[3]
    if per_group == channels:
        return None                           # an ordinary convolution
    if per_group != 1 or out % channels:
        return "a grouped convolution with %d input channels per group" % per_group
    filt.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(
        weights.reshape(kh, kw, channels, out // channels)))
    for link in chain:                          # their recorded shapes are the grouped filter's
        if "_output_shapes" in link.attr:
            del link.attr["_output_shapes"]
    node.op = "DepthwiseConv2dNative"
    return None


def _int_attrs(node, **values):
    for key, value in values.items():
        node.attr[key].i = value


def batch_matmul_v2(tf, gd, node, nodes):
    """BatchMatMulV2 (TF >= 1.14: batch dims broadcast) in the forms TF 1.x has: BatchMatMul when the
    batch dims are equal and static, and Reshape -> MatMul -> Reshape when the right operand is a
    matrix (a Linear layer on a sequence). Rewrites `node` in place and returns None, else why not."""
    sx = static_shape(nodes, node.input[0])
    sy = static_shape(nodes, node.input[1])
    if not sx or not sy:
        return "the operands' shapes are not known"
    adj_x, adj_y = node.attr["adj_x"].b, node.attr["adj_y"].b
    if len(sx) == len(sy) and sx[:-2] == sy[:-2] and all(d >= 0 for d in sx[:-2]):
        node.op = "BatchMatMul"              # same attrs (T, adj_x, adj_y), no broadcasting needed
        return None
    if len(sy) != 2 or adj_x or len(sx) < 2 or sx[-1] < 0:
        return "batch dims %s and %s would broadcast" % (sx[:-2], sy[:-2])
    dtype = node.attr["T"].type
    i32 = tf.int32.as_datatype_enum
    k, n = sx[-1], (sy[0] if adj_y else sy[1])
    p = node.name + "/torch2tf_matmul/"
    rows = _op(gd, p + "rows", "Reshape", [node.input[0], _const(gd, tf, p + "shape_rows", np.array([-1, k], np.int32))],
               {"T": dtype, "Tshape": i32})
    product = _op(gd, p + "product", "MatMul", [rows, node.input[1]], {"T": dtype})
    gd.node[-1].attr["transpose_a"].b = False
    gd.node[-1].attr["transpose_b"].b = adj_y
    out = static_shape(nodes, node.name)
    if out and all(d >= 0 for d in out):
        shape = _const(gd, tf, p + "shape_out", np.array(out, np.int32))
    else:                                    # a dynamic dim (batch): x's leading dims, then n
        lead = _op(gd, p + "shape_x", "Shape", [node.input[0]], {"T": dtype, "out_type": i32})
        begin, end, step = [_const(gd, tf, p + name, np.array([v], np.int32))
                            for name, v in (("begin", 0), ("end", -1), ("step", 1))]
        lead = _op(gd, p + "lead", "StridedSlice", [lead, begin, end, step], {"T": i32, "Index": i32})
        _int_attrs(gd.node[-1], begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)
        shape = _op(gd, p + "shape_out", "ConcatV2",
                    [lead, _const(gd, tf, p + "n", np.array([n], np.int32)), _const(gd, tf, p + "axis", np.array(0, np.int32))],
                    {"T": i32, "Tidx": i32})
        gd.node[-1].attr["N"].i = 2
    _become(node, "Reshape", [product, shape], {"T": dtype, "Tshape": i32})
    return None


def softmax_2d(tf, gd, node, nodes):
    """Softmax / LogSoftmax over the last axis of an N-D tensor as Reshape -> op on a matrix ->
    Reshape back (TF 1.4's kernels take matrices only: "logits must be 2-dimensional"; its Python
    tf.nn.softmax did this reshaping, a graph from a newer TF does not). Returns (rewritten, why not)."""
    shape = static_shape(nodes, node.input[0])
    if shape is None:
        return False, "the input's rank is not known"
    if len(shape) <= 2:
        return False, None
    if shape[-1] < 0:
        return False, "the softmax axis has no static size"
    dtype, i32 = node.attr["T"].type, tf.int32.as_datatype_enum
    p = node.name + "/torch2tf_2d/"
    rows = _op(gd, p + "rows", "Reshape", [node.input[0], _const(gd, tf, p + "shape_rows", np.array([-1, shape[-1]], np.int32))],
               {"T": dtype, "Tshape": i32})
    flat = _op(gd, p + node.op, node.op, [rows], {"T": dtype})
    back = _op(gd, p + "shape", "Shape", [node.input[0]], {"T": dtype, "out_type": i32})
    _become(node, "Reshape", [flat, back], {"T": dtype, "Tshape": i32})
    return True, None




def select_v2(tf, gd, node, nodes):
    """SelectV2 (TF >= 1.14: the three operands broadcast) as Select (equal shapes, or a scalar
    condition with equal branches). Operands that broadcast (a mask's Where with a scalar branch) are
    broadcast first, exactly: x + Fill(shape, -0.0) (adding -0.0 keeps every float, -0.0 too), a
    condition through LogicalOr with Fill(shape, False). Renames `node` in place: (what was done, None),
    else (None, why not)."""
    shapes = [static_shape(nodes, ref) for ref in node.input[:3]]
    if any(s is None or any(d < 0 for d in s) for s in shapes):
        return None, "the operands' shapes are not all static (%s)" % (shapes,)
    cond, then, other = shapes
    if then == other and cond in ([], then):
        node.op = "Select"                          # same attr (T)
        return "SelectV2->Select", None
    try:
        full = list(np.broadcast(*[np.empty(s, np.int8) for s in shapes]).shape)
    except ValueError:
        return None, "the operands do not broadcast (%s)" % (shapes,)
    dtype = node.attr["T"].type
    dims = _const(gd, tf, node.name + "/torch2tf_broadcast/shape", np.array(full, np.int32))
    for index, shape in enumerate(shapes):
        if shape == full:
            continue
        p = "%s/torch2tf_broadcast/%d/" % (node.name, index)
        if index == 0:
            fill = _const(gd, tf, p + "false", np.array(False))
            zeros = _op(gd, p + "fill", "Fill", [dims, fill], {"T": DT_BOOL})
            node.input[0] = _op(gd, p + "or", "LogicalOr", [node.input[0], zeros], {})
        else:
            zero = np.array(-0.0 if tf.as_dtype(dtype).is_floating else 0, tf.as_dtype(dtype).as_numpy_dtype)
            zeros = _op(gd, p + "fill", "Fill", [dims, _const(gd, tf, p + "zero", zero)], {"T": dtype})
            node.input[index] = _op(gd, p + "add", "Add", [node.input[index], zeros], {"T": dtype})
    node.op = "Select"
    return "SelectV2(broadcast)->Fill+Select", None


def clip_by_value(gd, node):
    """ClipByValue (TF >= 1.8's kernel) as Minimum(Maximum(t, min), max): the op's own definition,
    bound by bound, with the same broadcasting."""
    dtype = node.attr["T"].type
    low = _op(gd, node.name + "/torch2tf_max", "Maximum", [node.input[0], node.input[1]], {"T": dtype})
    _become(node, "Minimum", [low, node.input[2]], {"T": dtype})
    return "ClipByValue->Maximum+Minimum", None


def _const_array(tf, nodes, ref):
    """The value of a Const (through Identity) a tensor reference names, else None."""
    from tensorflow.python.framework import tensor_util
    node = nodes.get(ref.lstrip("^").split(":")[0])
    while node is not None and node.op == "Identity":
        node = nodes.get(node.input[0].split(":")[0])
    if node is None or node.op != "Const":
        return None
    return _graphdef.tensor_value(tensor_util, node.attr["value"].tensor)


def matrix_diag_v3(tf, gd, node, nodes):
    """MatrixDiagV3 (TF >= 2.2: diagonal offset k, output rows / cols, padding value) as TF 1.x's
    MatrixDiag where it is one: k = 0 and padding 0; an output larger than the diagonal's square
    (tf.eye(3, 4)) is MatrixDiag then Pad with zeros. (what was done, None) or (None, why not)."""
    k, rows, cols, pad = [_const_array(tf, nodes, ref) for ref in node.input[1:5]]
    if any(v is None for v in (k, rows, cols, pad)):
        return None, "its k / num_rows / num_cols / padding_value are not constants"
    if k.size != 1 or int(k.reshape(-1)[0]) != 0 or float(pad) != 0.0:
        return None, "a diagonal off the main one (k=%s) or a padding value %s has no TF 1.x form" % (k.tolist(), pad)
    shape = static_shape(nodes, node.input[0])
    if shape is None or not shape or shape[-1] < 0:
        return None, "the diagonal's length is not static (%s)" % (shape,)
    m = shape[-1]
    rows, cols = [m if int(v) == -1 else int(v) for v in (rows, cols)]
    if rows < m or cols < m or (rows > m and cols > m):
        return None, "a %dx%d output of a diagonal of %d is not a plain diagonal" % (rows, cols, m)
    dtype = node.attr["T"].type
    if (rows, cols) == (m, m):
        _become(node, "MatrixDiag", [node.input[0]], {"T": dtype})
        return "MatrixDiagV3->MatrixDiag", None
    square = _op(gd, node.name + "/torch2tf_square", "MatrixDiag", [node.input[0]], {"T": dtype})
    paddings = np.zeros((len(shape) + 1, 2), np.int32)
    paddings[-2:, 1] = [rows - m, cols - m]
    amounts = _const(gd, tf, node.name + "/torch2tf_paddings", paddings)
    _become(node, "Pad", [square, amounts], {"T": dtype, "Tpaddings": DT_INT32})
    return "MatrixDiagV3->MatrixDiag+Pad", None


def tensor_scatter_update(tf, gd, node, nodes):
    """TensorScatterUpdate (TF >= 1.14; onnx-tf writes ScatterND, ScatterElements and GatherElements'
    axis swap with it) as TF 1.4's ScatterNd, which scatters into zeros and sums duplicates: the
    updates scattered, divided by how often each slot was hit (a slot written twice with one value
    keeps it), and Select against the input where a slot was hit. Exact for unique indices, the only
    ones ONNX's ScatterND / ScatterElements-11 define."""
    dtype = node.attr["T"].type
    if tf.as_dtype(dtype) == tf.bool:
        return None, "bool tensors (TF 1.4's Div has no bool kernel)"
    index_type = node.attr["Tindices"].type
    tensor, indices, updates = node.input[:3]
    p = node.name + "/torch2tf_scatter/"
    flat, why = _linear_indices(tf, gd, nodes, tensor, indices, node.attr["Tindices"].type, dtype, p)
    if why:
        return None, why
    if flat:
        tensor, indices, back = flat
    shape = _op(gd, p + "shape", "Shape", [tensor], {"T": dtype, "out_type": index_type})
    values = _op(gd, p + "values", "ScatterNd", [indices, updates, shape], {"T": dtype, "Tindices": index_type})
    updates_shape = _op(gd, p + "updates_shape", "Shape", [updates], {"T": dtype, "out_type": DT_INT32})
    ones = _op(gd, p + "ones", "Fill", [updates_shape, _const(gd, tf, p + "one", np.array(1.0, np.float32))],
               {"T": DT_FLOAT})
    hits = _op(gd, p + "hits", "ScatterNd", [indices, ones, shape], {"T": DT_FLOAT, "Tindices": index_type})
    hit = _op(gd, p + "hit", "Greater", [hits, _const(gd, tf, p + "zero", np.array(0.0, np.float32))], {"T": DT_FLOAT})
    count = _op(gd, p + "count", "Maximum", [hits, _const(gd, tf, p + "floor", np.array(1.0, np.float32))],
                {"T": DT_FLOAT})
    count = _op(gd, p + "count_cast", "Cast", [count], {"SrcT": DT_FLOAT, "DstT": dtype})
    mean = _op(gd, p + "mean", "Div", [values, count], {"T": dtype})
    if not flat:
        _become(node, "Select", [hit, mean, tensor], {"T": dtype})
        return "TensorScatterUpdate->ScatterNd+Select", None
    chosen = _op(gd, p + "select", "Select", [hit, mean, tensor], {"T": dtype})
    _become(node, "Reshape", [chosen, _const(gd, tf, p + "shape_back", np.array(back, np.int32))],
            {"T": dtype, "Tshape": DT_INT32})
    return "TensorScatterUpdate->ScatterNd+Select(linear indices)", None


# TF 1.4's ScatterNd / GatherNd: "Only indices.shape[-1] values between 1 and 5 are currently supported"
ND_MAX_DIMS = 5


def gather_nd_wide(tf, gd, node, nodes):
    """GatherNd whose indices address more than ND_MAX_DIMS dims (onnx-tf's GatherElements on a rank-7
    loss input) as GatherNd over linear indices into the flattened params. (what was done, None) or
    (None, why not)."""
    p = node.name + "/torch2tf_gather/"
    flat, why = _linear_indices(tf, gd, nodes, node.input[0], node.input[1], node.attr["Tindices"].type,
                                node.attr["Tparams"].type, p)
    if why or not flat:
        return None, why
    node.input[0], node.input[1] = flat[0], flat[1]
    return "GatherNd(linear indices)", None


def _linear_indices(tf, gd, nodes, tensor, indices, index_type, dtype, p):
    """((flattened tensor, linear indices, the tensor's shape), None) when the indices address more
    dims than TF 1.4's ScatterNd / GatherNd take: the first K dims are flattened into one, and each
    index row becomes its row-major offset there (an exact renumbering). (None, None) when not
    needed; (None, why) when the shapes are not static."""
    index_shape = static_shape(nodes, indices)
    depth = index_shape[-1] if index_shape else -1
    if 0 <= depth <= ND_MAX_DIMS:
        return None, None
    shape = static_shape(nodes, tensor)
    if depth < 0 or shape is None or any(d < 0 for d in shape[:depth]):
        return None, ("TF 1.4 indexes at most %d dims; the indices (%s) or the tensor (%s) are not "
                      "static to renumber them" % (ND_MAX_DIMS, index_shape, shape))
    index_dtype = tf.as_dtype(index_type)
    strides = np.array([int(np.prod(shape[k + 1:depth])) for k in range(depth)], index_dtype.as_numpy_dtype)
    typed = {"T": index_dtype.as_datatype_enum}
    offsets = _op(gd, p + "offsets", "Mul", [indices, _const(gd, tf, p + "strides", strides)], typed)
    linear = _op(gd, p + "linear", "Sum", [offsets, _const(gd, tf, p + "last_axis", np.array([-1], np.int32))],
                 dict(typed, Tidx=DT_INT32))
    gd.node[-1].attr["keep_dims"].b = True
    flat_shape = np.array([int(np.prod(shape[:depth]))] + list(shape[depth:]), np.int32)
    flat = _op(gd, p + "flat", "Reshape", [tensor, _const(gd, tf, p + "flat_shape", flat_shape)],
               {"T": dtype, "Tshape": DT_INT32})
    return (flat, linear, shape), None


def int32_operand(gd, node, index, type_attr, drop_attr):
    """An int64 shape-like operand (Fill's dims, Tile's multiples) through a Cast to int32 first, for TF
    1.4's kernels, which take int32 only (a shape or a repeat count fits in int32). Fill's index_type is
    TF >= 1.5's attr: dropped; Tile's Tmultiples: set to int32."""
    cast = gd.node.add()
    cast.name, cast.op = "%s/torch2tf_int32_%d" % (node.name, index), "Cast"
    cast.input.append(node.input[index])
    cast.attr["SrcT"].type, cast.attr["DstT"].type = 9, DT_INT32
    node.input[index] = cast.name
    if drop_attr:
        del node.attr[type_attr]
    else:
        node.attr[type_attr].type = DT_INT32
    return "%s(int64 %s)->Cast+%s" % (node.op, "dims" if node.op == "Fill" else "multiples", node.op), None


INT64_TILE_FROM = (1, 5)      # TF 1.4 registers Tile's kernels for int32 multiples only (tensorflow#13884)


def int64_tile_needs_cast(node, tf_version):
    return node.op == "Tile" and "Tmultiples" in node.attr and node.attr["Tmultiples"].type == 9 and \
        tuple(int(v) for v in tf_version.split(".")[:2]) < INT64_TILE_FROM


def runnable_tiles(gd, tf_version):
    """A legacy converter's graph in the runtime it targets (onnx-tf 1.1.2 writes torch's repeat as Tile with
    ONNX's int64 repeats, which TF 1.4 has no kernel for): the multiples through a Cast. What was done."""
    return [int32_operand(gd, node, 1, "Tmultiples", False)[0]
            for node in list(gd.node) if int64_tile_needs_cast(node, tf_version)]
