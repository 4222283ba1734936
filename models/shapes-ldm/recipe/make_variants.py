"""Writes a variant of the exported model whose tensor interface differs the way
other exports do: fp16 sample/hidden/latent/output tensors, and a UNet that takes
a single float timestep of shape [1] (the exported scalar's Unsqueeze removed:
diffusers' path for a 1-d timestep).  input_ids stay int64, as in the export.
The worker must adapt to it unchanged (worker/test/onnx-pipeline.test.ts).

    /usr/bin/python3 models/shapes-ldm/recipe/make_variants.py worker/test/fixtures/shapes-ldm-variant
"""
import os
import shutil
import sys

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(os.path.dirname(SRC), "common"))
from onnx_opset import consumers, set_dims  # noqa: E402


def retype_input(model, name, new_type, cast_to):
    g = model.graph
    inp = next(i for i in g.input if i.name == name)
    inner = f"{name}__orig"
    for node in g.node:
        node.input[:] = [inner if x == name else x for x in node.input]
    inp.type.tensor_type.elem_type = new_type
    g.node.insert(0, helper.make_node("Cast", [name], [inner], to=cast_to, name=f"cast_{name}"))


def retype_output(model, name, new_type):
    g = model.graph
    out = next(o for o in g.output if o.name == name)
    inner = f"{name}__orig"
    for node in g.node:
        node.output[:] = [inner if x == name else x for x in node.output]
    g.node.append(helper.make_node("Cast", [inner], [name], to=new_type, name=f"cast_{name}"))
    out.type.tensor_type.elem_type = new_type


def one_float_timestep(model):
    """timestep f32 [] -> f32 [1]: the Unsqueeze that made it 1-d goes."""
    g = model.graph
    (unsqueeze,) = consumers(g, "timestep")
    assert unsqueeze.op_type == "Unsqueeze", unsqueeze.op_type
    g.node.remove(unsqueeze)
    axes = unsqueeze.input[1]
    if not consumers(g, axes):
        g.initializer.remove(next(t for t in g.initializer if t.name == axes))
    for node in g.node:
        node.input[:] = ["timestep" if x == unsqueeze.output[0] else x for x in node.input]
    set_dims(model, {"timestep": [1]})


def main(out):
    if os.path.exists(out):
        shutil.rmtree(out)
    shutil.copytree(SRC, out, ignore=shutil.ignore_patterns("recipe", "*.png", "*.svg", "README.md", "LICENSE"))
    un = onnx.load(os.path.join(out, "unet/model.onnx"))
    retype_input(un, "sample", TensorProto.FLOAT16, TensorProto.FLOAT)
    retype_input(un, "encoder_hidden_states", TensorProto.FLOAT16, TensorProto.FLOAT)
    one_float_timestep(un)
    retype_output(un, "out_sample", TensorProto.FLOAT16)
    onnx.save(un, os.path.join(out, "unet/model.onnx"))
    va = onnx.load(os.path.join(out, "vae_decoder/model.onnx"))
    retype_input(va, "latent_sample", TensorProto.FLOAT16, TensorProto.FLOAT)
    retype_output(va, "sample", TensorProto.FLOAT16)
    onnx.save(va, os.path.join(out, "vae_decoder/model.onnx"))
    # (onnx 1.12's checker stops at opset 17; the worker's test runs these opset-18 graphs)
    print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1])
