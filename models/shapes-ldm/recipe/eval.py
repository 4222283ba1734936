"""Prompt-faithfulness evaluation on held-out prompts.

  # (a) sample the exported ONNX files (DDIM 25 steps, CFG 5), save PNGs + manifest, classify
  /usr/bin/python3 models/shapes-ldm/recipe/eval.py sample --out /tmp/shapes-eval
  #     ... or the PyTorch checkpoints the export was made from
  /usr/bin/python3 models/shapes-ldm/recipe/eval.py sample --torch --out /tmp/shapes-eval-torch
  # (b) classify a folder of PNGs described by a manifest
  #     [{"file": "000.png", "prompt": ..., "color": ..., "shape": ..., "background": ...}, ...]
  /usr/bin/python3 models/shapes-ldm/recipe/eval.py classify /path/to/manifest.json
  # regenerate recipe/eval_prompts.json (deterministic)
  /usr/bin/python3 models/shapes-ldm/recipe/eval.py prompts

Classification uses the dataset's own renderer and palette:
  background = palette colour nearest to the median of the border pixels;
  colour     = palette colour nearest to the median of pixels far from the background;
  shape      = shape whose rendered template (over a grid of sizes/positions)
               has the best IoU with the foreground mask.
"""
import argparse
import json
import os
import random
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset as D  # noqa: E402

PROMPTS_FILE = os.path.join(HERE, "eval_prompts.json")


# ----------------------------------------------------------------------------- eval prompts
def make_eval_prompts():
    """96 prompts none of which occurs verbatim in training:
    48 = 16 held-out (colour, shape, background) combos x 3 held-out templates,
    48 = random training combos x a held-out template."""
    rng = random.Random(4321)
    out = []
    for i, (c, s, b) in enumerate(D.HELDOUT_COMBOS):
        for j in range(3):
            t = D.HELDOUT_TEMPLATES[(i + j) % len(D.HELDOUT_TEMPLATES)]
            out.append({"prompt": D.prompt(t, c, s, b), "color": c, "shape": s, "background": b, "split": "heldout_combo",
                        "template": t})
    combos = rng.sample(D.TRAIN_COMBOS, 48)
    for i, (c, s, b) in enumerate(combos):
        t = D.HELDOUT_TEMPLATES[i % len(D.HELDOUT_TEMPLATES)]
        out.append({"prompt": D.prompt(t, c, s, b), "color": c, "shape": s, "background": b, "split": "heldout_template",
                    "template": t})
    train_prompts = {D.prompt(t, *cmb) for t in D.TRAIN_TEMPLATES for cmb in D.TRAIN_COMBOS}
    for k, e in enumerate(out):
        assert e["prompt"] not in train_prompts
        e["seed"] = 1000 + k
    return out


# ----------------------------------------------------------------------------- classifier
class Classifier:
    def __init__(self, step=2):
        masks, names = [], []
        for r in range(D.SIZE_MIN, D.SIZE_MAX + 1, 2):
            centres = np.arange(r + D.MARGIN, D.IMG - r - D.MARGIN + 1e-6, step)
            for s in D.SHAPES:
                for cx in centres:
                    for cy in centres:
                        masks.append(D.render_mask(s, cx, cy, r).ravel())
                        names.append(s)
        self.templates = np.stack(masks)                    # [T, 4096]
        self.tsum = self.templates.sum(1)
        self.names = np.array(names)
        self.fg_rgb = np.array([D.COLORS[c] for c in D.FG_COLORS], np.float32)
        self.bg_rgb = np.array([D.COLORS[c] for c in D.BG_COLORS], np.float32)

    def __call__(self, img):
        """img uint8 [64,64,3] -> dict(color, shape, background)."""
        if img.shape[:2] != (D.IMG, D.IMG):
            img = np.asarray(Image.fromarray(img).resize((D.IMG, D.IMG), Image.BILINEAR))
        px = img[..., :3].astype(np.float32)
        border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
        bgc = np.median(border, 0)
        bg = D.BG_COLORS[int(np.argmin(((self.bg_rgb - bgc) ** 2).sum(1)))]
        dist = np.sqrt(((px - bgc) ** 2).sum(-1))
        if (dist > 60.0).sum() < 8:  # palette colours are >= ~100 apart
            return {"color": None, "shape": None, "background": bg}
        core = dist >= max(60.0, 0.6 * dist.max())        # skip anti-aliased edge pixels
        fgc = np.median(px[core], 0)
        color = D.FG_COLORS[int(np.argmin(((self.fg_rgb - fgc) ** 2).sum(1)))]
        # foreground = pixels more than half-way from the background to the
        # foreground colour, i.e. >= 50% coverage, matching the template's 0.5 level
        m = (dist > 0.5 * np.sqrt(((fgc - bgc) ** 2).sum())).ravel().astype(np.float32)
        inter = self.templates @ m
        iou = inter / (self.tsum + m.sum() - inter)
        return {"color": color, "shape": str(self.names[int(np.argmax(iou))]), "background": bg,
                "iou": float(iou.max())}


