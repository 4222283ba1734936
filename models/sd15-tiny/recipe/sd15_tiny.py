"""A tiny Stable Diffusion 1.5, written out in plain torch with the block layout,
parameter names and forward passes of transformers' CLIPTextModel and diffusers'
UNet2DConditionModel / AutoencoderKL (neither library is packaged for Debian).

Only the shape of the network is SD 1.5's; the sizes are tiny (see CONFIG) and
the weights are random from a fixed seed.  What matters for the worker's tests
is that the ONNX graphs exported from these modules have the structure real
exports have, above all the UNet's timestep path (`UNet2DConditionModel.forward`).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Sizes.  The block types and their order are SD 1.5's; channels are tiny.
TEXT = dict(vocab_size=631, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=77, layer_norm_eps=1e-5, bos_token_id=629, eos_token_id=630, pad_token_id=630)
UNET = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 16, 32, 32), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            # diffusers' SD 1.x naming quirk: "attention_head_dim" is the number of heads
            attention_head_dim=2, cross_attention_dim=32, norm_num_groups=4, norm_eps=1e-5,
            flip_sin_to_cos=True, freq_shift=0)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 16, 16), layers_per_block=1,
           norm_num_groups=4, sample_size=64, scaling_factor=0.18215)


# ----------------------------------------------------------------------------- CLIP text encoder
def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class CLIPAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.scale = heads, (d // heads) ** -0.5
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        b, n, d = x.shape
        split = lambda t: t.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.q_proj(x) * self.scale), split(self.k_proj(x)), split(self.v_proj(x))
        w = (q @ k.transpose(-1, -2) + mask).softmax(-1)
        return self.out_proj((w @ v).transpose(1, 2).reshape(b, n, d))


class CLIPMLP(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, inner), nn.Linear(inner, d)

    def forward(self, x):
        return self.fc2(quick_gelu(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.self_attn = CLIPAttention(d, c["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = CLIPMLP(d, c["intermediate_size"])
        self.layer_norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPTextModel(nn.Module):
    """transformers' CLIPTextModel: token + position embeddings, causal pre-LN
    layers with quick_gelu, final LayerNorm; pooler_output is the final state at
    the first EOS of each row."""

    def __init__(self, c=TEXT):
        super().__init__()
        d = c["hidden_size"]
        self.eos_token_id = c["eos_token_id"]
        self.token_embedding = nn.Embedding(c["vocab_size"], d)
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], d)
        self.register_buffer("position_ids", torch.arange(c["max_position_embeddings"])[None], persistent=False)
        self.layers = nn.ModuleList([CLIPEncoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.final_layer_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.01)

    def forward(self, input_ids):
        n = input_ids.shape[1]
        x = self.token_embedding(input_ids) + self.position_embedding(self.position_ids[:, :n])
        # causal mask as transformers builds it: the dtype's minimum above the diagonal
        idx = torch.arange(n)
        mask = torch.zeros(n, n, dtype=x.dtype).masked_fill(idx[None, :] > idx[:, None], torch.finfo(x.dtype).min)[None, None]
        for layer in self.layers:
            x = layer(x, mask)
        last = self.final_layer_norm(x)
        eos = (input_ids.to(torch.int) == self.eos_token_id).int().argmax(dim=-1)
        pooled = last[torch.arange(last.shape[0]), eos]
        return last, pooled


# ----------------------------------------------------------------------------- shared blocks
class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout) if temb else None
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.output_scale_factor = 1.0

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return (x + h) / self.output_scale_factor


class Downsample2D(nn.Module):
    def __init__(self, c, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:  # the VAE pads right/bottom only
            x = F.pad(x, (0, 1, 0, 1), mode="constant", value=0)
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Attention(nn.Module):
    """diffusers' Attention with AttnProcessor (the torch < 2.0 path)."""

    def __init__(self, dim, heads, dim_head, cross_dim=None, bias=False):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_q = nn.Linear(dim, inner, bias=bias)
        self.to_k = nn.Linear(cross_dim or dim, inner, bias=bias)
        self.to_v = nn.Linear(cross_dim or dim, inner, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(0.0)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        b, n, _ = x.shape
        split = lambda t: t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2)
        q, k, v = split(self.to_q(x)), split(self.to_k(ctx)), split(self.to_v(ctx))
        w = ((q @ k.transpose(-1, -2)) * self.scale).softmax(-1)
        out = (w @ v).transpose(1, 2).reshape(b, n, -1)
        return self.to_out[1](self.to_out[0](out))


# ----------------------------------------------------------------------------- UNet
class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * 4), nn.Dropout(0.0), nn.Linear(dim * 4, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, dim_head, cross_dim):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(dim) for _ in range(3))
        self.attn1 = Attention(dim, heads, dim_head)
        self.attn2 = Attention(dim, heads, dim_head, cross_dim)
        self.ff = FeedForward(dim)

    def forward(self, x, ctx):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), ctx) + x
        return self.ff(self.norm3(x)) + x


