"""A loss that goes wrong on purpose (NaN from its fourth step on): a test of divergence handling,
and of a new loss being one file plus its registration."""

from __future__ import annotations

from belamy.gan.losses import register_loss
from belamy.gan.losses.dcgan import NonSaturatingLoss


@register_loss
class NaNAfterThree(NonSaturatingLoss):
    name = "nan-after-3"
    summary = "non-saturating until step 3, NaN after"

    def accumulate_gradients(self, phase, batch, stats):
        if phase == "Dmain" and batch.step >= 3:
            loss = self.D(batch.real).mean() * float("nan")
            loss.backward()
            stats.add("loss_D", loss)
            return
        super().accumulate_gradients(phase, batch, stats)
