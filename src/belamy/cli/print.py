"""`belamy sign`, `upscale` and `print`: from a chosen picture to a signed, framed print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from belamy.cli.app import app
from belamy.cli.options import Device

CORNER_HELP = "Where the signature goes: bottom-right, bottom-left, top-right or top-left."


STYLE_HELP = "script: hand-lettered (Dancing Script), as on the Belamy canvas; typeset: Computer Modern, as in the paper."


@app.command("sign")
def sign_cmd(
    image: Annotated[Path, typer.Argument(help="The image to sign (PNG, JPEG, TIFF; any colour mode).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the signed image: .png, .jpg or .tif.")],
    corner: Annotated[str, typer.Option(help=CORNER_HELP)] = "bottom-right",
    color: Annotated[str, typer.Option(help="auto (contrasting with the background there) or a colour: '#1a1a1a', 'gold'.")] = "auto",
    size: Annotated[float, typer.Option(help="Signature width as a fraction of the image width, in (0, 1].")] = 0.42,
    style: Annotated[str, typer.Option(help=STYLE_HELP)] = "script",
) -> None:
    """Sign an image with the GAN loss formula, rendered as real mathematics, like Edmond de Belamy."""
    from belamy.print.signature import sign_image

    sign_image(image, out, corner=corner, color=color, width_fraction=size, style=style)
    typer.echo(str(out))


MODEL_HELP = "An SR run made by `belamy sr train` (its latest checkpoint)."


WEIGHTS_HELP = "Third-party SR weights (.safetensors or .pth: ESRGAN, Real-ESRGAN, SwinIR...), loaded via spandrel."


METHOD_HELP = ("auto: the --model or --weights given, else Lanczos; painting: belamy's own painting-SR ×4 weights "
               "(shipped); lanczos: no network.")


@app.command("upscale")
def upscale_cmd(
    image: Annotated[Path, typer.Argument(help="The image to enlarge (any mode; alpha is enlarged separately).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write it: .png, .jpg or .tif.")],
    scale: Annotated[int, typer.Option(help="Enlargement: 2, 4 or 8.")] = 4,
    model: Annotated[Path | None, typer.Option(help=MODEL_HELP)] = None,
    weights: Annotated[Path | None, typer.Option(help=WEIGHTS_HELP)] = None,
    method: Annotated[str, typer.Option(help=METHOD_HELP)] = "auto",
    tile: Annotated[int, typer.Option(help="Tile side in input pixels: bounds memory, not the result.")] = 256,
    overlap: Annotated[int, typer.Option(help="Pixels neighbouring tiles share and blend over.")] = 16,
    device: Device = "auto",
) -> None:
    """Enlarge an image with a super-resolution network, tile by tile, or with Lanczos."""
    from belamy.upscale.upscaler import upscale_file

    upscale_file(image, out, scale=scale, model=model, weights=weights, method=method, tile=tile, overlap=overlap,
                 device=device)
    typer.echo(str(out))


FINISH_HELP = ("none: the enlarged picture as it is; brushwork: brush marks along its contours at the print's "
               "scale, so that up close it reads as paint (recorded in the provenance and on the wall label).")


@app.command("print")
def print_cmd(
    image: Annotated[Path, typer.Argument(help="The picture to print (a belamy PNG carries its provenance to the label).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The print file: .tif (lossless LZW, recommended) or .pdf.")],
    size: Annotated[str, typer.Option(help="Print size WIDTHxHEIGHT with a unit: 70x70cm, 500x700mm, 20x24in.")] = "70x70cm",
    dpi: Annotated[int, typer.Option(help="Print resolution in dots per inch (300 is usual).")] = 300,
    fit: Annotated[str, typer.Option(help="cover: crop to the print's proportions; contain: fit inside with white margins.")] = "cover",
    model: Annotated[Path | None, typer.Option(help=MODEL_HELP)] = None,
    weights: Annotated[Path | None, typer.Option(help=WEIGHTS_HELP)] = None,
    method: Annotated[str, typer.Option(help=METHOD_HELP)] = "auto",
    finish: Annotated[str, typer.Option(help=FINISH_HELP)] = "none",
    sign: Annotated[bool, typer.Option("--sign/--no-sign", help="Sign the print with the GAN formula.", metavar="")] = True,
    corner: Annotated[str, typer.Option(help=CORNER_HELP)] = "bottom-right",
    color: Annotated[str, typer.Option(help="Signature colour: auto or a colour such as '#1a1a1a'.")] = "auto",
    signature_size: Annotated[float, typer.Option(help="Signature width as a fraction of the print width.")] = 0.42,
    style: Annotated[str, typer.Option(help=STYLE_HELP)] = "script",
    title: Annotated[str | None, typer.Option(help="Title for the wall label (default: Untitled (seed N), from the picture's provenance).")] = None,
    artist: Annotated[str, typer.Option(help="Artist for the wall label.")] = "belamy",
    medium: Annotated[str, typer.Option(help="Medium for the wall label.")] = "Generative adversarial network; pigment print on canvas",
    date: Annotated[str | None, typer.Option(help="Date for the wall label (default: this year).")] = None,
    credit: Annotated[str | None, typer.Option(help="Extra credit text, added after the model, code and corpus credits.")] = None,
    mockup: Annotated[bool, typer.Option("--mockup/--no-mockup", help="Also write <stem>.mockup.png: the print framed on a wall.", metavar="")] = True,
    label: Annotated[bool, typer.Option("--label/--no-label", help="Also write <stem>.label.png: a museum wall label.", metavar="")] = True,
    tile: Annotated[int, typer.Option(help="SR tile side in input pixels: bounds memory, not the result.")] = 256,
    overlap: Annotated[int, typer.Option(help="Pixels neighbouring tiles share and blend over.")] = 16,
    device: Device = "auto",
) -> None:
    """Make a print file at an exact physical size: upscaled, signed, with ICC profile, mock-up and wall label."""
    from belamy.print.printfile import PrintOptions, make_print

    result = make_print(PrintOptions(
        image=image, out=out, size=size, dpi=dpi, fit=fit, model=model, weights=weights, method=method, finish=finish,
        device=device, tile=tile, overlap=overlap, sign=sign, corner=corner, color=color, signature_size=signature_size,
        signature_style=style, title=title,
        artist=artist, medium=medium, date=date, credit=credit, mockup=mockup, label=label,
    ))
    typer.echo(str(result.print_path))
