"""The classifier network: a small VGG-like CNN, trained from scratch (no downloaded weights)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _block(cin: int, cout: int, convs: int) -> nn.Sequential:
    layers = _conv(cin, cout)
    for _ in range(convs - 1):
        layers += _conv(cout, cout)
    return nn.Sequential(*layers)


class StyleClassifier(nn.Module):
    """Images in [-1, 1] → logits over ``num_classes`` styles.

    Four conv blocks, each halving the resolution (one conv at full resolution, where convolutions
    cost most, two below), then the mean and standard deviation of the last features over the image:
    style lives in texture and colour statistics more than in layout.
    """

    def __init__(self, num_classes: int, width: int = 16, dropout: float = 0.3):
        super().__init__()
        self.num_classes, self.width = num_classes, width
        chans = [width, width * 2, width * 4, width * 8]
        blocks, cin = [], 3
        for i, c in enumerate(chans):
            blocks.append(_block(cin, c, 1 if i == 0 else 2))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * chans[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < len(self.blocks) - 1:
                x = F.max_pool2d(x, 2)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.flatten(2).std(dim=2)], dim=1)
        return self.fc(self.dropout(pooled))


def to_input(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Float 0..255 NCHW images of any size → the classifier's [-1, 1] input at ``height``×``width``.

    Another aspect is centre-cropped to the classifier's; smaller images are upsampled bilinearly,
    larger ones area-downsampled (as the corpus images it learned from were).
    """
    rows, cols = images.shape[2:]
    crop_h, crop_w = (rows, round(rows * width / height)) if rows * width <= cols * height else (round(cols * height / width), cols)
    top, left = (rows - crop_h) // 2, (cols - crop_w) // 2
    x = images[:, :, top : top + crop_h, left : left + crop_w].float()
    if (crop_h, crop_w) != (height, width):
        mode = "area" if crop_h >= height and crop_w >= width else "bilinear"
        x = F.interpolate(x, size=(height, width), mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    return x / 127.5 - 1.0
