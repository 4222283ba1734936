"""Move the shipped ONNX files to today's Optimum interface (see interface.py)
without retraining: graph surgery on the inputs only, every weight byte-identical.

The files shipped until now came from the session-3 export.py: opset 14, input_ids
int32, timestep int64 [steps], an OnnxStableDiffusionPipeline model_index.json.
Retraining to re-export takes 48 minutes and the checkpoints are not in the
repository, so this step rewrites the interface in place:

  text_encoder  input_ids int32 -> int64; its first node, Cast(to int64), now a no-op, is dropped
  unet          timestep int64 [steps] -> float32 []; its first node, Cast(to float), becomes what
                diffusers exports: Unsqueeze(timestep, [0]) -> Expand to [batch] (Shape of sample)
  all three     Optimum's dim names; opset 14 -> 18 (ReduceMean axes attribute -> input)
  JSON          model_index.json in the torch pipeline's style; vae_decoder/config.json with the
                four block_out_channels a pipeline reads the scale factor 8 from

  /usr/bin/python3 models/shapes-ldm/recipe/upgrade_interface.py [--model models/shapes-ldm] [--no-check]

Then it runs check_upgrade.mjs: onnxruntime-node runs the old and the new files on
the same inputs and requires the same outputs.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
import interface as I  # noqa: E402
from onnx_opset import adapt_scalar_timestep, consumers  # noqa: E402

PARTS = ["text_encoder", "unet", "vae_decoder"]


def the_input(g, name):
    return next(v for v in g.input if v.name == name)


def only_consumer(g, name, op, to):
    users = consumers(g, name)
    assert len(users) == 1 and users[0].op_type == op, f"{name}: expected one {op}, found {[n.op_type for n in users]}"
    cast_to = next(a.i for a in users[0].attribute if a.name == "to")
    assert cast_to == to, f"{name}: {op} to {cast_to}"
    return users[0]


def rewire(g, old, new):
    for n in g.node:
        n.input[:] = [new if x == old else x for x in n.input]


def text_encoder(m):
    g = m.graph
    inp = the_input(g, "input_ids")
    if inp.type.tensor_type.elem_type == TensorProto.INT64:
        raise SystemExit("text_encoder already takes int64 input_ids: already upgraded")
    assert inp.type.tensor_type.elem_type == TensorProto.INT32
    cast = only_consumer(g, "input_ids", "Cast", TensorProto.INT64)
    g.node.remove(cast)
    rewire(g, cast.output[0], "input_ids")
    inp.type.tensor_type.elem_type = TensorProto.INT64


def unet(m):
    g = m.graph
    inp = the_input(g, "timestep")
    assert inp.type.tensor_type.elem_type == TensorProto.INT64, "unet timestep is not int64: already upgraded?"
    cast = only_consumer(g, "timestep", "Cast", TensorProto.FLOAT)
    at = list(g.node).index(cast)
    g.node.remove(cast)
    axes = numpy_helper.from_array(np.array([0], dtype=np.int64), "timestep_unsqueeze_axes")
    g.initializer.append(axes)
    # timesteps = timestep[None].expand(sample.shape[0]), as diffusers' UNet2DConditionModel.forward
    new = [
        helper.make_node("Unsqueeze", ["timestep", axes.name], ["timestep_1d"], name="timestep_unsqueeze"),
        helper.make_node("Shape", ["sample"], ["batch_size_1d"], name="batch_size_of_sample", start=0, end=1),
        helper.make_node("Expand", ["timestep_1d", "batch_size_1d"], [cast.output[0]], name="timestep_expand"),
    ]
    for i, n in enumerate(new):
        g.node.insert(at + i, n)
    inp.type.tensor_type.elem_type = TensorProto.FLOAT


def weights(m):
    return {t.name: t.SerializeToString() for t in m.graph.initializer}


def upgrade_graphs(folder):
    """The three graphs in `folder`, as the session-3 export.py wrote them, rewritten in place."""
    models = {}
    for part in PARTS:  # all in memory first: a refusal leaves every file as it was
        m = onnx.load(os.path.join(folder, part, "model.onnx"))
        before = weights(m)
        {"text_encoder": text_encoder, "unet": unet, "vae_decoder": lambda _: None}[part](m)
        I.finish(m, part)
        after = weights(m)
        assert all(after.get(k) == v for k, v in before.items()), f"{part}: a weight changed"
        print(f"{part}: {len(before)} weights unchanged; added constants {sorted(set(after) - set(before))}")
        models[part] = m
    for part, m in models.items():
        onnx.save_model(m, os.path.join(folder, part, "model.onnx"))


def upgrade(folder):
    upgrade_graphs(folder)
    with open(os.path.join(folder, "vae_decoder", "config.json")) as f:
        sf = json.load(f)["scaling_factor"]
    I.dump(I.INDEX, os.path.join(folder, "model_index.json"))
    I.dump(I.vae_config(sf), os.path.join(folder, "vae_decoder", "config.json"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.dirname(HERE))
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as old:
        for part in PARTS:
            shutil.copytree(os.path.join(args.model, part), os.path.join(old, part))
        upgrade(args.model)
        if not args.no_check:
            adapted = os.path.join(old, "unet-adapted.onnx")
            onnx.save_model(adapt_scalar_timestep(onnx.load(os.path.join(args.model, "unet", "model.onnx"))), adapted)
            subprocess.run(["node", os.path.join(HERE, "check_upgrade.mjs"), old, args.model, adapted], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
