"""A local signing identity for content credentials: a small CA and a leaf certificate.

`belamy keys init` writes, under ``~/.config/belamy/keys`` (or ``$BELAMY_KEYS``, or ``--dir``):

* ``ca.pem``: the identity's own certificate authority (self-signed, allowed to sign certificates);
* ``signer.pem``: the leaf certificate, issued by that CA, followed by the CA (the chain C2PA embeds);
* ``signer.key``: the leaf's private key (P-256, for ES256 signatures);
* ``ca.key``: the CA's private key, kept so that a new leaf can be issued later.

C2PA validators refuse a self-signed leaf, hence the two levels. Every file is written with 0600
permissions, in a 0700 folder when belamy creates it (a folder that exists keeps its mode); nothing
leaves the machine. The CA is this machine's own trust anchor:
`belamy verify` trusts credentials it issued, and says "untrusted signer" for anyone else's.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from belamy.errors import BelamyError

ENV_DIR = "BELAMY_KEYS"  # a folder, or "none" to write unsigned files even when an identity exists
FILES = ("ca.pem", "ca.key", "signer.pem", "signer.key")
# Extended key usage C2PA accepts for a claim signer: email protection is the widely supported one.
EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
VALID_YEARS = 10


@dataclass(frozen=True)
class Identity:
    folder: Path
    chain_pem: bytes  # leaf then CA
    key_pem: bytes
    ca_pem: bytes

    @property
    def subject(self) -> str:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(self.chain_pem)
        return cert.subject.rfc4514_string()


def default_dir() -> Path | None:
    """Where the identity lives: ``$BELAMY_KEYS``, else ``$XDG_CONFIG_HOME/belamy/keys``, else ~/.config/belamy/keys."""
    env = os.environ.get(ENV_DIR)
    if env is not None:
        return None if env.strip().lower() in ("", "none", "off") else Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "belamy" / "keys"


NEEDED = ("signer.pem", "signer.key", "ca.pem")  # ca.key only issues new leaves
REPAIR = "run `belamy keys init --force` for a new identity, or write unsigned files with `belamy --unsigned ...`"


def write_unsigned() -> None:
    """From now on, in this process, write files without content credentials even where an identity exists."""
    os.environ[ENV_DIR] = "none"


def load_identity(folder: Path | None = None) -> Identity | None:
    """The signing identity in ``folder`` (default: :func:`default_dir`), or None when there is none.

    A folder holding part of an identity, or a file that is not the certificate or key it should be,
    is one clear error: files would otherwise be written unsigned without a word."""
    folder = default_dir() if folder is None else Path(folder)
    if folder is None:
        return None
    present = [name for name in FILES if (folder / name).exists()]
    if not present:
        return None
    missing = [name for name in NEEDED if not (folder / name).is_file()]
    if missing:
        raise BelamyError(f"the signing identity in {folder} is incomplete: {', '.join(missing)} missing", REPAIR)
    try:
        identity = Identity(folder, *((folder / name).read_bytes() for name in NEEDED))
    except OSError as exc:
        raise BelamyError(f"cannot read the signing identity in {folder}: {exc.strerror or exc}",
                          "check its permissions, or run `belamy keys init --force`") from None
    _check_identity(identity)
    return identity


def _check_identity(identity: Identity) -> None:
    """Each file parses as what it should be, and the key is the certificate's (else signing fails later,
    or verification on this machine trusts nothing)."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        return  # nothing signs without it either: c2pa_library() says so
    where = identity.folder
    try:
        chain = x509.load_pem_x509_certificates(identity.chain_pem)
    except ValueError:
        raise BelamyError(f"{where / 'signer.pem'} is not a PEM certificate chain", REPAIR) from None
    try:
        key = serialization.load_pem_private_key(identity.key_pem, password=None)
    except (ValueError, TypeError):
        raise BelamyError(f"{where / 'signer.key'} is not an unencrypted PEM private key", REPAIR) from None
    try:
        x509.load_pem_x509_certificates(identity.ca_pem)
    except ValueError:
        raise BelamyError(f"{where / 'ca.pem'} is not a PEM certificate", REPAIR) from None
    if chain[0].public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise BelamyError(f"{where / 'signer.key'} is not the key of {where / 'signer.pem'}", REPAIR)


def init_identity(folder: Path | None = None, name: str = "belamy artist", organization: str = "belamy",
                  force: bool = False) -> Identity:
    """Make a CA and a leaf certificate in ``folder`` (0700), each file 0600; refuse to overwrite without ``force``."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID, ObjectIdentifier
    except ImportError:
        raise BelamyError("making a signing identity needs the cryptography package",
                          "pip install 'belamy[provenance]'") from None
    folder = default_dir() if folder is None else Path(folder).expanduser()
    if folder is None:
        raise BelamyError(f"${ENV_DIR} is set to 'none'", "unset it or give --dir")
    if not name.strip():
        raise BelamyError("the signer's name is empty", "give --name, e.g. --name 'Ada Lovelace'")
    existing = [f for f in FILES if (folder / f).exists()]
    if existing and not force:
        raise BelamyError(f"a signing identity already exists in {folder}",
                          "keep it (files signed with it stay verifiable), or pass --force to replace it")
    if folder.exists() and not folder.is_dir():
        raise BelamyError(f"{folder} is not a folder", "give another --dir")
    try:
        if not folder.exists():  # a folder that was already there keeps its mode: it may be shared
            folder.mkdir(parents=True, mode=0o700)
            os.chmod(folder, 0o700)  # whatever the umask
    except OSError as exc:
        raise BelamyError(f"cannot create {folder}: {exc.strerror or exc}", "give another --dir") from None

    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=365 * VALID_YEARS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} (belamy local CA)"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_key_usage(x509, cert_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                           x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    leaf = (x509.CertificateBuilder().subject_name(leaf_name).issuer_name(ca_name).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(x509, cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(EMAIL_PROTECTION)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    private = {"encoding": pem, "format": serialization.PrivateFormat.PKCS8,
               "encryption_algorithm": serialization.NoEncryption()}
    ca_pem = ca.public_bytes(pem)
    chain_pem = leaf.public_bytes(pem) + ca_pem
    contents = {"ca.pem": ca_pem, "ca.key": ca_key.private_bytes(**private), "signer.pem": chain_pem,
                "signer.key": leaf_key.private_bytes(**private)}
    for file_name, data in contents.items():
        _write_private(folder / file_name, data)
    return Identity(folder, chain_pem, contents["signer.key"], ca_pem)


def _key_usage(x509, cert_sign: bool):
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file that is never readable by others, not even for a moment (created 0600, then renamed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
