"""Small models: CLIP-like text encoder, autoencoder (64x64x3 <-> 8x8x4), and a
cross-attention UNet over the 8x8x4 latent.  Written with plain ops only so
torch.onnx.export (opset 14) produces graphs with dynamic batch / h / w."""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT_DIM = 128
MAX_LEN = 77


# Debian's torch is built against the reference BLAS (~7 GFLOPS here) while
# convolutions go through oneDNN (~100-200 GFLOPS).  So every per-token linear
# layer is a kernel-1 Conv1d over a channel-first token layout [B, C, N]; only
# the attention products themselves use (slow) matmul.  Exports to ONNX Conv.
def lin(cin, cout, bias=True):
    return nn.Conv1d(cin, cout, 1, bias=bias)


# Batched matmul also hits the reference BLAS.  For training we express the
# per-(sample, head) products as one grouped Conv1d (~3x faster here); for ONNX
# export (group count would depend on the dynamic batch) we use plain matmul.
# Both compute exactly the same thing.
FAST_MATMUL = True


def qk_product(q, k):
    """q [B,h,d,N], k [B,h,d,M] -> q^T k [B,h,N,M]."""
    if not FAST_MATMUL:
        return q.transpose(-1, -2) @ k
    b, h, d, n = q.shape
    m = k.shape[-1]
    out = F.conv1d(k.reshape(1, b * h * d, m), q.transpose(-1, -2).reshape(b * h * n, d, 1), groups=b * h)
    return out.reshape(b, h, n, m)


def av_product(v, w):
    """v [B,h,d,M], w [B,h,N,M] -> v w^T [B,h,d,N]."""
    if not FAST_MATMUL:
        return v @ w.transpose(-1, -2)
    b, h, d, m = v.shape
    n = w.shape[2]
    out = F.conv1d(w.transpose(-1, -2).reshape(1, b * h * m, n), v.reshape(b * h * d, m, 1), groups=b * h)
    return out.reshape(b, h, d, n)


class ChanLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a [B, C, N] tensor."""

    def __init__(self, c, eps=1e-5):
        super().__init__()
        self.w, self.b, self.eps = nn.Parameter(torch.ones(c, 1)), nn.Parameter(torch.zeros(c, 1)), eps

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.w + self.b


class Attention(nn.Module):
    """Multi-head attention on [B, C, N] queries and [B, Cctx, M] context."""

    def __init__(self, dim, heads, ctx_dim=None):
        super().__init__()
        ctx_dim = ctx_dim or dim
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q = lin(dim, dim, bias=False)
        self.k = lin(ctx_dim, dim, bias=False)
        self.v = lin(ctx_dim, dim, bias=False)
        self.o = lin(dim, dim)

    def forward(self, x, ctx=None, mask=None):
        ctx = x if ctx is None else ctx
        b, c, h = x.shape[0], x.shape[1], self.heads
        q = self.q(x).reshape(b, h, c // h, -1)       # [B, h, d, N]
        k = self.k(ctx).reshape(b, h, c // h, -1)     # [B, h, d, M]
        v = self.v(ctx).reshape(b, h, c // h, -1)
        w = qk_product(q, k) * self.scale              # [B, h, N, M]
        if mask is not None:
            w = w + mask
        out = av_product(v, w.softmax(-1)).reshape(b, c, -1)  # [B, C, N]
        return self.o(out)


class TextBlock(nn.Module):
    def __init__(self, d, heads, ff=4):
        super().__init__()
        self.ln1, self.ln2 = ChanLayerNorm(d), ChanLayerNorm(d)
        self.attn = Attention(d, heads)
        self.mlp = nn.Sequential(lin(d, d * ff), nn.GELU(), lin(d * ff, d))

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.mlp(self.ln2(x))


class TextEncoder(nn.Module):
    """CLIP-style: token + learned position embeddings, pre-LN causal
    transformer, final LayerNorm; pooler_output = state at the EOS position
    (argmax of input_ids, since EOS has the largest id)."""

    def __init__(self, vocab_size, d=TEXT_DIM, layers=3, heads=4, ff=2):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, d)
        self.pos = nn.Parameter(torch.randn(MAX_LEN, d) * 0.01)
        nn.init.normal_(self.tok.weight, std=0.02)
        self.blocks = nn.ModuleList([TextBlock(d, heads, ff) for _ in range(layers)])
        self.ln_f = ChanLayerNorm(d)
        self.register_buffer("mask", torch.full((MAX_LEN, MAX_LEN), float("-inf")).triu(1), persistent=False)

    def forward(self, input_ids):
        ids = input_ids.long()
        x = (self.tok(ids) + self.pos).transpose(1, 2)   # [B, D, 77]
        for blk in self.blocks:
            x = blk(x, self.mask)
        h = self.ln_f(x).transpose(1, 2)                  # [B, 77, D]
        eos = ids.argmax(-1)
        sel = (torch.arange(MAX_LEN)[None, :] == eos[:, None]).to(h.dtype)
        pooled = (h * sel[:, :, None]).sum(1)
        return h, pooled


# ----------------------------------------------------------------------------- autoencoder
def gn(c):
    return nn.GroupNorm(min(32, c // 4), c)


class ConvRes(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(gn(c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1), gn(c), nn.SiLU(), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class Encoder(nn.Module):
    def __init__(self, ch=(32, 64, 128), z=4):
        super().__init__()
        c0, c1, c2 = ch
        self.net = nn.Sequential(
            nn.Conv2d(3, c0, 3, padding=1),
            nn.Conv2d(c0, c1, 4, stride=2, padding=1),  # 32
            ConvRes(c1),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),  # 16
            ConvRes(c2),
            nn.Conv2d(c2, c2, 4, stride=2, padding=1),  # 8
            ConvRes(c2),
            gn(c2), nn.SiLU(), nn.Conv2d(c2, z, 3, padding=1))

    def forward(self, x):
        return self.net(x)


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Decoder(nn.Module):
    """Output is linear (no tanh), trained on [-1,1] targets; clamping is the pipeline's job."""

    def __init__(self, ch=(32, 64, 128), z=4):
        super().__init__()
        c0, c1, c2 = ch
        self.net = nn.Sequential(
            nn.Conv2d(z, c2, 3, padding=1),
            ConvRes(c2),
            Up(c2, c2), ConvRes(c2),   # 16
            Up(c2, c1), ConvRes(c1),   # 32
            Up(c1, c0),                # 64
            gn(c0), nn.SiLU(), nn.Conv2d(c0, 3, 3, padding=1))

    def forward(self, z):
        return self.net(z)


