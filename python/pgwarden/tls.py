"""Certificates that clients can verify: a private CA and server certificates.

``init_server_tls(pgdata, hostnames)`` creates (or reuses) a certificate
authority, issues a server certificate naming every host name and address as
a subject alternative name, installs both in the data directory with the
ownership and permissions PostgreSQL demands, and turns ``ssl`` on through an
included configuration file, wherever the cluster's postgresql.conf lives (in
the data directory, or in /etc/postgresql on Debian).  Clients then connect with
``sslmode=verify-full sslrootcert=<ca.crt>``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "pgwarden_ca.crt"
CA_KEY = "pgwarden_ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
CONF_FILE = "pgwarden_tls.conf"


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(common_name: str = "pgwarden CA", days: int = 3650) -> KeyPair:
    """A self-signed certificate authority (ECDSA P-256)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _san(hostnames: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for h in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return names


def make_server_cert(ca: KeyPair, hostnames: Iterable[str], days: int = 825) -> KeyPair:
    """A server certificate signed by ca, valid for every host name and address given."""
    hosts = list(dict.fromkeys(hostnames))
    if not hosts:
        raise ValueError("at least one host name or address is required")
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("the CA key must be an ECDSA key made by pgwarden")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _write(path: Path, data: bytes, mode: int, like: Path) -> None:
    """Write data at path with mode, owned like the directory `like` (the server's user)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    st = like.stat()
    if os.geteuid() == 0:
        os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


#: Where Debian's postgresql-common keeps each cluster's configuration
#: (/etc/postgresql/VERSION/CLUSTER/postgresql.conf, data in /var/lib/...).
DEBIAN_CONF_ROOTS = (Path("/etc/postgresql"),)

_DATA_DIRECTORY = re.compile(r"^\s*data_directory\s*=?\s*'((?:[^']|'')*)'", re.MULTILINE)


def find_config_file(pgdata: str | os.PathLike[str],
                     roots: Iterable[Path] = DEBIAN_CONF_ROOTS) -> Path:
    """The postgresql.conf of the cluster whose data directory is pgdata.

    In the data directory itself (initdb's layout), else the Debian layout:
    the ROOT/*/*/postgresql.conf whose data_directory names pgdata (what
    pg_lsclusters reads).  Raises ValueError when there is none.
    """
    data = Path(pgdata).resolve()
    if (data / "postgresql.conf").is_file():
        return data / "postgresql.conf"
    for root in roots:
        for conf in sorted(root.glob("*/*/postgresql.conf")):
            m = _DATA_DIRECTORY.search(conf.read_text(errors="replace"))
            if m and Path(m.group(1).replace("''", "'")).resolve() == data:
                return conf
    raise ValueError(
        f"{data} has no postgresql.conf and no cluster under "
        f"{', '.join(str(r) for r in roots)} uses it as its data directory: "
        "pass --config-file (or --dsn, to ask the server with SHOW config_file)")


def include_line(conf_file: Path, tls_conf: Path) -> str:
    """include_if_exists for tls_conf, relative when it sits next to conf_file
    (paths in an include are relative to the including file's directory)."""
    target = tls_conf.name if tls_conf.parent == conf_file.parent else str(tls_conf)
    return "include_if_exists = '" + target.replace("'", "''") + "'"


def init_server_tls(pgdata: str | os.PathLike[str], hostnames: Iterable[str],
                    *, days: int = 825, config_file: str | os.PathLike[str] | None = None,
                    conf_roots: Iterable[Path] = DEBIAN_CONF_ROOTS) -> dict[str, Path]:
    """Create/reuse the CA in pgdata, issue a server certificate, turn ssl on.

    The certificates and pgwarden_tls.conf go into the data directory; the
    include line goes into ``config_file``, by default the postgresql.conf
    that find_config_file() finds (the data directory's, or Debian's in
    /etc/postgresql).  Returns the paths written.  The server picks the
    change up on reload.
    """
    data = Path(pgdata).resolve()
    if not (data / "PG_VERSION").is_file():
        raise ValueError(f"{data} is not a PostgreSQL data directory")
    main_conf = (Path(config_file).resolve() if config_file is not None
                 else find_config_file(data, conf_roots))
    if not main_conf.is_file():
        raise ValueError(f"{main_conf} is not a file")
    ca_cert, ca_key = data / CA_CERT, data / CA_KEY
    if ca_cert.is_file() and ca_key.is_file():
        ca = KeyPair(ca_cert.read_bytes(), ca_key.read_bytes())
    else:
        ca = make_ca()
        _write(ca_key, ca.key_pem, 0o600, data)
        _write(ca_cert, ca.cert_pem, 0o644, data)
    server = make_server_cert(ca, hostnames, days=days)
    _write(data / SERVER_KEY, server.key_pem, 0o600, data)
    _write(data / SERVER_CERT, server.cert_pem, 0o644, data)
    # Relative file names in the configuration are relative to the data directory.
    conf = (
        "# written by pgwarden tls init\n"
        "ssl = on\n"
        f"ssl_cert_file = '{SERVER_CERT}'\n"
        f"ssl_key_file = '{SERVER_KEY}'\n"
        "ssl_min_protocol_version = 'TLSv1.2'\n"
    )
    _write(data / CONF_FILE, conf.encode(), 0o644, data)
    line = include_line(main_conf, data / CONF_FILE)
    if line not in main_conf.read_text().splitlines():
        # Last in the file, so it wins over ssl lines above it (Debian's snakeoil ones).
        with main_conf.open("a") as f:
            f.write(f"\n{line}\n")
    return {
        "ca_cert": ca_cert,
        "server_cert": data / SERVER_CERT,
        "server_key": data / SERVER_KEY,
        "config": data / CONF_FILE,
        "postgresql_conf": main_conf,
    }
