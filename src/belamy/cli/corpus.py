"""`belamy corpus ...`: build, report, scrape, credit and pair training corpora."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from belamy.cli.app import FlagHelpGroup, app
from belamy.errors import BelamyError
from belamy.utils.progress import console

corpus_app = typer.Typer(cls=FlagHelpGroup, help="Build and inspect training corpora of paintings.", no_args_is_help=True)


app.add_typer(corpus_app, name="corpus")


class CropKind(StrEnum):
    center = "center"
    face = "face"
    none = "none"


@corpus_app.command("build")
def corpus_build(
    sources: Annotated[list[str], typer.Argument(
        help="Folders (or single files) of paintings to read, and/or Hugging Face datasets as hf:OWNER/NAME "
             "or hf:/path/to/saved/dataset.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the corpus to (rebuilt atomically if it holds one).")],
    size: Annotated[int, typer.Option(help="Side of the square training images, in pixels (≥ 8); with --aspect, the width of 4:5 and the height of 3:4 pictures.")] = 128,
    aspect: Annotated[str, typer.Option(help="Picture shape, width:height: 1:1, or portrait 4:5 (128×160 at --size 128) or 3:4 (96×128).")] = "1:1",
    min_size: Annotated[int, typer.Option(help="Reject images whose short side (after trimming) is below this.")] = 64,
    max_pixels: Annotated[
        int, typer.Option(help="Reject images with more pixels than this (decompression-bomb guard).")
    ] = 178_956_970,
    dedupe_distance: Annotated[
        int, typer.Option(help="Perceptual-hash Hamming distance at or below which two images are duplicates; "
                               "-1 merges only exact copies.")
    ] = 4,
    workers: Annotated[int, typer.Option(help="Decoding processes; 0 means one per core.")] = 0,
    crop: Annotated[CropKind, typer.Option(
        help="center: the largest centred crop of the --aspect; face: head-and-shoulders around each face found "
             "(centre crop when none); none: the whole picture, padded to the --aspect.")] = CropKind.center,
    face_scale: Annotated[float, typer.Option(help="With --crop face: the crop's width as a multiple of the face box.")] = 2.2,
    face_shift: Annotated[float, typer.Option(help="With --crop face: move the crop down by this fraction of the face box.")] = 0.25,
    trim: Annotated[bool, typer.Option(help="Trim black or white borders (letterbox bars, margins) before cropping.", metavar="")] = True,
    where: Annotated[list[str] | None, typer.Option(
        help="Keep only dataset rows whose column equals a value, e.g. --where genre=portrait (repeatable).")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after reading this many files or dataset rows.")] = None,
    folder_labels: Annotated[bool, typer.Option(
        help="Label each image with the sub-folder it lies in (e.g. wikiart-styles/<style>/), for class-conditional training.", metavar="")] = False,
) -> None:
    """Turn folders of paintings into a training corpus: cropped (square or portrait), cleaned, de-duplicated, with a manifest."""
    from belamy.corpus.build import build_corpus, parse_where

    report = build_corpus(
        sources, out, size=size, min_size=min_size, max_pixels=max_pixels,
        dedupe_distance=dedupe_distance, workers=workers, crop=crop.value, aspect=aspect, face_scale=face_scale,
        face_shift=face_shift, trim=trim, where=parse_where(where or []), limit=limit, folder_labels=folder_labels,
    )
    report.print_summary(console)
    typer.echo(str(out))


@corpus_app.command("report")
def corpus_report(
    corpus: Annotated[Path, typer.Argument(help="A corpus folder made by `belamy corpus build`.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for report.html and its pictures (default: CORPUS/report).")] = None,
) -> None:
    """Write one HTML page to judge a corpus by: contact sheet, histograms, duplicates, rejects, labels."""
    from belamy.corpus.report import write_report

    page = write_report(corpus, out)
    typer.echo(str(page))


scrape_app = typer.Typer(cls=FlagHelpGroup, help="Download paintings and their metadata from the web, politely and resumably.",
                         no_args_is_help=True)


corpus_app.add_typer(scrape_app, name="scrape")


@scrape_app.command("wikiart")
def corpus_scrape_wikiart(
    out: Annotated[Path, typer.Option("--out", "-o", help="RAW folder: images by artist, metadata.jsonl, scrape.sqlite.")],
    genre: Annotated[str | None, typer.Option(help="A WikiArt genre, as in its URL: portrait, landscape, ...")] = None,
    style: Annotated[str | None, typer.Option(help="A WikiArt style, as in its URL: baroque, impressionism, ...")] = None,
    artist: Annotated[str | None, typer.Option(help="A WikiArt artist, as in its URL: rembrandt, leonardo-da-vinci, ...")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop once RAW holds this many images from this listing (over all runs).")] = None,
    years: Annotated[str | None, typer.Option(help="Keep only works dated in this range, e.g. 1400-1900 (undated works are skipped).")] = None,
    rate: Annotated[float, typer.Option(help="Requests per second, all workers together.")] = 1.0,
    concurrency: Annotated[int, typer.Option(help="Downloads in flight at once.")] = 2,
    base_url: Annotated[str, typer.Option(help="Site to read (a mirror or a test server).")] = "https://www.wikiart.org",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a connection or a read.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Retries on 429 / 5xx / dropped connections, with backoff.")] = 5,
    max_backoff: Annotated[float, typer.Option(help="Longest wait between retries, in seconds (Retry-After is honoured).")] = 60.0,
    max_image_mb: Annotated[float, typer.Option(help="Refuse an image larger than this many MB (with or without Content-Length).")] = 100.0,
    download_timeout: Annotated[float, typer.Option(help="Give up on one download after this many seconds in all.")] = 600.0,
) -> None:
    """Download WikiArt originals of a genre, style or artist with their metadata (resumable; honours robots.txt)."""
    from belamy.corpus.scrape import scrape_wikiart

    try:
        report = scrape_wikiart(
            out, genre=genre, style=style, artist=artist, limit=limit, years=years, rate=rate,
            concurrency=concurrency, base_url=base_url, timeout=timeout, max_retries=retries, max_backoff=max_backoff,
            max_image_mb=max_image_mb, download_timeout=download_timeout,
        )
    except KeyboardInterrupt as exc:
        if getattr(exc, "scrape_report", None) is not None:
            exc.scrape_report.print_summary(console)
        console.print("interrupted: run the same command again to resume")
        raise
    report.print_summary(console)
    if report.listing_errors:  # the listing did not run to its end: not a success, whatever was fetched
        raise BelamyError(f"the listing stopped early: {report.listing_errors[0]}",
                          "what was downloaded is kept; run the same command again to resume")
    typer.echo(str(out))


@corpus_app.command("credits")
def corpus_credits(
    corpus: Annotated[Path, typer.Argument(help="A corpus folder (with manifest.jsonl).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the credits here: .md, .json or .csv.")] = None,
) -> None:
    """List the artists in a corpus with their works and public-domain status; writes CORPUS/credits.json."""
    from belamy.corpus.credits import credits_path, write_credits

    credits = write_credits(corpus, out)
    credits.print_table(console)
    typer.echo(str(out if out is not None else credits_path(corpus)))


@corpus_app.command("pairs")
def corpus_pairs(
    corpus: Annotated[Path | None, typer.Argument(help="A corpus made by `belamy corpus build` (or use --a/--b).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the pair corpus to.")] = ...,
    source: Annotated[str, typer.Option("--from", help="edges: line drawings (no model); landmarks: face markers; "
                                        "pose: an OpenPose-style stick figure (both need --model).")] = "edges",
    model: Annotated[Path | None, typer.Option(help=(
        "A local ONNX keypoint model for --from landmarks|pose. Models that fit: MoveNet SinglePose/MultiPose "
        "(Google, TF Hub/Kaggle Models, Apache-2.0; ONNX conversions e.g. PINTO model zoo), YOLOv8/YOLO11-pose "
        "exported with `yolo export format=onnx` (Ultralytics, AGPL-3.0), RTMPose (OpenMMLab mmpose, Apache-2.0; "
        "put ImageNet mean/std in MODEL.onnx.json), or any model with heatmap, SimCC or coordinate outputs."))] = None,
    edges: Annotated[str, typer.Option(help="Line method for --from edges: xdog (fuller) or canny (sparser).")] = "xdog",
    threshold: Annotated[float, typer.Option(help="Keypoints below this confidence are not drawn.")] = 0.3,
    a: Annotated[Path | None, typer.Option("--a", help="Folder of conditions (sketches...), paired with --b by file name.")] = None,
    b: Annotated[Path | None, typer.Option("--b", help="Folder of paintings, paired with --a by file name.")] = None,
    size: Annotated[int, typer.Option(help="With --a/--b: side of the pictures (the width of 4:5 and the height of 3:4).")] = 256,
    aspect: Annotated[str, typer.Option(help="With --a/--b: 1:1, 4:5 or 3:4 (width:height).")] = "1:1",
    fit: Annotated[str, typer.Option(help="With --a/--b: crop (fill the shape) or pad (keep everything).")] = "crop",
) -> None:
    """Make (condition, painting) pairs for `belamy train --arch pix2pix`: from a corpus, or two folders."""
    from belamy.corpus.pairs import build_pairs, build_pairs_from_folders

    if (a is None) != (b is None):
        raise BelamyError("--a and --b go together", "give a folder of conditions and a folder of paintings")
    if a is not None:
        if corpus is not None:
            raise BelamyError("give either a CORPUS or --a/--b, not both", "drop one of them")
        report = build_pairs_from_folders(a, b, out, size=size, aspect=aspect, fit=fit)
    elif corpus is None:
        raise BelamyError("no corpus given", "belamy corpus pairs CORPUS --out PAIRS, or --a DIR --b DIR --out PAIRS")
    else:
        report = build_pairs(corpus, out, source=source, model=model, edge_method=edges, threshold=threshold)
    report.print_summary(console)
    typer.echo(str(out))
