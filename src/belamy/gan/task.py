"""GAN training as a task of the run loop: any registered architecture, any loss that trains it.

Per step: a real batch, latents (and classes for a class-conditional G) from the run's one random
stream, then the loss's phases in order (see :mod:`belamy.gan.losses.base`), then the G_ema
average and ADA's probability. The sample grid draws fixed latents (seeds 0..N-1, the faces
``belamy generate --seed 0`` draws); SWD against the corpus every ``metric_kimg`` keeps the best
checkpoint. Under torchrun each rank trains on its shard; gradients are averaged per phase.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from belamy.corpus.store import open_corpus
from belamy.errors import BelamyError
from belamy.gan.augment import AdaptiveAugment, make_augment
from belamy.gan.losses import GANLoss, StepBatch, get_loss
from belamy.gan.options import TrainOptions
from belamy.gan.registry import register_task
from belamy.gan.transfer import init_model_config, load_init, read_init
from belamy.models.contract import check_generator, image_shape
from belamy.models.latents import latents_for_seeds
from belamy.models.registry import canonical_name, get_architecture
from belamy.provenance.embed import save_png
from belamy.trainer import checkpoint as ck
from belamy.trainer import distributed as dd
from belamy.trainer.data import RealBatches, corpus_labels, fit_shape
from belamy.trainer.ema import ema_beta, make_ema, update_ema
from belamy.trainer.paths import RunPaths
from belamy.trainer.schedule import ScheduleOptions, halve_learning_rates
from belamy.trainer.stats import StatsCollector
from belamy.trainer.task import Task, start_ranks
from belamy.utils.device import autocast_context, resolve_precision
from belamy.utils.grid import make_grid, to_uint8
from belamy.utils.progress import console


def model_config(options: TrainOptions, arch, label_names: list[str], **more):
    """A new run's model config: the common widths and every declared option of the run, by name."""
    return arch.make_config(
        res=options.res, nz=options.nz, ngf=options.ngf, ndf=options.ndf, label_names=label_names,
        aspect=options.aspect, conv_clamp=256.0 if options.precision == "fp16" else None, **options.settings, **more,
    )


