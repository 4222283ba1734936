"""Export the trained model as today's Hugging Face Optimum exports Stable Diffusion
(optimum >= 1.24 / optimum-onnx), so the worker that runs it runs a real export too.

  /usr/bin/python3 models/shapes-ldm/recipe/export.py [--ckdir recipe/checkpoints] [--out models/shapes-ldm]

Writes model_index.json (the torch pipeline's style), scheduler/, tokenizer/,
text_encoder/, unet/, vae_decoder/ with the interface of interface.py:
  text_encoder: input_ids int64 [batch_size,77] -> last_hidden_state f32 [batch_size,77,128], pooler_output f32 [batch_size,128]
  unet: sample f32 [batch_size,4,h,w], timestep f32 [] (a scalar), encoder_hidden_states f32 [batch_size,77,128]
        -> out_sample f32 [batch_size,4,h,w]
  vae_decoder: latent_sample f32 [batch_size,4,h,w] -> sample f32 [batch_size,3,8h,8w]
Two steps: torch.onnx.export writes the graphs as the session-3 recipe did (opset 14,
input_ids int32, timestep int64 [steps]; checked by onnx.checker), then
upgrade_interface.upgrade_graphs rewrites their interface (int64 ids, a scalar float
timestep through Unsqueeze + Expand as diffusers exports it, opset 18).  The same
two steps made the shipped files, so this export still reproduces them byte for byte.
Large weights are stored as float16 initializers followed by a Cast to float32
(keeps the shipped folder < 10 MB); every graph input/output stays float32/int64.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import interface as I  # noqa: E402
import model as M  # noqa: E402
from tokenizer import build_tokenizer  # noqa: E402
from upgrade_interface import upgrade_graphs  # noqa: E402

OPSET = 14  # what torch exports here; upgrade_graphs raises it to 18
DIFFUSERS_VERSION = "0.14.0"


def fp16_weights(path, min_elems=256):
    """Store float32 initializers with >= min_elems elements as float16 + Cast."""
    m = onnx.load(path)
    g = m.graph
    casts, keep = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type == TensorProto.FLOAT and arr.size >= min_elems:
            h = numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16")
            keep.append(h)
            casts.append(helper.make_node("Cast", [h.name], [init.name], to=TensorProto.FLOAT, name=init.name + "_cast"))
        else:
            keep.append(init)
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    onnx.save(m, path)


def set_output_dims(path, dims):
    """The exporter sometimes invents symbolic names for static dims (e.g. the
    77 of last_hidden_state); write the intended output shapes explicitly."""
    m = onnx.load(path)
    for o in m.graph.output:
        for d, want in zip(o.type.tensor_type.shape.dim, dims[o.name]):
            if isinstance(want, int):
                d.ClearField("dim_param")
                d.dim_value = want
            else:
                d.ClearField("dim_value")
                d.dim_param = want
    onnx.save(m, path)


def export(module, args, path, inputs, outputs, dynamic_axes, out_dims):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=dynamic_axes,
                      opset_version=OPSET, do_constant_folding=True)
    fp16_weights(path)
    set_output_dims(path, out_dims)
    onnx.checker.check_model(onnx.load(path), full_check=True)


def dump(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckdir", default=os.path.join(HERE, "checkpoints"))
    ap.add_argument("--out", default=os.path.dirname(HERE))
    args = ap.parse_args()
    M.FAST_MATMUL = False  # plain MatMul in the graph (dynamic batch)
    out = args.out
    tok = build_tokenizer()
    tok.save(os.path.join(out, "tokenizer"))

    ck = torch.load(os.path.join(args.ckdir, "diffusion.pt"))
    te, unet = M.TextEncoder(ck["vocab_size"]).eval(), M.UNet().eval()
    te.load_state_dict(ck["te"])      # EMA weights
    unet.load_state_dict(ck["unet"])
    dec = M.Decoder().eval()
    dec.load_state_dict(torch.load(os.path.join(args.ckdir, "ae.pt"))["dec"])
    sf = torch.load(os.path.join(args.ckdir, "scaling.pt"))["scaling_factor"]
    D = M.TEXT_DIM

    ids = torch.tensor([tok("a red circle on a blue background"), tok("")], dtype=torch.int32)
    export(te, (ids,), os.path.join(out, "text_encoder", "model.onnx"), ["input_ids"], ["last_hidden_state", "pooler_output"],
           {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}, "pooler_output": {0: "batch"}},
           {"last_hidden_state": ["batch", 77, D], "pooler_output": ["batch", D]})
    z = torch.randn(2, 4, 8, 8)
    export(unet, (z, torch.tensor([1, 961]), torch.randn(2, 77, D)), os.path.join(out, "unet", "model.onnx"),
           ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
           {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "steps"},
            "encoder_hidden_states": {0: "batch"}, "out_sample": {0: "batch", 2: "height", 3: "width"}},
           {"out_sample": ["batch", 4, "height", "width"]})
    export(dec, (z,), os.path.join(out, "vae_decoder", "model.onnx"), ["latent_sample"], ["sample"],
           {"latent_sample": {0: "batch", 2: "latent_height", 3: "latent_width"},
            "sample": {0: "batch", 2: "height", 3: "width"}},
           {"sample": ["batch", 3, "height", "width"]})

    upgrade_graphs(out)
    I.dump(I.INDEX, os.path.join(out, "model_index.json"))
    dump({
        "_class_name": "DDIMScheduler",
        "_diffusers_version": DIFFUSERS_VERSION,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
        "steps_offset": 1,
        "set_alpha_to_one": False,
        "clip_sample": False,
        "timestep_spacing": "leading",
        "trained_betas": None,
    }, os.path.join(out, "scheduler", "scheduler_config.json"))
    dump({
        "_name_or_path": "latentfarm/shapes-ldm",
        "architectures": ["CLIPTextModel"],
        "model_type": "clip_text_model",
        "hidden_size": D,
        "intermediate_size": te.blocks[0].mlp[0].out_channels,
        "num_attention_heads": 4,
        "num_hidden_layers": len(te.blocks),
        "max_position_embeddings": 77,
        "vocab_size": tok.vocab_size,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
        "projection_dim": D,
        "bos_token_id": tok.bos_id,
        "eos_token_id": tok.eos_id,
        "pad_token_id": tok.pad_id,
        "torch_dtype": "float32",
    }, os.path.join(out, "text_encoder", "config.json"))
    dump({
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": DIFFUSERS_VERSION,
        "sample_size": 8,
        "in_channels": 4,
        "out_channels": 4,
        "cross_attention_dim": D,
        "block_out_channels": [64, 128],
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        "layers_per_block": 1,
        "attention_head_dim": 4,
        "norm_num_groups": 32,
        "act_fn": "silu",
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "center_input_sample": False,
    }, os.path.join(out, "unet", "config.json"))
    I.dump(I.vae_config(round(sf, 6)), os.path.join(out, "vae_decoder", "config.json"))

    total = 0
    for sub in ["text_encoder", "unet", "vae_decoder"]:
        p = os.path.join(out, sub, "model.onnx")
        m = onnx.load(p)
        sig = lambda vs: [(v.name, TensorProto.DataType.Name(v.type.tensor_type.elem_type),
                           [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in vs]
        print(sub, os.path.getsize(p) // 1024, "KiB", "in", sig(m.graph.input), "out", sig(m.graph.output))
    for root, _, files in os.walk(out):
        if "/recipe" in root:
            continue
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"shipped size (excluding recipe/) {total / 1e6:.2f} MB; scaling_factor {sf:.6f}")


if __name__ == "__main__":
    main()
