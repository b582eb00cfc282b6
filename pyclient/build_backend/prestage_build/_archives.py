"""Writes the two archives: a wheel (PEP 427, RECORD per PEP 376) and an sdist (.tar.gz, PEP 517/625).

Entries get a fixed timestamp (SOURCE_DATE_EPOCH if set), so the same inputs give the same bytes."""
import base64
import gzip
import hashlib
import io
import os
import tarfile
import time
import zipfile

_EPOCH = max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800)  # zip cannot go before 1980


def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


class WheelWriter:
    """Collects (archive path, bytes, mode) and writes the .whl with its RECORD last."""

    def __init__(self, path, dist_info):
        self.path = path
        self.dist_info = dist_info
        self.entries = []

    def add_bytes(self, archive_path, data, mode=0o644):
        self.entries.append((archive_path, data, mode))

    def add_file(self, archive_path, source):
        mode = 0o755 if os.access(source, os.X_OK) else 0o644
        with open(source, "rb") as handle:
            self.add_bytes(archive_path, handle.read(), mode)

    def write(self):
        record_path = f"{self.dist_info}/RECORD"
        rows = [f"{name},{_record_hash(data)},{len(data)}" for name, data, _ in self.entries]
        record = "\n".join(rows + [f"{record_path},,"]) + "\n"
        stamp = time.gmtime(_EPOCH)[:6]
        partial = f"{self.path}.partial"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data, mode in self.entries + [(record_path, record.encode(), 0o644)]:
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.external_attr = (0o100000 | mode) << 16  # regular file + permissions: pip keeps the x bit
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        os.replace(partial, self.path)


def write_sdist(path, prefix, files, pkg_info):
    """files: (relative path, absolute source) pairs, stored under prefix/ with PKG-INFO beside them."""
    partial = f"{path}.partial"
    with gzip.GzipFile(partial, "wb", mtime=_EPOCH) as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _add_tar_bytes(archive, f"{prefix}/PKG-INFO", pkg_info.encode(), 0o644)
        for relative, source in sorted(files):
            with open(source, "rb") as handle:
                _add_tar_bytes(archive, f"{prefix}/{relative}", handle.read(),
                               0o755 if os.access(source, os.X_OK) else 0o644)
    os.replace(partial, path)


def _add_tar_bytes(archive, name, data, mode):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, _EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    archive.addfile(info, io.BytesIO(data))