def score(entries, preds):
    keys = ["color", "background", "shape"]
    res = {}
    groups = ["all"] + sorted({e.get("split", "all") for e in entries} - {"all"})
    groups += [t for t in dict.fromkeys(e.get("template") for e in entries) if t]
    for split in groups:
        sel = [(e, p) for e, p in zip(entries, preds)
               if split == "all" or e.get("split") == split or e.get("template") == split]
        res[split] = {k: float(np.mean([p[k] == e[k] for e, p in sel])) for k in keys}
        res[split]["all3"] = float(np.mean([all(p[k] == e[k] for k in keys) for e, p in sel]))
        res[split]["n"] = len(sel)
    return res


def print_table(res):
    print(f"{'split / template':<44}{'n':>4}{'colour':>9}{'backgr.':>9}{'shape':>9}{'all 3':>9}")
    for split, r in res.items():
        print(f"{split:<44}{r['n']:>4}{r['color']:>9.1%}{r['background']:>9.1%}{r['shape']:>9.1%}{r['all3']:>9.1%}")


def classify_manifest(path):
    with open(path) as f:
        entries = json.load(f)
    clf = Classifier()
    base = os.path.dirname(os.path.abspath(path))
    preds = [clf(np.asarray(Image.open(os.path.join(base, e["file"])).convert("RGB"))) for e in entries]
    return entries, preds


# ----------------------------------------------------------------------------- PyTorch sampler
def ddim_timesteps(steps, n_train=1000, offset=1):
    """diffusers DDIMScheduler, timestep_spacing="leading", steps_offset=1."""
    ratio = n_train // steps
    return (np.arange(0, steps) * ratio).round()[::-1].astype(np.int64) + offset, ratio


class TorchModels:
    """The PyTorch modules from the training checkpoints (EMA weights unless raw)."""

    def __init__(self, ckdir, raw=False):
        import torch
        import model as M
        from tokenizer import build_tokenizer
        M.FAST_MATMUL = False  # inference path identical to the ONNX graph
        self.tok = build_tokenizer()
        ck = torch.load(os.path.join(ckdir, "diffusion.pt"))
        self.te, self.unet, self.dec = M.TextEncoder(ck["vocab_size"]).eval(), M.UNet().eval(), M.Decoder().eval()
        self.te.load_state_dict(ck["te_raw" if raw else "te"])
        self.unet.load_state_dict(ck["unet_raw" if raw else "unet"])
        self.dec.load_state_dict(torch.load(os.path.join(ckdir, "ae.pt"))["dec"])
        self.scaling_factor = torch.load(os.path.join(ckdir, "scaling.pt"))["scaling_factor"]
        self.name = f"PyTorch checkpoints ({'raw' if raw else 'EMA'} weights)"

    def text(self, ids):
        return self.te(ids)[0]

    def eps(self, z, t, ctx):
        return self.unet(z, t, ctx)

    def decode(self, z):
        return self.dec(z)


class OnnxModels:
    """The exported model folder itself: tokenizer files, configs and the three
    ONNX graphs, run by onnx_check's interpreter (onnxruntime is not packaged
    for Debian).  This is what the evaluation reports: what ships."""

    def __init__(self, folder):
        import torch
        from onnx_check import OnnxGraph
        from tokenizer import CLIPTokenizer
        self.torch = torch
        self.tok = CLIPTokenizer.load(os.path.join(folder, "tokenizer"))
        self.te = OnnxGraph(os.path.join(folder, "text_encoder", "model.onnx"))
        self.unet = OnnxGraph(os.path.join(folder, "unet", "model.onnx"))
        self.dec = OnnxGraph(os.path.join(folder, "vae_decoder", "model.onnx"))
        with open(os.path.join(folder, "vae_decoder", "config.json")) as f:
            self.scaling_factor = json.load(f)["scaling_factor"]
        self.name = f"exported ONNX graphs in {os.path.relpath(folder)}"

    def text(self, ids):
        return self.torch.from_numpy(self.te({"input_ids": ids.numpy()})[0])

    def eps(self, z, t, ctx):
        # the export takes one float32 scalar timestep for the whole batch
        assert bool((t == t[0]).all()), "one timestep per call"
        timestep = np.array(float(t[0]), dtype=np.float32)
        return self.torch.from_numpy(self.unet({"sample": z.numpy(), "timestep": timestep, "encoder_hidden_states": ctx.numpy()})[0])

    def decode(self, z):
        return self.torch.from_numpy(self.dec({"latent_sample": z.numpy()})[0])


