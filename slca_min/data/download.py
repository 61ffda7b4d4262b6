"""Resumable, checked downloads for data_scripts/ (standard library HTTP, tqdm progress).

A file is streamed into NAME.part, resumed with an HTTP Range request when a .part is already
there, checked (MD5 and/or a caller's test), and only then renamed to NAME: a file at its final
name is always complete. A failed check deletes the .part.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from tqdm import tqdm


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, dest: str | Path, *, md5: str | None = None, check: Callable[[Path], None] | None = None,
          progress: bool = True) -> Path:
    """Download `url` to `dest` unless a good copy is there; raises ValueError on a failed check, OSError on network errors."""
    dest = Path(dest)
    if dest.is_file():
        if md5 is None or md5sum(dest) == md5:
            return dest
        print(f"{dest}: MD5 does not match {md5} (damaged or another file); downloading again", file=sys.stderr)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    total = None
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            if response.status != 206:  # the server ignored the range: start again
                have = 0
            total = int(response.headers.get("Content-Length", 0)) + have or None
            with open(part, "ab" if have else "wb") as f, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                                                 desc=dest.name, disable=None if progress else True) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    f.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        if e.code != 416 or not have:  # 416 with a .part: the range starts at its end, it is already whole
            raise OSError(f"{url}: HTTP {e.code} {e.reason}; check the address or try again later") from None
    except urllib.error.URLError as e:
        raise OSError(f"{url}: {e.reason}; check the network (rerun to resume from {part.name})") from None
    except http.client.HTTPException as e:  # the connection broke mid-way
        raise OSError(f"{url}: interrupted ({type(e).__name__}); rerun to resume from {part.name}") from None
    if total is not None and part.stat().st_size < total:  # the server closed the connection early
        raise OSError(f"{url}: interrupted at {part.stat().st_size} of {total} bytes; rerun to resume from {part.name}")
    got = md5sum(part) if md5 is not None else None
    if got != md5:
        part.unlink()
        raise ValueError(f"{dest.name}: MD5 {got} does not match {md5}; the download was removed, run again")
    if check is not None:
        try:
            check(part)
        except Exception:
            part.unlink()
            raise
    os.replace(part, dest)
    return dest
