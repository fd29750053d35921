"""The trainer's cell, loss and step in PyTorch autograd (for ``python -m trainer bench`` only).

Same computation as trainer/cell.py + train.py, float64, one model:
  a_t   = W_x x_t + b + W_h h_{t-1}        rows [0, H) gate, [H, 2H) candidate
  gate  = sigmoid(a_f), cand = tanh(a_g), lam = exp(-DT / exp(log_tau))
  h_t   = lam h_{t-1} + gate (cand - lam h_{t-1}),   y_t = w_o . h_t + b_o
  L     = mean_{t,b} (y - target)^2
then backward(), global-norm clip 1.0 (torch.nn.utils.clip_grad_norm_) and torch.optim.Adam
(0.9, 0.999, eps 1e-8: the same update as train.Adam). Student: W_eff = s * trits with
trits = ternarize(V / s) held fixed and the identity STE for V (the coupled scheme:
dL/ds = sum_c dL/dW_eff * trit, dL/dV = dL/dW_eff), s clamped to S_MIN after the step.
torch is passed in (imported by trainer/experiments/bench.py where installed); this module never imports it.
"""
from __future__ import annotations

import numpy as np

from cfcbase.cell import DT

from ..model.quant import S_MIN


class TorchStep:
    def __init__(self, torch, prob, lr=1e-2, clip=1.0):
        self.torch, self.H, self.student, self.clip = torch, prob.H, prob.student, clip
        f = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
        self.x = f(prob.xT)                                 # [T, B, I]
        self.target = f(prob.yT)                            # [T, B]
        p = prob.p0
        names = (["V", "s"] if p.student else ["W"]) + ["b", "log_tau", "w_o", "b_o"]
        self.p = {k: f(getattr(p, k)[0]).requires_grad_(True) for k in names}
        self.opt = torch.optim.Adam(list(self.p.values()), lr=lr, betas=(0.9, 0.999), eps=1e-8)

    def _W(self):
        p = self.p
        if not self.student:
            return p["W"]
        V, s = p["V"], p["s"]
        with self.torch.no_grad():
            u = V / s[:, None]
            trits = self.torch.sign(u) * (u.abs() > 0.5).to(u.dtype)
        return s[:, None] * trits + (V - V.detach())        # identity STE for V

    def forward_loss(self):
        torch, p, H = self.torch, self.p, self.H
        W = self._W()
        I = self.x.shape[-1]
        xa = self.x @ W[:, :I].T + p["b"]                   # [T, B, 2H]
        WhT = W[:, I:].T                                     # [H, 2H]
        lam = torch.exp(-DT / torch.exp(p["log_tau"]))
        h = self.x.new_zeros(self.x.shape[1], H)
        hs = []
        for t in range(self.x.shape[0]):
            a = xa[t] + h @ WhT
            gate = torch.sigmoid(a[:, :H])
            cand = torch.tanh(a[:, H:])
            lh = lam * h
            h = lh + gate * (cand - lh)
            hs.append(h)
        y = torch.stack(hs) @ p["w_o"] + p["b_o"]           # [T, B]
        e = y - self.target
        return (e * e).mean()

    def loss(self):
        with self.torch.no_grad():
            return float(self.forward_loss())

    def grads(self):
        """The unclipped gradient at the current parameters, flat, in trainer Params order (numpy)."""
        for v in self.p.values():
            v.grad = None
        self.forward_loss().backward()
        return np.concatenate([v.grad.detach().numpy().ravel() for v in self.p.values()])

    def step(self):
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        L = self.forward_loss()
        L.backward()
        torch.nn.utils.clip_grad_norm_(list(self.p.values()), self.clip)
        self.opt.step()
        if self.student:
            with torch.no_grad():
                self.p["s"].clamp_(min=S_MIN)
        return L
