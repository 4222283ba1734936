"""The tensor interface and index the shipped folder follows: today's Hugging Face
Optimum Stable Diffusion export (optimum >= 1.24 / optimum-onnx), in one place
for export.py (new exports) and upgrade_interface.py (the files shipped before).

  text_encoder  input_ids int64 [batch_size, 77] -> last_hidden_state f32 [batch_size, 77, 128],
                                                    pooler_output f32 [batch_size, 128]
  unet          sample f32 [batch_size, 4, height, width], timestep f32 [] (a scalar, first used by one
                Unsqueeze, then broadcast to the batch, as diffusers' UNet2DConditionModel does),
                encoder_hidden_states f32 [batch_size, 77, 128] -> out_sample f32 [batch_size, 4, height, width]
  vae_decoder   latent_sample f32 [batch_size, 4, latent_height, latent_width]
                -> sample f32 [batch_size, 3, latent_height * 8, latent_width * 8]
  opset 18; model_index.json is the torch pipeline's own (StableDiffusionPipeline, a `vae` entry).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "common"))
from onnx_opset import set_dims, to_opset18  # noqa: E402

DIFFUSERS_VERSION = "0.32.2"
TEXT_DIM, SEQ = 128, 77
DIMS = {
    "text_encoder": {"input_ids": ["batch_size", SEQ], "last_hidden_state": ["batch_size", SEQ, TEXT_DIM],
                     "pooler_output": ["batch_size", TEXT_DIM]},
    "unet": {"sample": ["batch_size", 4, "height", "width"], "timestep": [],
             "encoder_hidden_states": ["batch_size", SEQ, TEXT_DIM], "out_sample": ["batch_size", 4, "height", "width"]},
    "vae_decoder": {"latent_sample": ["batch_size", 4, "latent_height", "latent_width"],
                    "sample": ["batch_size", 3, "latent_height * 8", "latent_width * 8"]},
}

# What diffusers' StableDiffusionPipeline.save_config writes (and Optimum copies):
# components by their torch classes, `vae` rather than vae_decoder/vae_encoder.
# No safety checker, feature extractor or image encoder: entries with no folder.
INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "_diffusers_version": DIFFUSERS_VERSION,
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "scheduler": ["diffusers", "DDIMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def vae_config(scaling_factor):
    """The decoder upsamples three times (8×8 latents -> 64×64): in diffusers' terms
    four levels, 32/64/128/128 channels from full resolution down, which is how a
    pipeline derives the scale factor 8 (2 ** (len(block_out_channels) - 1))."""
    return {
        "_class_name": "AutoencoderKL",
        "_diffusers_version": DIFFUSERS_VERSION,
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "sample_size": 64,
        "block_out_channels": [32, 64, 128, 128],
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "scaling_factor": scaling_factor,
        "act_fn": "silu",
        "norm_num_groups": 32,
    }


def finish(model, part):
    """Name the dims as Optimum does and raise the graph to opset 18."""
    set_dims(model, DIMS[part])
    return to_opset18(model)


def dump(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