# ----------------------------------------------------------------------------- UNet
def timestep_embedding(t, dim):
    """Sinusoidal embedding (diffusers flip_sin_to_cos=True, shift 0) from timestep.float()."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(32, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2, self.c2 = nn.GroupNorm(32, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(temb)[:, :, None, None]  # temb batch is B or 1: broadcasts
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class SpatialTransformer(nn.Module):
    """SD-style: self-attention, cross-attention to text states, feed-forward."""

    def __init__(self, c, ctx_dim, heads=4):
        super().__init__()
        self.norm = nn.GroupNorm(32, c)
        self.proj_in, self.proj_out = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)
        self.ln1, self.ln2, self.ln3 = ChanLayerNorm(c), ChanLayerNorm(c), ChanLayerNorm(c)
        self.attn1 = Attention(c, heads)
        self.attn2 = Attention(c, heads, ctx_dim)
        self.ff = nn.Sequential(lin(c, c * 4), nn.GELU(), lin(c * 4, c))

    def forward(self, x, ctx):
        """x [B, C, H, W]; ctx [B, D, 77] (channel-first text states)."""
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x)).reshape(b, c, -1)  # [B, C, HW]
        y = y + self.attn1(self.ln1(y))
        y = y + self.attn2(self.ln2(y), ctx)
        y = y + self.ff(self.ln3(y))
        return x + self.proj_out(y.reshape(b, c, h, w))


class UNet(nn.Module):
    def __init__(self, ch=(64, 128), ctx_dim=TEXT_DIM, z=4):
        super().__init__()
        c0, c1 = ch
        self.c0, tdim = c0, c0 * 4
        self.temb = nn.Sequential(nn.Linear(c0, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        # Global text vector, added to the timestep embedding as SDXL adds its pooled
        # text embedding: the state at the last of the 77 positions.  The text encoder is
        # causal and ids are padded with EOS, so that state has read the whole prompt;
        # training's RoleHeads make it name the shape colour and the background colour
        # apart.  Cross-attention alone bound colours to roles only ~78% of the time.
        self.text_emb = nn.Linear(ctx_dim, tdim)
        self.conv_in = nn.Conv2d(z, c0, 3, padding=1)
        self.d0r, self.d0a = ResBlock(c0, c0, tdim), SpatialTransformer(c0, ctx_dim)
        self.down = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.d1r, self.d1a = ResBlock(c0, c1, tdim), SpatialTransformer(c1, ctx_dim)
        self.m1, self.ma, self.m2 = ResBlock(c1, c1, tdim), SpatialTransformer(c1, ctx_dim), ResBlock(c1, c1, tdim)
        self.u1r, self.u1a = ResBlock(c1 + c1, c1, tdim), SpatialTransformer(c1, ctx_dim)
        self.up = Up(c1, c1)
        self.u0r, self.u0a = ResBlock(c1 + c0, c0, tdim), SpatialTransformer(c0, ctx_dim)
        self.out = nn.Sequential(nn.GroupNorm(32, c0), nn.SiLU(), nn.Conv2d(c0, z, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, sample, timestep, encoder_hidden_states):
        ctx = encoder_hidden_states.transpose(1, 2)  # [B, D, 77]
        temb = self.temb(timestep_embedding(timestep, self.c0)) + self.text_emb(encoder_hidden_states[:, -1])
        x = self.conv_in(sample)
        s0 = self.d0a(self.d0r(x, temb), ctx)
        x = self.down(s0)
        s1 = self.d1a(self.d1r(x, temb), ctx)
        x = self.m2(self.ma(self.m1(s1, temb), ctx), temb)
        x = self.u1a(self.u1r(torch.cat([x, s1], 1), temb), ctx)
        x = self.up(x)
        x = self.u0a(self.u0r(torch.cat([x, s0], 1), temb), ctx)
        return self.out(x)


class RoleHeads(nn.Module):
    """Training-only linear probes on the text state the UNet reads as its
    global vector: shape colour, background colour and shape.  Their loss
    makes the text encoder say which colour belongs to which role; they are
    not exported."""

    def __init__(self, n_colors, n_backgrounds, n_shapes, d=TEXT_DIM):
        super().__init__()
        self.color, self.background = nn.Linear(d, n_colors), nn.Linear(d, n_backgrounds)
        self.shape = nn.Linear(d, n_shapes)

    def forward(self, state):
        return self.color(state), self.background(state), self.shape(state)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------- schedule
def scaled_linear_alphas_cumprod(beta_start=0.00085, beta_end=0.012, n=1000):
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, n, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, 0).float()
