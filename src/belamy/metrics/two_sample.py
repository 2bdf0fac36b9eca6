"""A classifier two-sample test: can a small CNN, trained from scratch, tell generated pictures from paintings?

The network (belamy.metrics.features.conv_net) learns on one set of paintings against one set of
generated pictures, then is scored on *other* paintings (held out) against *fresh* generated
pictures: accuracy and the area under the ROC curve. 0.5 means it cannot tell them apart; 1.0 that
it always can. Everything random (weights, batches, flips) comes from ``seed``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from belamy.errors import BelamyError
from belamy.metrics.features import as_unit_nchw, conv_net, low_pass, seeded

BATCH = 32  # half paintings, half generated
EPOCHS = 8  # passes over the fit sets, within the step bounds below (small sets learn in few steps)
STEPS = (50, 200)


def auc(scores_real: np.ndarray, scores_fake: np.ndarray) -> float:
    """P(a generated picture scores above a painting), ties counting half (Mann-Whitney U / n·m)."""
    real, fake = torch.as_tensor(scores_real)[None, :], torch.as_tensor(scores_fake)[:, None]
    return float((fake > real).double().mean() + 0.5 * (fake == real).double().mean())


def two_sample_test(reals_fit, fakes_fit, reals_test, fakes_test, seed: int = 0, structure: bool = False,
                    steps: int | None = None) -> dict:
    """Train on (``reals_fit``, ``fakes_fit``), score on (``reals_test``, ``fakes_test``): {"accuracy", "auc"}.

    Images are uint8 NHWC arrays or float NCHW tensors in 0..255, all the same size. With
    ``structure`` the test sees them averaged down to 16² (layout and light, not texture). ``steps``
    of training: by default 8 passes over the fit sets, 50 to 200 steps.
    """
    sets = [as_unit_nchw(s) for s in (reals_fit, fakes_fit, reals_test, fakes_test)]
    if structure:
        sets = [low_pass(s) for s in sets]
    if min(len(s) for s in sets) < 2:
        raise BelamyError("the two-sample test needs at least 2 pictures in each set", "generate more images (--n)")
    if len({tuple(s.shape[1:]) for s in sets}) != 1:
        raise BelamyError("the two-sample test needs pictures of one size", "resize both sets to the same size")
    r_fit, f_fit, r_test, f_test = sets
    if steps is None:
        steps = int(np.clip(EPOCHS * (len(r_fit) + len(f_fit)) // BATCH, *STEPS))
    net = seeded(seed, lambda: conv_net(r_fit.shape[-1], outputs=1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.99))
    rng = np.random.default_rng(seed)
    half = BATCH // 2
    target = torch.cat([torch.zeros(half), torch.ones(half)])
    net.train()
    with torch.inference_mode(False), torch.enable_grad():
        for _ in range(steps):
            x = torch.cat([r_fit[rng.integers(len(r_fit), size=half)], f_fit[rng.integers(len(f_fit), size=half)]])
            flip = torch.from_numpy(rng.random(BATCH) < 0.5)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = F.binary_cross_entropy_with_logits(net(x)[:, 0], target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        s_real = torch.cat([net(b)[:, 0] for b in r_test.split(128)]).numpy()
        s_fake = torch.cat([net(b)[:, 0] for b in f_test.split(128)]).numpy()
    accuracy = ((s_real < 0).sum() + (s_fake > 0).sum()) / (len(s_real) + len(s_fake))
    return {"accuracy": float(accuracy), "auc": auc(s_real, s_fake)}
