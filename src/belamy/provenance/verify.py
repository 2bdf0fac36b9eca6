"""`belamy verify`: are an image's content credentials intact, and where did the image come from?

Checks, in order: a C2PA manifest is there; its signature is valid (and whether the signer is one
this machine trusts: the local CA of `belamy keys init`); the hard binding still matches the file
(any edit of the pixels breaks it); the decoded pixels match the digest belamy signed. Then walks the
chain of ingredients (generate -> upscale -> sign -> print) and writes the credit line. Credentials
made by other C2PA tools are read the same way (without a belamy record, there is no credit line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from belamy.errors import BelamyError
from belamy.provenance.c2pa import belamy_assertion, pixel_digest, read_store
from belamy.provenance.credit import credit_line
from belamy.provenance.embed import read_provenance
from belamy.provenance.record import Record

UNTRUSTED = "signingCredential.untrusted"
TRUSTED = "signingCredential.trusted"
EXIT_UNKNOWN_SIGNER = 3  # `belamy verify`: valid signature, but not from a signer this machine trusts
SIGNATURE_OK = ("claimSignature.validated",)
BINDING_CODES = ("assertion.dataHash", "assertion.boxesHash", "assertion.bmffHash", "assertion.collectionHash")
ACTION_WORDS = {"c2pa.created": "created", "c2pa.opened": "opened", "c2pa.resized": "resized",
                "c2pa.drawing": "drawn on", "c2pa.cropped": "cropped", "c2pa.edited": "edited",
                "c2pa.placed": "placed", "c2pa.converted": "converted", "c2pa.color_adjustments": "colour adjusted"}
SOURCE_WORDS = {"trainedAlgorithmicMedia": "trained algorithmic media", "digitalCreation": "digital creation",
                "digitalCapture": "digital capture"}


@dataclass
class ChainLink:
    title: str
    actions: list[str]
    signer: str | None
    generator: str | None
    stage: str | None  # the belamy stage that wrote it, when it carries a belamy record
    trusted: bool = True  # its signer is trusted here, as the trusted picture made from it recorded

    def describe(self) -> str:
        text = f"{self.title}: {', '.join(self.actions) or 'no actions recorded'}"
        if self.stage:
            text += f" (belamy {self.stage})"
        elif self.generator:
            text += f" ({self.generator})"
        if self.signer:
            text += f", signed by {self.signer}" + ("" if self.trusted else " (not trusted here)")
        return text


@dataclass
class Verification:
    path: Path
    signed: bool = False
    signature_valid: bool | None = None
    trusted: bool | None = None
    signer: str | None = None
    binding_ok: bool | None = None
    pixels_ok: bool | None = None
    failures: list[str] = field(default_factory=list)
    chain: list[ChainLink] = field(default_factory=list)
    record: Record = field(default_factory=Record)
    error: str | None = None

    @property
    def intact(self) -> bool:
        """Signed, the signature valid, the file and its pixels as they were signed: by *someone*."""
        return (self.signed and bool(self.signature_valid) and bool(self.binding_ok) and self.pixels_ok is not False
                and not self.failures)

    @property
    def ok(self) -> bool:
        """Intact and signed by a signer this machine trusts: only then does the record vouch for anything
        (anyone can make a key with the same display name and copy a real run's record)."""
        return self.intact and bool(self.trusted)

    @property
    def exit_code(self) -> int:
        """0: verified (intact, trusted signer); 3: intact, but signed by an unknown signer; 1: unsigned or a check fails."""
        return 0 if self.ok else EXIT_UNKNOWN_SIGNER if self.intact else 1

    @property
    def credit(self) -> str:
        line = credit_line(self.record)
        if self.intact and not self.trusted:
            return f"claimed by an unknown signer ({self.unknown_signer or 'unnamed'}), not verified: {line}"
        return line

    @property
    def unknown_signer(self) -> str | None:
        """The signer that is not trusted here: of this file, else of the nearest picture it was made from."""
        if self.signed and self.trusted is False and all(link.trusted for link in self.chain):
            return self.signer
        return next((link.signer for link in reversed(self.chain) if not link.trusted), self.signer)

    def lines(self) -> list[tuple[str, str]]:
        """(label, text) pairs for a person to read."""
        out: list[tuple[str, str]] = []
        if not self.signed:
            out.append(("credentials", "unsigned: no C2PA content credentials in this file"
                        + (f" ({self.error})" if self.error else "")))
        else:
            who = self.signer or "an unnamed signer"
            trust = "trusted (this machine's belamy identity)" if self.trusted else "not in this machine's trust list"
            out.append(("credentials", f"signed by {who}; {trust}"))
            out.append(("signature", "valid" if self.signature_valid else "INVALID"))
            out.append(("hard binding", "matches: the file is as it was signed" if self.binding_ok
                        else "BROKEN: the file was changed after signing"))
            if self.pixels_ok is not None:
                out.append(("pixels", "match the signed digest" if self.pixels_ok
                            else "DIFFER from the signed digest: the picture was edited"))
            for failure in self.failures:
                out.append(("failure", failure))
            for i, link in enumerate(self.chain, start=1):
                out.append(("chain" if i == 1 else "", f"{i}. {link.describe()}"))
        out.append(("credit", self.credit))
        return out


def verify_image(path: str | Path) -> Verification:
    """Check an image's credentials; never raises for a tampered or foreign file (that is the answer)."""
    path = Path(path)
    if not path.is_file():
        raise BelamyError(f"image not found: {path}", "check the path")
    result = Verification(path)
    found = read_store(path)
    if found is None:
        try:
            result.record = Record.from_dict(read_provenance(path))
        except (OSError, ValueError):
            pass
        return result
    result.signed = True
    if found.get("error"):
        result.error = found["error"]
        result.signature_valid = False
        result.binding_ok = False
        result.failures.append(f"the manifest cannot be read: {found['error']}")
        return result
    store = found["store"]
    manifests = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label or "") or {}
    codes = _validation_codes(store)
    success = {c for c, _ in codes["success"]}
    result.signature_valid = any(c in success for c in SIGNATURE_OK) and not any(
        c.startswith("claimSignature") for c, _ in codes["failure"])
    result.trusted = found["state"] == "Trusted"  # the signer of this file; its sources below
    binding_failed = [c for c, _ in codes["failure"] if c.startswith(BINDING_CODES)]
    result.binding_ok = any(c.startswith(BINDING_CODES) for c in success) and not binding_failed
    result.failures = [f"{c}: {text}" for c, text in codes["failure"] if c != UNTRUSTED]
    info = active.get("signature_info") or {}
    result.signer = info.get("common_name") or info.get("issuer")
    data = belamy_assertion(active)
    if data is not None:
        result.record = Record.from_dict({k: v for k, v in data.items() if k != "pixels"})
        if isinstance(data.get("pixels"), dict):
            now = pixel_digest(path)
            result.pixels_ok = bool(now) and now.get("sha256") == data["pixels"].get("sha256")
    result.chain = _chain(manifests, active_label, result.trusted)
    # a trusted picture made from one by an unknown signer vouches for nothing that came from there
    result.trusted = result.trusted and all(link.trusted for link in result.chain)
    return result