class Transformer2DModel(nn.Module):
    """use_linear_projection=False (SD 1.x): 1×1 conv projections."""

    def __init__(self, heads, dim_head, c, cross_dim, groups):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, inner, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(inner, heads, dim_head, cross_dim)])
        self.proj_out = nn.Conv2d(inner, c, 1)

    def forward(self, x, ctx):
        b, _, h, w = x.shape
        y = self.proj_in(self.norm(x))
        inner = y.shape[1]
        y = y.permute(0, 2, 3, 1).reshape(b, h * w, inner)
        for blk in self.transformer_blocks:
            y = blk(y, ctx)
        y = y.reshape(b, h, w, inner).permute(0, 3, 1, 2).contiguous()
        return self.proj_out(y) + x


class DownBlock(nn.Module):
    """CrossAttnDownBlock2D (attn=True) or DownBlock2D."""

    def __init__(self, cin, cout, temb, n, attn, down, c):
        super().__init__()
        g, heads = c["norm_num_groups"], c["attention_head_dim"]
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, temb, g, c["norm_eps"]) for i in range(n)])
        if attn:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(heads, cout // heads, cout, c["cross_attention_dim"], g) for _ in range(n)])
        self.downsamplers = nn.ModuleList([Downsample2D(cout, 1)]) if down else None

    def forward(self, x, temb, ctx):
        states = ()
        for i, resnet in enumerate(self.resnets):
            x = resnet(x, temb)
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, ctx)
            states += (x,)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            states += (x,)
        return x, states


