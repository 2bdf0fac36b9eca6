"""The student: art-DCGAN's generator, narrow, at the teacher's latent size (and labels, if it has them).

A plain stack of transposed convolutions with no mapping network, modulation or noise: the cheapest
kind of generator per pixel, which is what a live 24 fps show on a CPU needs.
"""

from __future__ import annotations

from belamy.distill.teacher import Teacher
from belamy.errors import BelamyError
from belamy.models.dcgan import DCGANConfig, DCGANGenerator, check_resolution

MIN_RES = 16
MAX_WIDTH = 8192


def student_config(teacher: Teacher, res: int | None, ngf: int) -> DCGANConfig:
    """A DCGAN config that takes the teacher's inputs (z, label) and draws at ``res`` (default: the teacher's)."""
    res = res or teacher.res
    if res > teacher.res:
        raise BelamyError(f"--res {res} is larger than the teacher's {teacher.res}",
                          f"use {teacher.res} or a lower power of two (and `belamy upscale` for larger prints)")
    check_resolution(res, low=MIN_RES, high=teacher.res)
    cfg = DCGANConfig(res=res, nz=teacher.z_dim, ngf=ngf, ndf=ngf, num_classes=teacher.num_classes,
                      label_names=tuple(teacher.label_names), aspect=teacher.aspect)
    width = cfg.ngf * 2 ** (cfg.doublings - 1)  # channels of the first, 4×4 layer
    if width > MAX_WIDTH:
        raise BelamyError(f"--ngf {ngf} at {res}² makes a {width}-channel first layer", "use a smaller --ngf, e.g. 16")
    return cfg


def make_student(cfg: DCGANConfig) -> DCGANGenerator:
    return DCGANGenerator(cfg)