def _validation_codes(store: dict) -> dict[str, list[tuple[str, str]]]:
    """Success and failure codes of the active manifest and of its ingredients' deltas."""
    results = store.get("validation_results") or {}
    out: dict[str, list[tuple[str, str]]] = {"success": [], "failure": []}
    active = results.get("activeManifest") or {}
    for kind in out:
        out[kind] += [(s.get("code", ""), s.get("explanation", "")) for s in active.get(kind) or []]
    for delta in results.get("ingredientDeltas") or []:
        for s in (delta.get("validationDeltas") or {}).get("failure") or []:
            out["failure"].append((s.get("code", ""), "ingredient: " + s.get("explanation", "")))
    if not results and store.get("validation_status"):  # older stores: one flat list of problems
        out["failure"] += [(s.get("code", ""), s.get("explanation", "")) for s in store["validation_status"]]
    return out


def _chain(manifests: dict, label: str | None, trusted: bool = True) -> list[ChainLink]:
    """From the first picture to this one, following each manifest's parent ingredient. Each parent is
    trusted when its child is and the child's signer recorded its signer as trusted (belamy signs with
    its own CA as trust anchor; the record is part of what the child's signature covers)."""
    links: list[ChainLink] = []
    seen = set()
    while label and label in manifests and label not in seen:
        seen.add(label)
        m = manifests[label]
        actions = []
        for assertion in m.get("assertions") or []:
            if str(assertion.get("label", "")).startswith("c2pa.actions"):
                for a in (assertion.get("data") or {}).get("actions") or []:
                    word = ACTION_WORDS.get(a.get("action", ""), a.get("action", "?"))
                    source = str(a.get("digitalSourceType") or "").rsplit("/", 1)[-1]
                    if source:
                        word += f" ({SOURCE_WORDS.get(source, source)})"
                    actions.append(word)
        data = belamy_assertion(m)
        stage = None
        if data is not None:
            rec = Record.from_dict({k: v for k, v in data.items() if k != "pixels"})
            stage = rec.stages()[-1] if rec.steps else ("generate" if rec.is_generated else None)
        gen = (m.get("claim_generator_info") or [{}])[0]
        info = m.get("signature_info") or {}
        links.append(ChainLink(title=m.get("title") or "untitled", actions=actions,
                               signer=info.get("common_name") or info.get("issuer"),
                               generator=" ".join(str(gen.get(k)) for k in ("name", "version") if gen.get(k)) or None,
                               stage=stage, trusted=trusted))
        parents = [i for i in m.get("ingredients") or [] if i.get("relationship") == "parentOf"]
        label = parents[0].get("active_manifest") if parents else None
        recorded = ((parents[0].get("validation_results") or {}).get("activeManifest") or {}) if parents else {}
        trusted = trusted and any(s.get("code") == TRUSTED for s in recorded.get("success") or [])
    return list(reversed(links))
