"""Numerical check of the exported ONNX graphs without onnxruntime (not
available to Python here): a tiny interpreter for the ~30 ONNX ops our graphs
use, written with torch ops, compared against the PyTorch modules.  Also checks
dynamic batch, the scalar timestep serving the whole batch, per-sample timesteps
once its Unsqueeze is made a Reshape (what the worker does at load) and a
non-8x8 latent.

  /usr/bin/python3 models/shapes-ldm/recipe/onnx_check.py [--ckdir ...] [--model models/shapes-ldm]
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper, TensorProto
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "common"))
from onnx_opset import adapt_scalar_timestep  # noqa: E402

DT = {TensorProto.FLOAT: torch.float32, TensorProto.FLOAT16: torch.float16, TensorProto.INT64: torch.int64,
      TensorProto.INT32: torch.int32, TensorProto.BOOL: torch.bool, TensorProto.DOUBLE: torch.float64}


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxGraph:
    """One exported graph, loaded once, run with torch ops (see run_onnx)."""

    def __init__(self, path_or_model):
        self.m = onnx.load(path_or_model) if isinstance(path_or_model, str) else path_or_model
        self.init = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in self.m.graph.initializer}

    def __call__(self, feeds):
        return _run(self.m, dict(self.init), feeds)


def run_onnx(path, feeds):
    return OnnxGraph(path)(feeds)


def _run(m, env, feeds):
    env.update({k: torch.as_tensor(v) for k, v in feeds.items()})
    for n in m.graph.node:
        a, x = attrs(n), [env[i] if i else None for i in n.input]
        op = n.op_type
        if op == "Constant":
            y = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
        elif op == "Identity":
            y = x[0]
        elif op == "Cast":
            y = x[0].to(DT[a["to"]])
        elif op == "Shape":
            y = torch.tensor(x[0].shape[a.get("start", 0):a.get("end", x[0].dim())], dtype=torch.int64)
        elif op == "Expand":
            y = x[0].expand(torch.broadcast_shapes(x[0].shape, tuple(int(v) for v in x[1])))
        elif op == "Gather":
            ax = a.get("axis", 0)
            idx = x[1].flatten().long() % x[0].shape[ax]  # ONNX allows negative indices
            y = torch.index_select(x[0], ax, idx).reshape(
                x[0].shape[:a.get("axis", 0)] + x[1].shape + x[0].shape[a.get("axis", 0) + 1:])
        elif op == "Unsqueeze":
            y = x[0]
            for ax in sorted(int(v) % (x[0].dim() + len(x[1])) for v in x[1]):
                y = y.unsqueeze(ax)
        elif op == "Concat":
            y = torch.cat(x, a["axis"])
        elif op == "Reshape":
            shape = [int(s) if int(s) != 0 else x[0].shape[i] for i, s in enumerate(x[1])]
            y = x[0].reshape(shape)
        elif op == "Transpose":
            y = x[0].permute(*a["perm"])
        elif op in ("Add", "Sub", "Mul", "Pow", "Equal"):
            y = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Pow": torch.pow, "Equal": torch.eq}[op](x[0], x[1])
        elif op == "Div":
            y = torch.div(x[0], x[1], rounding_mode="trunc") if not x[0].is_floating_point() else x[0] / x[1]
        elif op in ("Sqrt", "Erf", "Sin", "Cos", "Sigmoid"):
            y = getattr(torch, op.lower())(x[0])
        elif op == "Softmax":
            y = torch.softmax(x[0], a.get("axis", -1))
        elif op == "MatMul":
            y = x[0] @ x[1]
        elif op == "Gemm":
            A = x[0].t() if a.get("transA", 0) else x[0]
            B = x[1].t() if a.get("transB", 0) else x[1]
            y = a.get("alpha", 1.0) * (A @ B) + (a.get("beta", 1.0) * x[2] if len(x) > 2 else 0)
        elif op == "Conv":
            nd = x[0].dim() - 2
            pads = a.get("pads", [0] * 2 * nd)
            assert pads[:nd] == pads[nd:]
            conv = F.conv1d if nd == 1 else F.conv2d
            y = conv(x[0], x[1], x[2] if len(x) > 2 else None, a.get("strides", 1), pads[:nd], a.get("dilations", 1), a.get("group", 1))
        elif op == "InstanceNormalization":
            y = F.instance_norm(x[0], weight=x[1], bias=x[2], eps=a.get("epsilon", 1e-5))
        elif op == "ReduceMean":  # axes: an attribute up to opset 17, an input from 18
            axes = list(a["axes"]) if "axes" in a else [int(v) for v in x[1]]
            y = x[0].mean(dim=axes, keepdim=bool(a.get("keepdims", 1)))
        elif op == "ReduceSum":
            y = x[0].sum(dim=[int(v) for v in x[1]], keepdim=bool(a.get("keepdims", 1)))
        elif op == "ArgMax":
            assert not a.get("select_last_index", 0)
            y = x[0].argmax(a.get("axis", 0), keepdim=bool(a.get("keepdims", 1)))
        elif op == "Resize":
            assert a.get("mode", b"nearest") == b"nearest"
            scales = x[2]
            y = F.interpolate(x[0], scale_factor=[float(s) for s in scales[2:]], mode="nearest")
        else:
            raise NotImplementedError(op)
        assert len(n.output) == 1, op
        env[n.output[0]] = y
    return [env[o.name].numpy() for o in m.graph.output]


def main():
    import model as M
    from tokenizer import CLIPTokenizer
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckdir", default=os.path.join(HERE, "checkpoints"))
    ap.add_argument("--model", default=os.path.dirname(HERE))
    args = ap.parse_args()
    torch.set_num_threads(1)
    M.FAST_MATMUL = False
    tok = CLIPTokenizer.load(os.path.join(args.model, "tokenizer"))
    ck = torch.load(os.path.join(args.ckdir, "diffusion.pt"))
    te, unet, dec = M.TextEncoder(ck["vocab_size"]).eval(), M.UNet().eval(), M.Decoder().eval()
    te.load_state_dict(ck["te"])
    unet.load_state_dict(ck["unet"])
    dec.load_state_dict(torch.load(os.path.join(args.ckdir, "ae.pt"))["dec"])
    p = lambda s: os.path.join(args.model, s, "model.onnx")
    ok = True

    def cmp(name, a, b):
        nonlocal ok
        err = float(np.abs(a - b).max())
        rel = err / (float(np.abs(b).max()) + 1e-8)
        good = rel < 2e-2
        ok &= good
        print(f"{name:<40} shape {tuple(a.shape)} max|diff| {err:.2e} (rel {rel:.1e}) {'ok' if good else 'MISMATCH'}")

    with torch.no_grad():
        ids = np.array([tok(s) for s in ["a red circle on a blue background", "", "yellow star, gray backdrop"]], np.int64)
        h_onnx, pool_onnx = run_onnx(p("text_encoder"), {"input_ids": ids})
        h, pool = te(torch.from_numpy(ids))
        cmp("text_encoder last_hidden_state B=3", h_onnx, h.numpy())
        cmp("text_encoder pooler_output B=3", pool_onnx, pool.numpy())
        eos_pos = ids.argmax(1)
        cmp("pooler_output == state at EOS", pool_onnx, h_onnx[np.arange(3), eos_pos])

        g = torch.Generator().manual_seed(0)
        z = torch.randn(3, 4, 8, 8, generator=g)
        scalar = lambda t: np.array(t, dtype=np.float32)  # timestep: a float32 scalar, shape []
        unet_onnx = OnnxGraph(p("unet"))
        (e_onnx,) = unet_onnx({"sample": z.numpy(), "timestep": scalar(481), "encoder_hidden_states": h.numpy()})
        cmp("unet B=3, one scalar timestep", e_onnx, unet(z, torch.tensor([481] * 3), h).numpy())
        singles = np.concatenate([unet_onnx({"sample": z[i:i + 1].numpy(), "timestep": scalar(481),
                                             "encoder_hidden_states": h[i:i + 1].numpy()})[0] for i in range(3)])
        cmp("unet batched == one-by-one", e_onnx, singles)
        t = torch.tensor([1, 481, 961])
        adapted = OnnxGraph(adapt_scalar_timestep(onnx.load(p("unet"))))
        (e_per,) = adapted({"sample": z.numpy(), "timestep": t.numpy().astype(np.float32), "encoder_hidden_states": h.numpy()})
        cmp("unet per-sample timesteps (Unsqueeze->Reshape)", e_per, unet(z, t, h).numpy())
        z16 = torch.randn(2, 4, 16, 16, generator=g)
        (e16,) = unet_onnx({"sample": z16.numpy(), "timestep": scalar(700), "encoder_hidden_states": h[:2].numpy()})
        cmp("unet 16x16 latent", e16, unet(z16, torch.tensor([700, 700]), h[:2]).numpy())
        (x_onnx,) = run_onnx(p("vae_decoder"), {"latent_sample": z.numpy()})
        cmp("vae_decoder B=3", x_onnx, dec(z).numpy())
        (x16,) = run_onnx(p("vae_decoder"), {"latent_sample": z16.numpy()})
        cmp("vae_decoder 16x16 latent -> 128x128", x16, dec(z16).numpy())
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
