"""One-command recipe: render the dataset, train the autoencoder, warm the text
encoder up on the role loss, then train text encoder + UNet jointly on scaled
latents (diffusion loss + role loss).  Fixed seeds throughout.

  /usr/bin/python3 models/shapes-ldm/recipe/train.py            # full run (~48 min on 2 cores)
  /usr/bin/python3 models/shapes-ldm/recipe/train.py --smoke    # 1-minute pipeline check

Checkpoints go to recipe/checkpoints/ (gitignored); the loss log to recipe/loss.csv.
"""
import argparse
import copy
import csv
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset as D  # noqa: E402
import model as M  # noqa: E402
from tokenizer import build_tokenizer  # noqa: E402

SEED = 0
PER_COMBO = 128          # pre-rendered images per (colour, shape, background) combo
AE_STEPS, AE_BATCH = 1200, 32
DIFF_STEPS = 5200
PROMPTS_PER_BATCH, IMAGES_PER_PROMPT = 32, 4   # batch 128; text encoder runs once per prompt
P_EMPTY = 0.1            # empty-prompt rate for classifier-free guidance
EMA_DECAY = 0.999
TE_STEPS, TE_BATCH = 600, 128   # text encoder warm-up on the role loss alone
ROLE_WEIGHT = 0.1        # weight of the role loss beside the diffusion loss


def log_loss(path, stage, step, t_start, loss, lr):
    """One row of loss.csv: a 50-step average of one stage's loss."""
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["stage", "step", "seconds", "loss", "lr"])
        w.writerow([stage, step, round(time.time() - t_start, 1), round(loss, 5), round(lr, 6)])


def set_lr(opt, step, total, base, warmup):
    """Warmup + cosine (lr_at) on every parameter group; returns the rate."""
    lr = lr_at(step, total, base, warmup)
    for pg in opt.param_groups:
        pg["lr"] = lr
    return lr