def adam(params, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    # Fused Adam: one kernel over all parameters instead of a Python loop of small ops.
    return torch.optim.Adam(params, lr=float(lr), betas=(float(betas[0]), float(betas[1])), fused=True)


def run_phases(loss: GANLoss, nets: dict[str, nn.Module], opts: dict[str, torch.optim.Optimizer], batch: StepBatch,
               stats: StatsCollector, autocast: torch.dtype | None, info: dd.DistInfo = dd.DistInfo()) -> None:
    """One iteration: the loss's phases in order, each followed by its network's optimizer step."""
    device = batch.real.device
    for phase in loss.phases:
        if phase.interval > 1 and batch.step % phase.interval:
            continue
        module = nets[phase.trains]
        module.requires_grad_(True)
        if phase.freeze_others:  # their weight gradients would be thrown away: never compute them
            for name, other in nets.items():
                if name != phase.trains:
                    other.requires_grad_(False)
        opt = opts[phase.trains]
        opt.zero_grad(set_to_none=True)
        with autocast_context(device, None if phase.full_precision else autocast):
            loss.accumulate_gradients(phase.name, batch, stats)
        dd.average_gradients(info, module)
        opt.step()
    for module in nets.values():
        module.requires_grad_(True)


class GANTask(Task):
    run_format = "belamy-run"
    command = "belamy train"
    best_metric = ("swd", "min")
    declares = (ScheduleOptions,)  # the options it reads beyond its architecture's and its loss's

    def __init__(self, options: TrainOptions, info: dd.DistInfo):
        self.options, self.info = options, info
        self.paths = RunPaths(Path(options.out))
        self.arch = get_architecture(options.arch)
        corpus = open_corpus(options.corpus)
        self.corpus_count = len(corpus)
        if options.aspect is None:  # the model takes the corpus's shape (or, with --init, the source model's)
            options.aspect = read_init(options.init)[1]["model"].get("aspect", "1:1") if options.init else corpus.aspect
        loss_cls = get_loss(options.loss)
        self.label_names, label_index = [], None
        if options.settings.get("labels"):
            hint = f"--loss {loss_cls.name} needs two classes or more: choose a field that varies" if loss_cls.needs_labels else None
            self.label_names, label_index = corpus_labels(corpus.manifest, options.settings["labels"], hint)
        loss_cls.check(options, self.label_names)
        # Class-conditional networks, unless the loss uses the classes otherwise (e.g. CAN's style head).
        self.model_labels = self.label_names if loss_cls.conditions_model else []
        self.cfg = self._model_config(options)
        height, width = image_shape(self.cfg)
        self.images = fit_shape(corpus.images, height, width)
        self.device = start_ranks(info, options.device, options.batch, self.paths.root)

        torch.manual_seed(options.seed)
        memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
        self.G = self.arch.make_generator(self.cfg).to(self.device, memory_format=memory_format)
        self.D = self.arch.make_discriminator(self.cfg).to(self.device, memory_format=memory_format)
        check_generator(self.G, self.arch.name)
        self.G_ema = make_ema(self.G) if options.settings.get("ema_kimg") else None
        for module in self._nets_and_average():
            dd.broadcast_module(info, module)
        augment = make_augment(options.augment or "none", options.ada_target, options.ada_kimg, options.augment_p)
        self.augment = augment.to(self.device) if augment is not None else None
        self.loss = loss_cls(self.G, self.D, options, self.augment, label_names=self.label_names)
        self.extra = self.loss.extra_modules()
        for module, _ in self.extra.values():
            dd.broadcast_module(info, module)
        # What each phase trains: G or D with the loss's own networks it owns (e.g. CAN's style head with
        # D), so they are frozen with it and their gradients averaged over ranks with it.
        self.trained = {owner: net if not self._owned(owner) else nn.ModuleList([net, *self._owned(owner)])
                        for owner, net in (("G", self.G), ("D", self.D))}
        betas = (options.beta1, options.beta2)
        settings = {net: self.loss.optimizer_settings(net, options.lr, betas) for net in ("G", "D")}
        self.opt_G = adam(self._params("G"), *settings["G"])
        self.opt_D = adam(self._params("D"), *settings["D"])
        self.start_rates = [(self.opt_G, settings["G"][0]), (self.opt_D, settings["D"][0])]
        self.autocast = resolve_precision(options.precision, self.device)
        if options.compile:
            if self.device.type == "cpu":
                console.print("--compile on a CPU: the first steps will be slow while it compiles")
            # In place, so parameter names (and checkpoints) do not change.
            getattr(self.G, "synthesis", self.G).compile()
            self.D.compile()
        self.label_pool = (torch.from_numpy(label_index).to(self.device)
                           if label_index is not None and self.model_labels else None)
        # Each rank draws its own latents and augmentations; rank 0's stream is the single-process one.
        rng_seed = options.seed if info.rank == 0 else options.seed + 1_000_003 * info.rank
        self.rng = torch.Generator(device=self.device).manual_seed(rng_seed)
        self.data = RealBatches(self.images, options.batch // info.world, options.seed, options.mirror, self.device,
                                options.channels_last, shard=(info.rank, info.world), labels=label_index)
        self.z_dim = self.G.z_dim
        self.grid_z = latents_for_seeds(range(options.grid_size), self.z_dim).to(self.device)
        self.grid_labels = ((torch.arange(options.grid_size, device=self.device) % len(self.model_labels))
                            if self.model_labels else None)
        self.next_metric: int | None = None
        self.metric_reals = None

    def _model_config(self, options: TrainOptions):
        """A resumed run rebuilds the networks its run.json describes (so a run keeps its layer variant);
        a new run with --init takes the source's config; any other new run is built from the options."""
        if options.resume:
            stored = self.paths.read_run_json().get("model")
            if isinstance(stored, dict):
                return self.arch.config_from_dict(stored)
        if options.init:
            return init_model_config(options, self.arch, self.model_labels, options.precision == "fp16")
        return model_config(options, self.arch, self.model_labels)

    def _nets_and_average(self) -> list[nn.Module]:
        return [self.G, self.D] + ([self.G_ema] if self.G_ema is not None else [])

    def _owned(self, owner: str) -> list[nn.Module]:
        return [module for module, who in self.extra.values() if who == owner]

    def _params(self, trains: str) -> list[nn.Parameter]:
        own = list((self.G if trains == "G" else self.D).parameters())
        return own + [p for module, owner in self.extra.values() if owner == trains for p in module.parameters()]

    # ------------------------------------------------------------------ what the run is

    def describe(self) -> str:
        height, width = image_shape(self.cfg)
        shape = f"{height}²" if height == width else f"{height}×{width}"
        ranks = f" × {self.info.world} processes" if self.info.enabled else ""
        line = f"training {self.options.arch} {shape} ({self.options.loss}) on {self.corpus_count} images, {self.device}{ranks}"
        if self.options.preset_record:
            from belamy.gan.presets import describe

            line = describe(self.options.preset_record, self.precision_note()) + "\n" + line
        return line

    def precision_note(self) -> str:
        """What --precision auto became here, and why."""
        if self.options.precision != "auto":
            return ""
        if self.autocast is None:
            why = "this CPU has no native bf16 (it would be emulated, slower than fp32)" \
                if self.device.type == "cpu" else "this GPU has no fast bf16"
            return f"; precision auto -> fp32: {why}"
        return f"; precision auto -> {'bf16' if self.autocast == torch.bfloat16 else 'fp16'}"

    def run_info(self) -> dict:
        return {"arch": self.options.arch, "model": self.cfg.to_dict(), "design": self.arch.design,
                "corpus": {"path": str(self.options.corpus), "count": self.corpus_count},
                "label_names": self.label_names, "world_size": self.info.world,
                **({"preset": self.options.preset_record} if self.options.preset_record else {})}

    def checkpoint_meta(self) -> dict:
        meta = {"arch": self.options.arch, "model": self.cfg.to_dict()}
        if self.label_names:
            meta["label_names"] = self.label_names
        if isinstance(self.augment, AdaptiveAugment):
            meta["augment_p"] = float(self.augment.p)
        return meta

    def resume_command(self) -> str:
        return f"belamy train {self.options.corpus} --out {self.paths.root} --resume"

    # ------------------------------------------------------------------ state

    def modules(self) -> dict[str, nn.Module]:
        nets = {"G": self.G, "D": self.D}
        if self.G_ema is not None:
            nets["G_ema"] = self.G_ema
        nets.update({name: module for name, (module, _) in self.extra.items()})
        return nets

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    def extra_tensors(self) -> dict[str, torch.Tensor]:
        return ck.module_tensors("augment", self.augment) if isinstance(self.augment, AdaptiveAugment) else {}

    def load_extra(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        if isinstance(self.augment, AdaptiveAugment) and any(k.startswith("augment.") for k in tensors):
            ck.load_module_tensors("augment", self.augment, tensors, source)

    def data_state(self) -> dict:
        return self.data.state()

    def restore_data(self, state: dict) -> None:
        self.data.restore(state)

    def check_checkpoint(self, meta: dict, name: str) -> None:
        if canonical_name(meta.get("arch")) != self.options.arch:
            raise BelamyError(f"checkpoint {name} is a {meta.get('arch')} model, not {self.options.arch}", "check --arch")

    def begin(self, nimg: int, resumed: bool) -> None:
        if not resumed and self.options.init:
            load_init(self.options.init, self.modules(), self.G)
        metric_nimg = round(self.options.metric_kimg * 1000)
        self.next_metric = (nimg // metric_nimg + 1) * metric_nimg if metric_nimg else None

    # ------------------------------------------------------------------ work

    def step(self, stats: StatsCollector, nimg: int) -> int:
        options, rng = self.options, self.rng
        halve_learning_rates(self.start_rates, nimg, options.settings.get("lr_half_life_kimg"))
        real = self.data.next(rng)
        n = real.shape[0]
        step = nimg // options.batch
        z = torch.randn(n, self.z_dim, generator=rng, device=self.device)
        gen_labels = None
        if self.label_pool is not None:
            # Fake classes follow the corpus's class frequencies, as StyleGAN2-ADA samples them.
            gen_labels = self.label_pool[torch.randint(len(self.label_pool), (n,), generator=rng, device=self.device)]
        batch = StepBatch(real, self.data.last_labels, z, gen_labels, rng, step)
        run_phases(self.loss, self.trained, {"G": self.opt_G, "D": self.opt_D}, batch, stats, self.autocast, self.info)
        if self.info.enabled:  # running averages in G (e.g. w_avg) moved by each rank's own latents
            dd.average_buffers(self.info, self.G)
        if self.G_ema is not None:
            update_ema(self.G_ema, self.G, ema_beta(options.batch, nimg + options.batch, options.settings["ema_kimg"],
                                                    options.settings.get("ema_rampup")))
        if isinstance(self.augment, AdaptiveAugment):
            self.augment.update(options.batch, step, reduce=dd.all_reduce_sum(self.info))
            stats.add("augment_p", self.augment.p)
        return options.batch

    def sync(self) -> None:
        """Before a snapshot: every rank takes the mean BatchNorm statistics (what rank 0 saves)."""
        for module in self.trained.values():
            dd.average_buffers(self.info, module)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        net = self.G_ema if self.G_ema is not None else self.G
        was_training = net.training
        net.eval()
        try:
            return net.synthesize(z, labels)
        finally:
            net.train(was_training)

    def snapshot(self, nimg: int) -> dict:
        pictures = to_uint8(self.sample(self.grid_z, self.grid_labels))
        save_png(make_grid(pictures), self.paths.grid(nimg),
                 {"run": str(self.paths.root), "kimg": nimg / 1000, "seeds": f"0-{self.options.grid_size - 1}"})
        return {}

    def evaluate(self, nimg: int, done: bool, means: dict) -> dict:
        if self.next_metric is None or not (nimg >= self.next_metric or done):
            return {}
        metric_nimg = round(self.options.metric_kimg * 1000)
        self.next_metric = (nimg // metric_nimg + 1) * metric_nimg
        return self.measure_swd()

    def measure_swd(self) -> dict:
        """SWD of G_ema (G without one) against a fixed sample of the corpus."""
        from belamy.metrics.swd import images_to_uint8_nchw, swd

        n = min(self.options.metric_n, len(self.images))
        if self.metric_reals is None:
            pick = torch.randperm(len(self.images), generator=torch.Generator().manual_seed(12345))[:n].sort().values.numpy()
            self.metric_reals = self.images[pick]
        fakes = []
        seeds = list(range(1_000_000, 1_000_000 + n))
        for start in range(0, n, 64):
            z = latents_for_seeds(seeds[start : start + 64], self.z_dim).to(self.device)
            labels = (torch.arange(start, start + len(z), device=self.device) % len(self.model_labels)
                      if self.model_labels else None)
            fakes.append(images_to_uint8_nchw(self.sample(z, labels)))
        return {k: round(v, 4) for k, v in swd(self.metric_reals, torch.cat(fakes)).items()}

    def log_fields(self, means: dict[str, float], record: dict) -> str:
        text = (f"loss_G {means.get('loss_G', 0):6.3f}  loss_D {means.get('loss_D', 0):6.3f}  "
                f"D(x) {means.get('D_real', 0):.2f}  D(G(z)) {means.get('D_fake', 0):.2f}")
        if "augment_p" in means:
            text += f"  p {means['augment_p']:.3f}"
        if "style_acc_real" in means:  # a loss with a style head (CAN): how well D names styles, how unsure on G's
            text += f"  style acc {means['style_acc_real']:.2f}  G ambiguity {means.get('style_ambiguity_G', 0):.2f}"
        if "swd" in record:
            text += f"  SWD {record['swd']:.2f}"
        return text

    def progress_text(self, means: dict[str, float]) -> str:
        return f"G {means.get('loss_G', 0):6.3f} D {means.get('loss_D', 0):6.3f}"


register_task("gan", GANTask)

