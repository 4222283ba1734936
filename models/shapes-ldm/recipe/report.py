"""Render the loss curve (recipe/loss.csv) as a small dependency-free SVG for the README.

  /usr/bin/python3 models/shapes-ldm/recipe/report.py
"""
import csv
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rows = list(csv.DictReader(open(os.path.join(HERE, "loss.csv"))))
    panels = [("ae", "autoencoder reconstruction (L1+L2)"), ("text", "text encoder role loss (warm-up)"),
              ("diffusion", "diffusion epsilon MSE")]
    W, H, pad = 300 * len(panels), 260, 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
             f'<rect width="{W}" height="{H}" fill="white"/>']
    for k, (stage, title) in enumerate(panels):
        x0 = k * W // len(panels)
        pts = [(int(r["step"]), float(r["loss"])) for r in rows if r["stage"] == stage]
        if not pts:
            continue
        pw, ph = W // len(panels) - pad - 10, H - 2 * pad
        smax = max(s for s, _ in pts)
        lmin, lmax = min(math.log10(l) for _, l in pts), max(math.log10(l) for _, l in pts)
        lmin, lmax = math.floor(lmin * 2) / 2, math.ceil(lmax * 2) / 2
        fx = lambda s: x0 + pad + pw * s / smax
        fy = lambda l: pad + ph * (lmax - math.log10(l)) / (lmax - lmin)
        parts.append(f'<text x="{x0 + pad}" y="{pad - 12}">{title}</text>')
        parts.append(f'<rect x="{x0 + pad}" y="{pad}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        e = lmin
        while e <= lmax + 1e-9:
            y = fy(10 ** e)
            parts.append(f'<line x1="{x0 + pad}" x2="{x0 + pad + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{x0 + 2}" y="{y + 4:.1f}">{10 ** e:.3g}</text>')
            e += 0.5
        parts.append(f'<text x="{x0 + pad}" y="{H - pad + 14}">0</text><text x="{x0 + pad + pw - 30}" y="{H - pad + 14}">{smax} steps</text>')
        d = " ".join(f"{'M' if i == 0 else 'L'}{fx(s):.1f},{fy(l):.1f}" for i, (s, l) in enumerate(pts))
        parts.append(f'<path d="{d}" fill="none" stroke="#2563eb" stroke-width="1.5"/>')
    parts.append("</svg>")
    out = os.path.join(os.path.dirname(HERE), "loss_curve.svg")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")
    print("wrote", out)
    for stage, _ in panels:
        pts = [r for r in rows if r["stage"] == stage]
        if pts:
            sel = [pts[i] for i in sorted({int(k * (len(pts) - 1) / 8) for k in range(9)})]
            print(f"\n{stage}: | step | minutes | loss |")
            for r in sel:
                print(f"| {r['step']} | {float(r['seconds']) / 60:.1f} | {float(r['loss']):.4f} |")


if __name__ == "__main__":
    main()
