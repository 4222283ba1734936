"""ONNX graph helpers shared by the model recipes (Debian's onnx 1.12 and torch 1.13).

torch 1.13 exports up to opset 17 and onnx 1.12 knows opsets up to 17, but
today's Optimum exports are opset 18.  `to_opset18` raises a graph to opset 18
by hand: between opsets 14 and 18 the only changes that alter how an existing
node is written are the Reduce* ops (except ReduceSum, already since 13) whose
`axes` attribute became an input in 18.  Every other op our graphs use keeps
its meaning; `to_opset18` refuses graphs with ops whose schema changed in a way
it does not know about, so a new op in a recipe cannot slip through unconverted.
"""
import onnx
from onnx import helper, numpy_helper
import numpy as np

REDUCE_AXES_TO_INPUT = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}
# Changed between 14 and 18 only by optional additions (new attributes or inputs
# with defaults equal to the old behaviour, or more types).
COMPATIBLE_TO_18 = {"Shape", "Split", "Pad", "Resize", "ScatterElements", "ScatterND", "Where", "Identity",
                    "GreaterOrEqual", "LessOrEqual", "LeakyRelu", "PRelu", "Pow", "ReduceSum"}
# Ops whose schema changed in opset 18 (onnx 1.12 cannot tell us; from the ONNX changelog).
CHANGED_IN_18 = REDUCE_AXES_TO_INPUT | {"Split", "Pad", "Resize", "ScatterElements", "ScatterND", "LpPool",
                                        "OptionalHasElement", "OptionalGetElement"}


def _opset(model):
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def to_opset18(model):
    """Rewrite `model` (opset 14..17, default domain only) in place as opset 18."""
    old = _opset(model)
    assert 14 <= old <= 17, f"opset {old}"
    for node in _all_nodes(model.graph):
        op = node.op_type
        changed = op in CHANGED_IN_18 or onnx.defs.get_schema(op, 17).since_version > old
        if changed and op not in REDUCE_AXES_TO_INPUT and op not in COMPATIBLE_TO_18:
            raise ValueError(f"{op} changed between opset {old} and 18 and to_opset18 does not know how to convert it")
    for graph in _all_graphs(model.graph):
        for node in graph.node:
            if node.op_type not in REDUCE_AXES_TO_INPUT:
                continue
            axes = next((a for a in node.attribute if a.name == "axes"), None)
            if axes is None:
                continue  # no axes: reduce over all, the same in 18
            name = f"{node.name or node.output[0]}_axes"
            graph.initializer.append(numpy_helper.from_array(np.array(list(axes.ints), dtype=np.int64), name))
            node.attribute.remove(axes)
            node.input.append(name)
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = 18
    model.ir_version = max(model.ir_version, 8)  # opset 18 needs IR version 8
    return model


def _all_graphs(graph):
    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _all_graphs(a.g)
            for g in a.graphs:
                yield from _all_graphs(g)


def _all_nodes(graph):
    for g in _all_graphs(graph):
        yield from g.node


def set_dims(model, dims):
    """Write the declared shapes of graph inputs/outputs: {name: [int | str, ...]}.
    torch's exporter invents names for some dims; an export's interface names them."""
    for v in list(model.graph.input) + list(model.graph.output):
        if v.name not in dims:
            continue
        shape = v.type.tensor_type.shape
        del shape.dim[:]
        for want in dims[v.name]:
            d = shape.dim.add()
            if isinstance(want, int):
                d.dim_value = want
            else:
                d.dim_param = want
    return model


def signature(model):
    """[(name, dtype, dims)] of the inputs and outputs, for printing."""
    def sig(vs):
        return [(v.name, onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type),
                 [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in vs]
    return sig(model.graph.input), sig(model.graph.output)


def consumers(graph, name):
    return [n for n in graph.node if name in n.input]


def adapt_scalar_timestep(model):
    """What the worker does at load to a UNet whose scalar `timestep` is first used
    by one Unsqueeze (diffusers' `timesteps[None]`): that node becomes
    Reshape(timestep, [-1]) and `timestep` is declared [batch_size], so rows at
    different timesteps share one call.  Used by the recipes' checks."""
    g = model.graph
    users = consumers(g, "timestep")
    assert len(users) == 1 and users[0].op_type == "Unsqueeze", [n.op_type for n in users]
    node = users[0]
    shape = numpy_helper.from_array(np.array([-1], dtype=np.int64), "timestep_flat_shape")
    g.initializer.append(shape)
    at = list(g.node).index(node)
    g.node.remove(node)
    g.node.insert(at, helper.make_node("Reshape", ["timestep", shape.name], list(node.output), name="timestep_flat"))
    axes = node.input[1]
    if not consumers(g, axes):  # the Unsqueeze's axes, now unused
        producer = [n for n in g.node if axes in n.output]
        for n in producer:
            g.node.remove(n)
        for t in [t for t in g.initializer if t.name == axes]:
            g.initializer.remove(t)
    set_dims(model, {"timestep": ["batch_size"]})
    return model