def lr_at(step, total, base, warmup=200, floor=0.1):
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def train_ae(imgs, steps, ckdir, loss_csv, t_start):
    torch.manual_seed(SEED + 1)
    enc, dec = M.Encoder(), M.Decoder()
    opt = torch.optim.AdamW(list(enc.parameters()) + list(dec.parameters()), lr=1e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(SEED + 2)
    run = 0.0
    for step in range(steps):
        lr = set_lr(opt, step, steps, 1e-3, warmup=100)
        idx = torch.randint(0, len(imgs), (AE_BATCH,), generator=g)
        x = imgs[idx].permute(0, 3, 1, 2).float() / 127.5 - 1.0
        z = enc(x)
        # Latent noise makes the decoder robust to small latent errors from the
        # diffusion sampler; the L2 term keeps the latent scale bounded.
        zn = z + 0.1 * torch.randn_like(z)
        y = dec(zn)
        rec = (y - x).abs().mean() + (y - x).pow(2).mean()
        loss = rec + 1e-3 * z.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        run += rec.item()
        if (step + 1) % 50 == 0:
            log_loss(loss_csv, "ae", step + 1, t_start, run / 50, lr)
            print(f"ae step {step + 1} rec {run / 50:.4f} z.std {z.std().item():.3f} t {time.time() - t_start:.0f}s", flush=True)
            run = 0.0
    torch.save({"enc": enc.state_dict(), "dec": dec.state_dict()}, os.path.join(ckdir, "ae.pt"))
    return enc, dec


@torch.no_grad()
def encode_all(enc, imgs, bs=256):
    zs = []
    for i in range(0, len(imgs), bs):
        zs.append(enc(imgs[i:i + bs].permute(0, 3, 1, 2).float() / 127.5 - 1.0))
    return torch.cat(zs)


def role_labels(n_combos):
    """[n_combos, 3]: (shape colour, background colour, shape) indices for RoleHeads."""
    return torch.tensor([[D.FG_COLORS.index(c), D.BG_COLORS.index(b), D.SHAPES.index(s)] for c, s, b in D.TRAIN_COMBOS[:n_combos]])


def role_loss(heads, h, labels):
    """Cross-entropy of RoleHeads on the text state the UNet reads globally (position -1)."""
    return sum(F.cross_entropy(logits, labels[:, i]) for i, logits in enumerate(heads(h[:, -1])))


def train_text_roles(te, heads, ids, roles, steps, loss_csv, t_start):
    """Warm the text encoder up on the role loss alone (cheap: no UNet), so that from the
    first diffusion step the global text vector already separates the shape's colour
    from the background's and the UNet learns to read it rather than a bag of words."""
    opt = torch.optim.AdamW(list(te.parameters()) + list(heads.parameters()), lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(SEED + 5)
    run = 0.0
    for step in range(steps):
        lr = set_lr(opt, step, steps, 1e-3, warmup=50)
        combos = torch.randint(0, ids.shape[0], (TE_BATCH,), generator=g)
        tmpl = torch.randint(0, ids.shape[1], (TE_BATCH,), generator=g)
        h, _ = te(ids[combos, tmpl])
        loss = role_loss(heads, h, roles[combos])
        opt.zero_grad()
        loss.backward()
        opt.step()
        run += loss.item()
        if (step + 1) % 50 == 0:
            log_loss(loss_csv, "text", step + 1, t_start, run / 50, lr)
            print(f"text step {step + 1} role loss {run / 50:.4f} t {time.time() - t_start:.0f}s", flush=True)
            run = 0.0


def train_diffusion(lat, labels, n_combos, tok, te_steps, steps, ckdir, loss_csv, t_start, max_seconds):
    torch.manual_seed(SEED + 3)
    te, unet = M.TextEncoder(tok.vocab_size), M.UNet()
    heads = M.RoleHeads(len(D.FG_COLORS), len(D.BG_COLORS), len(D.SHAPES))
    base_lr = 5e-4
    # token ids for every (training combo, training template); [n_combos, n_templates, 77]
    ids = torch.tensor([[tok(D.prompt(t, *D.TRAIN_COMBOS[c])) for t in D.TRAIN_TEMPLATES] for c in range(n_combos)], dtype=torch.int32)
    roles = role_labels(n_combos)
    train_text_roles(te, heads, ids, roles, te_steps, loss_csv, t_start)
    params = list(te.parameters()) + list(unet.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=base_lr, weight_decay=0.01)
    ema_te, ema_unet = copy.deepcopy(te), copy.deepcopy(unet)
    ema_params = list(ema_te.parameters()) + list(ema_unet.parameters())
    model_params = list(te.parameters()) + list(unet.parameters())
    for p in ema_params:
        p.requires_grad_(False)
    ac = M.scaled_linear_alphas_cumprod()
    empty = torch.tensor(tok(""), dtype=torch.int32)
    by_combo = [torch.nonzero(labels == c).flatten() for c in range(n_combos)]
    g = torch.Generator().manual_seed(SEED + 4)
    P, K = PROMPTS_PER_BATCH, IMAGES_PER_PROMPT
    run, run_roles, t0 = 0.0, 0.0, time.time()
    for step in range(steps):
        lr = set_lr(opt, step, steps, base_lr, warmup=200)
        combos = torch.randint(0, n_combos, (P,), generator=g)
        tmpl = torch.randint(0, len(D.TRAIN_TEMPLATES), (P,), generator=g)
        batch_ids = ids[combos, tmpl]
        drop = torch.rand(P, generator=g) < P_EMPTY
        batch_ids[drop] = empty
        img_idx = torch.stack([by_combo[c][torch.randint(0, len(by_combo[c]), (K,), generator=g)] for c in combos.tolist()]).flatten()
        z0 = lat[img_idx]
        t = torch.randint(0, 1000, (P * K,), generator=g)
        noise = torch.randn(z0.shape, generator=g)
        a = ac[t][:, None, None, None]
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        h, _ = te(batch_ids)
        mse = F.mse_loss(unet(zt, t, h.repeat_interleave(K, 0)), noise)
        roles_loss = role_loss(heads, h[~drop], roles[combos[~drop]])
        loss = mse + ROLE_WEIGHT * roles_loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        d = min(EMA_DECAY, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema_params, model_params):
                pe.mul_(d).add_(p.detach(), alpha=1 - d)
        run += mse.item()
        run_roles += roles_loss.item()
        if (step + 1) % 50 == 0:
            el = time.time() - t0
            log_loss(loss_csv, "diffusion", step + 1, t_start, run / 50, lr)
            print(f"diff step {step + 1} loss {run / 50:.4f} roles {run_roles / 50:.4f} lr {lr:.2e} {el / (step + 1):.3f}s/step t {time.time() - t_start:.0f}s", flush=True)
            run, run_roles = 0.0, 0.0
        last = step + 1 == steps or time.time() - t0 > max_seconds
        if (step + 1) % 500 == 0 or last:
            torch.save({"te": ema_te.state_dict(), "unet": ema_unet.state_dict(), "te_raw": te.state_dict(),
                        "unet_raw": unet.state_dict(), "heads": heads.state_dict(), "step": step + 1, "vocab_size": tok.vocab_size},
                       os.path.join(ckdir, "diffusion.pt"))
        if last:
            if step + 1 < steps:
                print(f"time budget reached: stopping at step {step + 1}/{steps}", flush=True)
            break


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny run to check the pipeline end to end")
    ap.add_argument("--skip-ae", action="store_true", help="reuse checkpoints/ae.pt")
    ap.add_argument("--ckdir", default=os.path.join(HERE, "checkpoints"))
    ap.add_argument("--te-steps", type=int, default=TE_STEPS)
    ap.add_argument("--diff-steps", type=int, default=DIFF_STEPS)
    ap.add_argument("--max-minutes", type=float, default=44.0, help="safety stop for the diffusion stage")
    args = ap.parse_args()
    torch.set_num_threads(2)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    os.makedirs(args.ckdir, exist_ok=True)
    t_start = time.time()
    per_combo, ae_steps, te_steps, diff_steps = PER_COMBO, AE_STEPS, args.te_steps, args.diff_steps
    loss_csv = os.path.join(HERE, "loss.csv")
    if args.smoke:
        per_combo, ae_steps, te_steps, diff_steps = 4, 50, 50, 50
        loss_csv = os.path.join(args.ckdir, "loss_smoke.csv")
    if os.path.exists(loss_csv) and not args.skip_ae:
        os.remove(loss_csv)
    if os.path.exists(loss_csv) and args.skip_ae:
        # keep the autoencoder rows, drop the rest, and continue the time axis
        rows = list(csv.reader(open(loss_csv)))
        keep = [rows[0]] + [r for r in rows[1:] if r[0] == "ae"]
        with open(loss_csv, "w", newline="") as f:
            csv.writer(f).writerows(keep)
        if len(keep) > 1:
            t_start -= float(keep[-1][2])

    tok = build_tokenizer()
    t_render = time.time()
    imgs, labels = D.make_images(D.TRAIN_COMBOS, per_combo, SEED)
    imgs, labels = torch.from_numpy(imgs), torch.from_numpy(labels)
    print(f"rendered {len(imgs)} images of {len(D.TRAIN_COMBOS)} combos in {time.time() - t_render:.1f}s; vocab {tok.vocab_size}", flush=True)

    if args.skip_ae:
        ck = torch.load(os.path.join(args.ckdir, "ae.pt"))
        enc = M.Encoder()
        enc.load_state_dict(ck["enc"])
    else:
        enc, _ = train_ae(imgs, ae_steps, args.ckdir, loss_csv, t_start)
    enc.eval()
    lat = encode_all(enc, imgs)
    scaling_factor = float(1.0 / lat.std())
    print(f"latents {tuple(lat.shape)} mean {lat.mean():.3f} std {lat.std():.3f} -> scaling_factor {scaling_factor:.5f}", flush=True)
    torch.save({"scaling_factor": scaling_factor}, os.path.join(args.ckdir, "scaling.pt"))
    del imgs
    train_diffusion(lat * scaling_factor, labels, len(D.TRAIN_COMBOS), tok, te_steps, diff_steps, args.ckdir, loss_csv, t_start,
                    args.max_minutes * 60)
    print(f"done in {(time.time() - t_start) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
