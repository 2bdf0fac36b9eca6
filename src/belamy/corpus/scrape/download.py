"""Fetch one image to a temporary file and prove it whole before anyone may see it."""

from __future__ import annotations

import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from belamy.corpus.scrape.client import (
    FetchError,
    PoliteClient,
    RetryableError,
    Stopped,
    bounded_chunks,
    httpx,
)


@dataclass
class Fetched:
    tmp: Path  # verified file in the partial folder, ready to rename into place
    nbytes: int
    width: int
    height: int
    format: str


def verify_image(path: Path) -> tuple[int, int, str]:
    """Decode the whole image (a truncated JPEG fails here); returns (width, height, format)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # paintings can be huge
            with Image.open(path) as img:
                img.load()
                return img.width, img.height, img.format or "?"
    except Image.DecompressionBombError as exc:
        raise FetchError(f"image too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise FetchError(f"not a decodable image ({type(exc).__name__}: {exc})") from None


def fetch_image(client: PoliteClient, url: str, partial_dir: Path) -> Fetched:
    """Download ``url`` with retries; the result is complete (Content-Length met) and decodable.

    The body is bounded by the policy's ``max_image_bytes`` and ``download_timeout`` whether or not
    the server says how long it is: a response that never ends is cut off, not written to disk forever.

    Raises :class:`FetchError` (a reason for the report) or :class:`Stopped`; either way no
    temporary file is left behind.
    """
    partial_dir.mkdir(parents=True, exist_ok=True)

    def attempt() -> Fetched:
        tmp = partial_dir / f"{uuid.uuid4().hex}.part"
        try:
            client._take_token()
            client._count("image")
            nbytes = 0
            try:
                # identity: the byte count must be comparable with Content-Length.
                with client.http.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
                    client.raise_for_status(response)
                    encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
                    expected = response.headers.get("Content-Length")
                    expected = int(expected) if expected and expected.isdigit() and not encoded else None
                    policy = client.policy
                    chunks = bounded_chunks(response, policy.max_image_bytes, policy.download_timeout,
                                            "the image", raw=not encoded)
                    with open(tmp, "wb") as fh:
                        for chunk in chunks:
                            if client.stop.is_set():
                                raise Stopped()
                            fh.write(chunk)
                            nbytes += len(chunk)
                        fh.flush()
                        os.fsync(fh.fileno())
            except httpx.TransportError as exc:
                # A connection dropped mid-body (h11 says "incomplete") is the common truncation.
                raise RetryableError(f"download cut short after {nbytes} bytes ({type(exc).__name__})") from None
            if expected is not None and nbytes != expected:
                raise RetryableError(f"truncated download: {nbytes} of {expected} bytes")
            if nbytes == 0:
                raise RetryableError("empty download")
            width, height, fmt = verify_image(tmp)
            return Fetched(tmp, nbytes, width, height, fmt)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    return client.with_retries(attempt, url)
