"""A frozen GraphDef as an editable graph, for the optimize stage's rewrites. Python 3.6+; TensorFlow
only for its protos and tensor conversion (any TF from 1.4 on).

Nodes are the GraphDef's own NodeDefs, edited in place; the name index and the consumer lists are
kept up to date by every edit, so a rewrite rule sees the graph as it is now, not as it was.
"""

import collections

import numpy as np

import _graphdef

DT_INT32 = 3
DT_BOOL = 10


def split_ref(ref):
    """'^a' -> (a, None); 'a:1' -> (a, 1); 'a' -> (a, 0)."""
    if ref.startswith("^"):
        return ref[1:], None
    name, _, port = ref.partition(":")
    return name, int(port or 0)


def attr(node, key, kind, default=None):
    """An attr's value, or `default` when the node does not set it. Never node.attr[key] to read: on a
    protobuf map that inserts an empty value, which an older runtime then refuses ("NodeDef mentions
    attr 'dilations' not in Op<name=Conv2D>" in TF 1.4)."""
    if key not in node.attr:
        return default
    value = getattr(node.attr[key], kind)
    return list(value.i) if kind == "list" else value


def tensor_shape(shapes, ref):
    """A tensor's static shape from optimize's {tensor name: shape} (a ref without a port is port 0)."""
    return shapes.get(ref if ":" in ref else ref + ":0")


def ref_of(name, port):
    return name if port == 0 else "%s:%d" % (name, port)


class Graph(object):
    def __init__(self, tf, gd, keep):
        from tensorflow.core.framework import attr_value_pb2
        from tensorflow.python.framework import tensor_util
        self.tf = tf
        self.AttrValue = attr_value_pb2.AttrValue
        self.tensor_util = tensor_util
        self.gd = gd
        self.keep = set(keep)          # the graph's named inputs and outputs: never rewritten away
        self._rebuild()

    # ------------------------------------------------------------ index
    def _rebuild(self):
        self.nodes = collections.OrderedDict((n.name, n) for n in self.gd.node)
        self._users = collections.defaultdict(list)     # producer name -> [(consumer NodeDef, input index)]
        for node in self.gd.node:
            for i, ref in enumerate(node.input):
                self._users[split_ref(ref)[0]].append((node, i))

    def users(self, name, port=None):
        """Data consumers of a node (of one output port when given): [(NodeDef, input index)]."""
        found = []
        for node, i in self._users.get(name, ()):
            if i >= len(node.input) or node.input[i].startswith("^"):
                continue
            got_name, got_port = split_ref(node.input[i])
            if got_name == name and (port is None or got_port == port):
                found.append((node, i))
        return found

    def has_control_users(self, name):
        return any(i < len(n.input) and n.input[i] == "^" + name for n, i in self._users.get(name, ()))

    def live(self, name):
        return name in self.keep or bool(self._users.get(name))

    def producer(self, ref):
        return self.nodes.get(split_ref(ref)[0])

    # ------------------------------------------------------------ edits
    def set_input(self, node, index, ref):
        old = split_ref(node.input[index])[0]
        self._users[old] = [(n, i) for n, i in self._users[old] if not (n is node and i == index)]
        node.input[index] = ref
        self._users[split_ref(ref)[0]].append((node, index))

    def reroute(self, old_ref, new_ref, users=None):
        """Every data consumer of old_ref (or just `users`) reads new_ref instead."""
        old_name, old_port = split_ref(old_ref)
        for node, i in (users if users is not None else self.users(old_name, old_port)):
            self.set_input(node, i, new_ref)

    def unique(self, base):
        name, k = base, 0
        while name in self.nodes:
            k += 1
            name = "%s_%d" % (base, k)
        return name

    def add(self, op, base, inputs, attrs=None):
        node = self.gd.node.add()
        node.name = self.unique(base)
        node.op = op
        for key, value in (attrs or {}).items():
            node.attr[key].CopyFrom(value)
        self.nodes[node.name] = node
        for i, ref in enumerate(inputs):
            node.input.append(ref)
            self._users[split_ref(ref)[0]].append((node, i))
        return node

    def add_const(self, base, array):
        value = self.AttrValue(tensor=self.tensor_util.make_tensor_proto(array))
        dtype = self.AttrValue(type=self.tf.as_dtype(array.dtype).as_datatype_enum)
        return self.add("Const", base, [], {"value": value, "dtype": dtype})

    def add_transpose(self, base, ref, perm, dtype_enum):
        perm_node = self.add_const(base + "/perm", np.array(perm, np.int32))
        return self.add("Transpose", base, [ref, perm_node.name],
                        {"T": self.AttrValue(type=dtype_enum), "Tperm": self.AttrValue(type=DT_INT32)})

    # ------------------------------------------------------------ constants
    def const(self, ref):
        """The value of a Const node's output, else None."""
        node = self.producer(ref)
        if node is None or node.op != "Const":
            return None
        return _graphdef.tensor_value(self.tensor_util, node.attr["value"].tensor)

    def const_input(self, node, index):
        return self.const(node.input[index]) if index < len(node.input) else None

    def set_const_input(self, node, index, array):
        """Point one input at a new Const (never edits a Const that others may read)."""
        const = self.add_const(node.name + "/t2tf_c%d" % index, np.asarray(array))
        self.set_input(node, index, const.name)

    # ------------------------------------------------------------ whole-graph
    def prune(self, outputs):
        """Keep what the named outputs need (data and control inputs); returns how many nodes went."""
        needed, todo = set(), [split_ref(o)[0] for o in outputs] + [k for k in self.keep if k in self.nodes]
        while todo:
            name = todo.pop()
            if name in needed or name not in self.nodes:
                continue
            needed.add(name)
            todo.extend(split_ref(r)[0] for r in self.nodes[name].input)
        gone = [n for n in self.gd.node if n.name not in needed]
        if gone:
            self._replace_nodes([n for n in self.gd.node if n.name in needed])
        return len(gone)

    def sort(self):
        """Topological order, inputs (placeholders) first: an old importer reads the nodes in order."""
        order, state = [], {}
        for root in [n.name for n in self.gd.node if n.op == "Placeholder"] + list(self.nodes):
            stack = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name) or name not in self.nodes:
                    continue
                state[name] = 1
                stack.append((name, True))
                for ref in reversed(self.nodes[name].input):
                    dep = split_ref(ref)[0]
                    if not state.get(dep):
                        stack.append((dep, False))
        self._replace_nodes([self.nodes[n] for n in order])

    def _replace_nodes(self, nodes):
        copies = [type(n)() for n in nodes]
        for copy, node in zip(copies, nodes):
            copy.CopyFrom(node)
        del self.gd.node[:]
        self.gd.node.extend(copies)
        self._rebuild()

    def count(self, op):
        return sum(1 for n in self.gd.node if n.op == op)