def sample(models, prompts, seeds, steps=25, cfg=5.0, batch=48):
    """DDIM (diffusers' DDIMScheduler with our scheduler config), classifier-free guidance, VAE decode."""
    import torch
    import model as M
    ac = M.scaled_linear_alphas_cumprod()
    ts, ratio = ddim_timesteps(steps)
    tok = models.tok
    out = []
    with torch.no_grad():
        for i in range(0, len(prompts), batch):
            ps, ss = prompts[i:i + batch], seeds[i:i + batch]
            n = len(ps)
            cond = models.text(torch.tensor([tok(p) for p in ps], dtype=torch.int64))
            unc = models.text(torch.tensor([tok("")], dtype=torch.int64)).expand(n, -1, -1)
            ctx = torch.cat([unc, cond]).contiguous()
            lat = torch.cat([torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(s)) for s in ss])
            for t in ts:
                e = models.eps(torch.cat([lat, lat]), torch.full((2 * n,), int(t), dtype=torch.int64), ctx)
                eu, ec = e.chunk(2)
                e = eu + cfg * (ec - eu)
                prev = t - ratio
                a_t = ac[t]
                a_p = ac[prev] if prev >= 0 else ac[0]  # set_alpha_to_one=False
                x0 = (lat - (1 - a_t).sqrt() * e) / a_t.sqrt()
                lat = a_p.sqrt() * x0 + (1 - a_p).sqrt() * e
            img = models.decode(lat / models.scaling_factor).clamp(-1, 1)
            out += list(((img.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().astype(np.uint8))
    return out


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("sample")
    a.add_argument("--model", default=os.path.dirname(HERE), help="the exported model folder to sample (the default)")
    a.add_argument("--torch", action="store_true", help="sample the PyTorch checkpoints in --ckdir instead")
    a.add_argument("--ckdir", default=os.path.join(HERE, "checkpoints"))
    a.add_argument("--out", default="/tmp/shapes-eval")
    a.add_argument("--steps", type=int, default=25)
    a.add_argument("--cfg", type=float, default=5.0)
    a.add_argument("--raw", action="store_true", help="use raw instead of EMA weights")
    a.add_argument("--limit", type=int, default=0)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--results", default="", help="also write the accuracy JSON here")
    b = sub.add_parser("classify")
    b.add_argument("manifest")
    sub.add_parser("prompts")
    args = ap.parse_args()

    if args.cmd == "prompts":
        with open(PROMPTS_FILE, "w") as f:
            json.dump(make_eval_prompts(), f, indent=1)
            f.write("\n")
        print("wrote", PROMPTS_FILE)
        return
    if args.cmd == "classify":
        entries, preds = classify_manifest(args.manifest)
        print_table(score(entries, preds))
        return

    import torch
    torch.set_num_threads(args.threads)
    with open(PROMPTS_FILE) as f:
        entries = json.load(f)
    if args.limit:
        entries = entries[:args.limit]
    models = TorchModels(args.ckdir, args.raw) if args.torch or args.raw else OnnxModels(args.model)
    print(f"sampling {len(entries)} prompts from the {models.name}", flush=True)
    imgs = sample(models, [e["prompt"] for e in entries], [e["seed"] for e in entries], args.steps, args.cfg)
    os.makedirs(args.out, exist_ok=True)
    manifest = []
    for k, (e, im) in enumerate(zip(entries, imgs)):
        fn = f"{k:03d}.png"
        Image.fromarray(im).save(os.path.join(args.out, fn))
        manifest.append({"file": fn, **{x: e[x] for x in ("prompt", "color", "shape", "background", "split", "template", "seed")}})
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    # contact sheet for a quick look
    cols = 12
    rows = (len(imgs) + cols - 1) // cols
    sheet = np.zeros((rows * 64, cols * 64, 3), np.uint8)
    for k, im in enumerate(imgs):
        sheet[(k // cols) * 64:(k // cols + 1) * 64, (k % cols) * 64:(k % cols + 1) * 64] = im
    Image.fromarray(sheet).save(os.path.join(args.out, "sheet.png"))
    entries2, preds = classify_manifest(os.path.join(args.out, "manifest.json"))
    res = score(entries2, preds)
    print_table(res)
    if args.results:
        with open(args.results, "w") as f:
            json.dump({"sampler": f"DDIM {args.steps} steps, CFG {args.cfg}", "models": models.name, "results": res}, f, indent=1)
    with open(os.path.join(args.out, "predictions.json"), "w") as f:
        json.dump([{**e, "pred": p} for e, p in zip(entries2, preds)], f, indent=1)


if __name__ == "__main__":
    main()
