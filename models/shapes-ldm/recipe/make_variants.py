"""Writes a variant of the exported model whose tensor interface differs the way
other Optimum exports do: fp16 sample/hidden/latent/output tensors, int64
input_ids, and a UNet that takes a single float timestep of shape [1].
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


def retype_input(model, name, new_type, cast_to, shape=None):
    g = model.graph
    inp = next(i for i in g.input if i.name == name)
    inner = f"{name}__orig"
    for node in g.node:
        node.input[:] = [inner if x == name else x for x in node.input]
    inp.type.tensor_type.elem_type = new_type
    if shape is not None:
        del inp.type.tensor_type.shape.dim[:]
        for d in shape:
            inp.type.tensor_type.shape.dim.add().dim_value = d
    g.node.insert(0, helper.make_node("Cast", [name], [inner], to=cast_to, name=f"cast_{name}"))


def retype_output(model, name, new_type):
    g = model.graph
    out = next(o for o in g.output if o.name == name)
    inner = f"{name}__orig"
    for node in g.node:
        node.output[:] = [inner if x == name else x for x in node.output]
    g.node.append(helper.make_node("Cast", [inner], [name], to=new_type, name=f"cast_{name}"))
    out.type.tensor_type.elem_type = new_type


def main(out):
    if os.path.exists(out):
        shutil.rmtree(out)
    shutil.copytree(SRC, out, ignore=shutil.ignore_patterns("recipe", "*.png", "*.svg", "README.md", "LICENSE"))
    te = onnx.load(os.path.join(out, "text_encoder/model.onnx"))
    retype_input(te, "input_ids", TensorProto.INT64, TensorProto.INT32)
    onnx.save(te, os.path.join(out, "text_encoder/model.onnx"))
    un = onnx.load(os.path.join(out, "unet/model.onnx"))
    retype_input(un, "sample", TensorProto.FLOAT16, TensorProto.FLOAT)
    retype_input(un, "encoder_hidden_states", TensorProto.FLOAT16, TensorProto.FLOAT)
    retype_input(un, "timestep", TensorProto.FLOAT, TensorProto.INT64, shape=[1])
    retype_output(un, "out_sample", TensorProto.FLOAT16)
    onnx.save(un, os.path.join(out, "unet/model.onnx"))
    va = onnx.load(os.path.join(out, "vae_decoder/model.onnx"))
    retype_input(va, "latent_sample", TensorProto.FLOAT16, TensorProto.FLOAT)
    retype_output(va, "sample", TensorProto.FLOAT16)
    onnx.save(va, os.path.join(out, "vae_decoder/model.onnx"))
    for part in ["text_encoder", "unet", "vae_decoder"]:
        onnx.checker.check_model(os.path.join(out, part, "model.onnx"))
    print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1])
