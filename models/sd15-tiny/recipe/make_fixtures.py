"""Build the tiny SD 1.5 (random weights, fixed seed) and export it, from the
same weights, in the three ONNX layouts users have, as the worker's test fixtures:

  sd15-tiny-optimum        Optimum today (>= 1.24, optimum-onnx): torch-style model_index.json,
                           opset 18, int64 ids, float32 scalar timestep, UNet weights in
                           unet/model.onnx_data
  sd15-tiny-optimum-1.23   Optimum <= 1.23: the same layout, opset 14, int64 timestep [steps]
  sd15-tiny-diffusers-onnx diffusers' legacy convert_stable_diffusion_checkpoint_to_onnx.py:
                           OnnxStableDiffusionPipeline index, opset 14, int32 ids,
                           float32 timestep [batch], UNet weights in unet/weights.pb

  /usr/bin/python3 models/sd15-tiny/recipe/make_fixtures.py [--out worker/test/fixtures] [--no-check]

Then it checks every fixture with onnxruntime-node (check_fixtures.mjs): against
the torch modules, against each other, and the Optimum UNet with its timestep
Unsqueeze replaced by a Reshape to [-1] (what the worker does at load).
Byte for byte reproducible on the same torch/onnx (Debian's 1.13/1.12).
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
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "models", "common"))
sys.path.insert(0, os.path.join(ROOT, "models", "shapes-ldm", "recipe"))
import sd15_tiny as M  # noqa: E402
from onnx_opset import adapt_scalar_timestep, set_dims, signature, to_opset18  # noqa: E402
from tokenizer import CLIPTokenizer  # noqa: E402

SEED = 1505
TOKENIZER_DIR = os.path.join(ROOT, "models", "shapes-ldm", "tokenizer")
FORMATS = ["sd15-tiny-optimum", "sd15-tiny-optimum-1.23", "sd15-tiny-diffusers-onnx"]
DIFFUSERS_VERSION = "0.32.2"
TRANSFORMERS_VERSION = "4.48.0"


def build():
    torch.manual_seed(SEED)
    te, unet, vae = M.CLIPTextModel().eval(), M.UNet2DConditionModel().eval(), M.AutoencoderKL().eval()
    return te, unet, vae


# ----------------------------------------------------------------------------- export
def export(module, args, path, inputs, outputs, axes, dims=None, opset=14):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True)
    m = onnx.load(path)
    if dims:
        set_dims(m, dims)
    return m


def save(m, path, external=None):
    """external: file name beside model.onnx that gets every tensor over 1 KiB."""
    if os.path.exists(path):
        os.remove(path)
    if external:
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location=external,
                        size_threshold=1024, convert_attribute=False)
    else:
        onnx.save_model(m, path)


def export_all(te, unet, vae, tmp):
    """The four graphs of each format, as onnx ModelProtos (weights inline)."""
    D, S = M.TEXT["hidden_size"], M.TEXT["max_position_embeddings"]
    ids = torch.zeros(2, S, dtype=torch.int64)
    ids[:, 0], ids[:, 1:] = M.TEXT["bos_token_id"], M.TEXT["eos_token_id"]
    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    hid = torch.randn(2, S, D, generator=torch.Generator().manual_seed(2))
    img = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    out = {f: {} for f in FORMATS}
    p = lambda name: os.path.join(tmp, name + ".onnx")
    # Optimum (both versions): names and dims from optimum's OnnxConfigs.
    for fmt, opt_dims in [("sd15-tiny-optimum", "today"), ("sd15-tiny-optimum-1.23", "1.23")]:
        today = opt_dims == "today"
        out[fmt]["text_encoder"] = export(
            te, (ids,), p(f"te-{opt_dims}"), ["input_ids"], ["last_hidden_state", "pooler_output"],
            {"input_ids": {0: "batch_size", 1: "sequence_length"},
             "last_hidden_state": {0: "batch_size", 1: "sequence_length"}, "pooler_output": {0: "batch_size"}})
        t = torch.tensor(981.0) if today else torch.tensor([981, 1], dtype=torch.int64)
        out[fmt]["unet"] = export(
            unet, (z, t, hid), p(f"unet-{opt_dims}"), ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
            {"sample": {0: "batch_size", 2: "height", 3: "width"},
             **({} if today else {"timestep": {0: "steps"}}),
             "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
             "out_sample": {0: "batch_size", 2: "height", 3: "width"}})
        vae.forward = vae.latent_parameters
        eh, ew = ("sample_height", "sample_width") if today else ("height", "width")
        lh, lw = ("sample_height / 8", "sample_width / 8") if today else ("height_latent", "width_latent")
        out[fmt]["vae_encoder"] = export(
            vae, (img,), p(f"vae_encoder-{opt_dims}"), ["sample"], ["latent_parameters"],
            {"sample": {0: "batch_size", 2: eh, 3: ew}, "latent_parameters": {0: "batch_size", 2: lh, 3: lw}})
        vae.forward = vae.decode
        lh, lw = ("latent_height", "latent_width") if today else ("height_latent", "width_latent")
        oh, ow = ("latent_height * 8", "latent_width * 8") if today else ("height", "width")
        out[fmt]["vae_decoder"] = export(
            vae, (z,), p(f"vae_decoder-{opt_dims}"), ["latent_sample"], ["sample"],
            {"latent_sample": {0: "batch_size", 2: lh, 3: lw}, "sample": {0: "batch_size", 2: oh, 3: ow}})
    # diffusers' legacy script: its input names, dtypes and dynamic axes (outputs named by torch).
    fmt = "sd15-tiny-diffusers-onnx"
    out[fmt]["text_encoder"] = export(te, (ids.to(torch.int32),), p("te-legacy"), ["input_ids"],
                                      ["last_hidden_state", "pooler_output"], {"input_ids": {0: "batch", 1: "sequence"}})
    out[fmt]["unet"] = export(
        unet, (z, torch.tensor([981.0, 1.0]), hid), p("unet-legacy"), ["sample", "timestep", "encoder_hidden_states"],
        ["out_sample"], {"sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}, "timestep": {0: "batch"},
                         "encoder_hidden_states": {0: "batch", 1: "sequence"}})
    vae.forward = vae.latent_sample
    out[fmt]["vae_encoder"] = export(vae, (img,), p("vae_encoder-legacy"), ["sample"], ["latent_sample"],
                                     {"sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}})
    vae.forward = vae.decode
    out[fmt]["vae_decoder"] = export(vae, (z,), p("vae_decoder-legacy"), ["latent_sample"], ["sample"],
                                     {"latent_sample": {0: "batch", 1: "channels", 2: "height", 3: "width"}})
    del vae.forward
    return out


# ----------------------------------------------------------------------------- configs
def dump(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def text_encoder_config():
    c = M.TEXT
    return {
        "_name_or_path": "latentfarm/sd15-tiny", "architectures": ["CLIPTextModel"], "attention_dropout": 0.0,
        "bos_token_id": c["bos_token_id"], "dropout": 0.0, "eos_token_id": c["eos_token_id"], "hidden_act": "quick_gelu",
        "hidden_size": c["hidden_size"], "initializer_factor": 1.0, "initializer_range": 0.02,
        "intermediate_size": c["intermediate_size"], "layer_norm_eps": c["layer_norm_eps"],
        "max_position_embeddings": c["max_position_embeddings"], "model_type": "clip_text_model",
        "num_attention_heads": c["num_attention_heads"], "num_hidden_layers": c["num_hidden_layers"],
        "pad_token_id": c["pad_token_id"], "projection_dim": c["hidden_size"], "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION, "vocab_size": c["vocab_size"],
    }


def unet_config():
    c = M.UNET
    return {
        "_class_name": "UNet2DConditionModel", "_diffusers_version": DIFFUSERS_VERSION, "act_fn": "silu",
        "attention_head_dim": c["attention_head_dim"], "block_out_channels": list(c["block_out_channels"]),
        "center_input_sample": False, "cross_attention_dim": c["cross_attention_dim"],
        "down_block_types": list(c["down_block_types"]), "downsample_padding": 1, "flip_sin_to_cos": c["flip_sin_to_cos"],
        "freq_shift": c["freq_shift"], "in_channels": c["in_channels"], "layers_per_block": c["layers_per_block"],
        "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": c["norm_eps"],
        "norm_num_groups": c["norm_num_groups"], "out_channels": c["out_channels"], "sample_size": c["sample_size"],
        "up_block_types": list(c["up_block_types"]), "use_linear_projection": False,
    }


def vae_config():
    c = M.VAE
    n = len(c["block_out_channels"])
    return {
        "_class_name": "AutoencoderKL", "_diffusers_version": DIFFUSERS_VERSION, "act_fn": "silu",
        "block_out_channels": list(c["block_out_channels"]), "down_block_types": ["DownEncoderBlock2D"] * n,
        "in_channels": c["in_channels"], "latent_channels": c["latent_channels"], "layers_per_block": c["layers_per_block"],
        "norm_num_groups": c["norm_num_groups"], "out_channels": c["out_channels"], "sample_size": c["sample_size"],
        "scaling_factor": c["scaling_factor"], "up_block_types": ["UpDecoderBlock2D"] * n,
    }


# SD 1.5's scheduler_config.json as a current diffusers writes it back.
SCHEDULER = {
    "_class_name": "PNDMScheduler", "_diffusers_version": DIFFUSERS_VERSION, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False, "num_train_timesteps": 1000,
    "prediction_type": "epsilon", "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "timestep_spacing": "leading", "trained_betas": None,
}
# SD 1.5's CLIPImageProcessor (the safety checker's input; we never use it).
FEATURE_EXTRACTOR = {
    "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True,
    "do_rescale": True, "do_resize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "CLIPImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3,
    "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224},
}
# The torch pipeline's own index, as Optimum saves it (pipeline.save_config): `vae`,
# not vae_decoder/vae_encoder; SD 1.5's safety checker is named but not exported.
INDEX_TORCH = {
    "_class_name": "StableDiffusionPipeline", "_diffusers_version": DIFFUSERS_VERSION,
    "_name_or_path": "latentfarm/sd15-tiny",
    "feature_extractor": ["transformers", "CLIPImageProcessor"], "image_encoder": [None, None],
    "requires_safety_checker": True, "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
    "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
# OnnxStableDiffusionPipeline.save_pretrained after the legacy script (converted without a safety checker).
INDEX_LEGACY = {
    "_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": DIFFUSERS_VERSION,
    "feature_extractor": ["transformers", "CLIPImageProcessor"], "requires_safety_checker": False,
    "safety_checker": [None, None], "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["diffusers", "OnnxRuntimeModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "OnnxRuntimeModel"], "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
    "vae_encoder": ["diffusers", "OnnxRuntimeModel"],
}


def write_fixture(folder, fmt, graphs):
    if os.path.exists(folder):
        shutil.rmtree(folder)
    legacy = fmt == "sd15-tiny-diffusers-onnx"
    for part, m in graphs.items():
        os.makedirs(os.path.join(folder, part))
        if fmt == "sd15-tiny-optimum":
            to_opset18(m)
        external = ("weights.pb" if legacy else "model.onnx_data") if part == "unet" and fmt != "sd15-tiny-optimum-1.23" else None
        save(m, os.path.join(folder, part, "model.onnx"), external)
    if not legacy:  # the legacy script writes no component configs (OnnxRuntimeModel has none)
        dump(text_encoder_config(), os.path.join(folder, "text_encoder", "config.json"))
        dump(unet_config(), os.path.join(folder, "unet", "config.json"))
        dump(vae_config(), os.path.join(folder, "vae_encoder", "config.json"))
        dump(vae_config(), os.path.join(folder, "vae_decoder", "config.json"))
    dump(INDEX_LEGACY if legacy else INDEX_TORCH, os.path.join(folder, "model_index.json"))
    dump(SCHEDULER, os.path.join(folder, "scheduler", "scheduler_config.json"))
    dump(FEATURE_EXTRACTOR, os.path.join(folder, "feature_extractor", "preprocessor_config.json"))
    shutil.copytree(TOKENIZER_DIR, os.path.join(folder, "tokenizer"))


# ----------------------------------------------------------------------------- checks
def f32(path, t):
    np.ascontiguousarray(t.detach().numpy(), dtype=np.float32).tofile(path)


def reference(te, unet, vae, ref):
    """Inputs and torch outputs for check_fixtures.mjs (raw little-endian float32 files)."""
    tok = CLIPTokenizer.load(TOKENIZER_DIR)
    prompts = ["a red circle on a blue background", ""]
    ids = torch.tensor([tok(p) for p in prompts], dtype=torch.int64)
    g = torch.Generator().manual_seed(7)
    sample = torch.randn(3, 4, 8, 8, generator=g)
    image = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        last, pooled = te(ids)
        hidden = last[:1].expand(3, -1, -1).contiguous()
        eps = unet(sample, torch.tensor(981.0), hidden)
        params = vae.latent_parameters(image)
        decoded = vae.decode(sample / M.VAE["scaling_factor"])
    for name, t in dict(last_hidden_state=last, pooler_output=pooled, sample=sample, hidden=hidden, out_sample=eps,
                        image=image, latent_parameters=params, decoded=decoded).items():
        f32(os.path.join(ref, name + ".bin"), t)
    with open(os.path.join(ref, "ref.json"), "w") as f:
        json.dump({"ids": ids.tolist(), "timestep": 981, "scaling_factor": M.VAE["scaling_factor"],
                   "noise_seed": 7}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "worker", "test", "fixtures"))
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()
    te, unet, vae = build()
    print(f"params: text_encoder {M.n_params(te)}, unet {M.n_params(unet)}, vae encoder "
          f"{M.n_params(vae.encoder) + M.n_params(vae.quant_conv)}, decoder {M.n_params(vae.decoder) + M.n_params(vae.post_quant_conv)}")
    with tempfile.TemporaryDirectory() as tmp:
        graphs = export_all(te, unet, vae, tmp)
        for fmt in FORMATS:
            folder = os.path.join(args.out, fmt)
            write_fixture(folder, fmt, graphs[fmt])
            size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)
            print(f"{fmt}: {size / 1e6:.2f} MB")
            for part in ["text_encoder", "unet", "vae_encoder", "vae_decoder"]:
                m = onnx.load(os.path.join(folder, part, "model.onnx"), load_external_data=False)
                ins, outs = signature(m)
                print(f"  {part} opset {m.opset_import[0].version}: {ins} -> {outs}")
        if args.no_check:
            return
        ref = os.path.join(tmp, "ref")
        os.makedirs(ref)
        reference(te, unet, vae, ref)
        unet_today = onnx.load(os.path.join(args.out, "sd15-tiny-optimum", "unet", "model.onnx"))
        onnx.save_model(adapt_scalar_timestep(unet_today), os.path.join(ref, "unet-adapted.onnx"))
        subprocess.run(["node", os.path.join(HERE, "check_fixtures.mjs"), args.out, ref], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