class UpBlock(nn.Module):
    """CrossAttnUpBlock2D (attn=True) or UpBlock2D."""

    def __init__(self, cin, cout, prev, temb, n, attn, up, c):
        super().__init__()
        g, heads = c["norm_num_groups"], c["attention_head_dim"]
        self.resnets = nn.ModuleList([
            ResnetBlock2D((prev if i == 0 else cout) + (cin if i == n - 1 else cout), cout, temb, g, c["norm_eps"])
            for i in range(n)])
        if attn:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(heads, cout // heads, cout, c["cross_attention_dim"], g) for _ in range(n)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if up else None

    def forward(self, x, skips, temb, ctx):
        for i, resnet in enumerate(self.resnets):
            x = resnet(torch.cat([x, skips[-1]], dim=1), temb)
            skips = skips[:-1]
            if hasattr(self, "attentions"):
                x = self.attentions[i](x, ctx)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, ch, temb, c):
        super().__init__()
        g, heads = c["norm_num_groups"], c["attention_head_dim"]
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, temb, g, c["norm_eps"]) for _ in range(2)])
        self.attentions = nn.ModuleList([Transformer2DModel(heads, ch // heads, ch, c["cross_attention_dim"], g)])

    def forward(self, x, temb, ctx):
        x = self.resnets[0](x, temb)
        return self.resnets[1](self.attentions[0](x, ctx), temb)


def get_timestep_embedding(timesteps, dim, flip_sin_to_cos, downscale_freq_shift, max_period=10000):
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / (half - downscale_freq_shift)
    emb = timesteps[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(cin, dim), nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class UNet2DConditionModel(nn.Module):
    def __init__(self, c=UNET):
        super().__init__()
        self.c = c
        boc, n = c["block_out_channels"], c["layers_per_block"]
        temb = boc[0] * 4
        self.conv_in = nn.Conv2d(c["in_channels"], boc[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(boc[0], temb)
        self.down_blocks = nn.ModuleList()
        cout = boc[0]
        for i, kind in enumerate(c["down_block_types"]):
            cin, cout = cout, boc[i]
            self.down_blocks.append(DownBlock(cin, cout, temb, n, kind.startswith("CrossAttn"), i < len(boc) - 1, c))
        self.mid_block = UNetMidBlock2DCrossAttn(boc[-1], temb, c)
        self.up_blocks = nn.ModuleList()
        rev = list(reversed(boc))
        cout = rev[0]
        for i, kind in enumerate(c["up_block_types"]):
            prev, cout, cin = cout, rev[i], rev[min(i + 1, len(boc) - 1)]
            self.up_blocks.append(UpBlock(cin, cout, prev, temb, n + 1, kind.startswith("CrossAttn"), i < len(boc) - 1, c))
        self.conv_norm_out = nn.GroupNorm(c["norm_num_groups"], boc[0], eps=c["norm_eps"])
        self.conv_out = nn.Conv2d(boc[0], c["out_channels"], 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states):
        # The timestep path exactly as diffusers writes it: a 0-d timestep gets
        # `[None]` (one Unsqueeze in the ONNX graph, the only consumer of the
        # graph input), then it is broadcast to the batch.  Real exports with a
        # scalar timestep look like this, and the worker adapts that Unsqueeze.
        timesteps = timestep
        if len(timesteps.shape) == 0:
            timesteps = timesteps[None]
        timesteps = timesteps.expand(sample.shape[0])
        t_emb = get_timestep_embedding(timesteps, self.c["block_out_channels"][0], self.c["flip_sin_to_cos"],
                                       self.c["freq_shift"]).to(dtype=sample.dtype)
        emb = self.time_embedding(t_emb)

        sample = self.conv_in(sample)
        skips = (sample,)
        for block in self.down_blocks:
            sample, states = block(sample, emb, encoder_hidden_states)
            skips += states
        sample = self.mid_block(sample, emb, encoder_hidden_states)
        for block in self.up_blocks:
            n = len(block.resnets)
            res, skips = skips[-n:], skips[:-n]
            sample = block(sample, res, emb, encoder_hidden_states)
        return self.conv_out(F.silu(self.conv_norm_out(sample)))


# ----------------------------------------------------------------------------- VAE
class VAEAttention(nn.Module):
    """The VAE mid-block's single-head self-attention with its own GroupNorm and residual."""

    def __init__(self, c, groups):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c), nn.Dropout(0.0)])
        self.scale = c ** -0.5

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.group_norm(x.view(b, c, h * w)).transpose(1, 2)
        q, k, v = self.to_q(y), self.to_k(y), self.to_v(y)
        att = ((q @ k.transpose(-1, -2)) * self.scale).softmax(-1)
        y = self.to_out[1](self.to_out[0](att @ v))
        return y.transpose(-1, -2).reshape(b, c, h, w) + x


class UNetMidBlock2D(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, None, groups, 1e-6) for _ in range(2)])
        self.attentions = nn.ModuleList([VAEAttention(c, groups)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class EncoderBlock(nn.Module):
    """DownEncoderBlock2D."""

    def __init__(self, cin, cout, n, down, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, 1e-6) for i in range(n)])
        self.downsamplers = nn.ModuleList([Downsample2D(cout, 0)]) if down else None

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return self.downsamplers[0](x) if self.downsamplers is not None else x


class DecoderBlock(nn.Module):
    """UpDecoderBlock2D."""

    def __init__(self, cin, cout, n, up, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin if i == 0 else cout, cout, None, groups, 1e-6) for i in range(n)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if up else None

    def forward(self, x):
        for r in self.resnets:
            x = r(x)
        return self.upsamplers[0](x) if self.upsamplers is not None else x


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        boc, g = c["block_out_channels"], c["norm_num_groups"]
        self.conv_in = nn.Conv2d(c["in_channels"], boc[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            [EncoderBlock(boc[max(i - 1, 0)], boc[i], c["layers_per_block"], i < len(boc) - 1, g) for i in range(len(boc))])
        self.mid_block = UNetMidBlock2D(boc[-1], g)
        self.conv_norm_out = nn.GroupNorm(g, boc[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(boc[-1], 2 * c["latent_channels"], 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for b in self.down_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(x))))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        boc, g = c["block_out_channels"], c["norm_num_groups"]
        rev = list(reversed(boc))
        self.conv_in = nn.Conv2d(c["latent_channels"], boc[-1], 3, padding=1)
        self.mid_block = UNetMidBlock2D(boc[-1], g)
        self.up_blocks = nn.ModuleList(
            [DecoderBlock(rev[max(i - 1, 0)], rev[i], c["layers_per_block"] + 1, i < len(boc) - 1, g) for i in range(len(boc))])
        self.conv_norm_out = nn.GroupNorm(g, boc[0], eps=1e-6)
        self.conv_out = nn.Conv2d(boc[0], c["out_channels"], 3, padding=1)

    def forward(self, z):
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, c=VAE):
        super().__init__()
        z = c["latent_channels"]
        self.encoder, self.decoder = Encoder(c), Decoder(c)
        self.quant_conv, self.post_quant_conv = nn.Conv2d(2 * z, 2 * z, 1), nn.Conv2d(z, z, 1)

    def latent_parameters(self, sample):
        """The diagonal Gaussian's parameters, mean then log-variance (what Optimum exports)."""
        return self.quant_conv(self.encoder(sample))

    def latent_sample(self, sample):
        """One draw from that Gaussian (what diffusers' legacy script exports)."""
        mean, logvar = self.latent_parameters(sample).chunk(2, dim=1)
        std = torch.exp(0.5 * torch.clamp(logvar, -30.0, 20.0))
        return mean + std * torch.randn_like(mean)

    def decode(self, latent_sample):
        return self.decoder(self.post_quant_conv(latent_sample))


def n_params(m):
    return sum(p.numel() for p in m.parameters())
