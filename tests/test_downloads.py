"""The download scripts against a local HTTP server on 127.0.0.1 (with Range support and a way to cut a transfer)."""
import hashlib
import http.server
import io
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from slca_min import load_data
from slca_min.sam.checkpoints import build_image_encoder, build_sam

SCRIPTS = Path(__file__).resolve().parent.parent / "data_scripts"
sys.path.insert(0, str(SCRIPTS))  # to import a script and patch its tables


class Server(http.server.ThreadingHTTPServer):
    files: dict  # path -> bytes
    requests: list  # (path, Range header)
    cut_next: int | None = None  # send only this many bytes of the next response, then drop the connection


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0]
        self.server.requests.append((path, self.headers.get("Range")))
        body = self.server.files.get(path)
        if body is None:
            self.send_error(404)
            return
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        if start >= len(body) > 0:
            self.send_error(416)
            return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload, self.server.cut_next = body[start:self.server.cut_next], None
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.files, srv.requests = {}, []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()


def script(name, *args, cwd):
    return subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], cwd=cwd, capture_output=True, text=True)


def sam_checkpoint_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save(build_sam(build_image_encoder("tiny")).state_dict(), buffer)
    return buffer.getvalue()


def test_medmnist_md5_good_and_bad(server, tmp_path, monkeypatch):
    import download_medmnist  # noqa: the script's own MD5 table is what is checked

    body = io.BytesIO()
    np.savez(body, **{f"{s}_{k}": np.zeros((2, 28, 28), np.uint8) if k == "images" else np.array([[0], [1]])
                      for s in ("train", "val", "test") for k in ("images", "labels")})
    body = body.getvalue()
    server.files["/breastmnist.npz"] = body
    monkeypatch.setitem(download_medmnist.MD5["breastmnist"], 28, hashlib.md5(body).hexdigest())
    # run in-process so the patched table applies
    monkeypatch.setattr(sys, "argv", ["x", "breastmnist", "--dir", str(tmp_path), "--base-url", server.url])
    download_medmnist.main()
    assert len(load_data(tmp_path / "breastmnist.npz")["train"]) == 2
    download_medmnist.main()  # idempotent: the good file is not fetched again
    assert len(server.requests) == 1

    server.files["/pneumoniamnist.npz"] = body  # does not match the real MD5 in the table
    result = script("download_medmnist.py", "pneumoniamnist", "--dir", tmp_path, "--base-url", server.url, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # above it: the progress bar
    assert last.startswith("error: pneumoniamnist.npz: MD5") and "Traceback" not in result.stderr
    assert not any(p.name.startswith("pneumoniamnist") for p in tmp_path.iterdir())


def test_checkpoint_interrupted_then_resumed(server, tmp_path):
    body = sam_checkpoint_bytes()
    server.files["/sam_vit_b_01ec64.pth"] = body
    server.cut_next = len(body) // 3
    first = script("download_sam_checkpoint.py", "vit_b", "--dir", tmp_path, "--base-url", server.url, cwd=tmp_path)
    assert first.returncode == 2 and "rerun to resume" in first.stderr and "Traceback" not in first.stderr
    assert (tmp_path / "sam_vit_b_01ec64.pth.part").stat().st_size == len(body) // 3
    assert not (tmp_path / "sam_vit_b_01ec64.pth").exists()
    # the served file holds tiny weights, not the official vit_b: its MD5 is refused, nothing is left behind
    second = script("download_sam_checkpoint.py", "vit_b", "--dir", tmp_path, "--base-url", server.url, cwd=tmp_path)
    assert server.requests[-1][1] == f"bytes={len(body) // 3}-"  # resumed with a Range request
    assert second.returncode == 2 and "does not match 01ec64d29a2fca3f0661936605ae66f8" in second.stderr
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_md5_checked_also_for_a_file_already_there(server, tmp_path, monkeypatch):
    import download_sam_checkpoint

    good = sam_checkpoint_bytes()
    corrupted = bytearray(good)
    corrupted[len(good) // 2] ^= 0xFF  # one byte in the middle: still loads as a checkpoint, MD5 differs
    server.files["/sam_vit_b_01ec64.pth"] = good
    monkeypatch.setitem(download_sam_checkpoint.FILES, "vit_b", ("sam_vit_b_01ec64.pth", hashlib.md5(good).hexdigest()))
    monkeypatch.setattr(sys, "argv", ["x", "vit_b", "--dir", str(tmp_path), "--base-url", server.url])
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(bytes(corrupted))  # whatever sat at the final path
    download_sam_checkpoint.main()
    assert (tmp_path / "sam_vit_b_01ec64.pth").read_bytes() == good and len(server.requests) == 1
    download_sam_checkpoint.main()  # now good: not fetched again
    assert len(server.requests) == 1
    server.files["/sam_vit_b_01ec64.pth"] = bytes(corrupted)  # a server that sends damaged bytes
    (tmp_path / "sam_vit_b_01ec64.pth").unlink()
    with pytest.raises(ValueError, match="MD5 .* does not match"):
        download_sam_checkpoint.main()
    assert list(tmp_path.iterdir()) == []


def test_official_checkpoint_md5s_match_their_file_names():
    import download_sam_checkpoint

    for name, md5 in download_sam_checkpoint.FILES.values():
        assert name.split("_")[-1].removesuffix(".pth") == md5[:6]


def test_isic_layout(server, tmp_path):
    rng = np.random.default_rng(0)
    names = {"train": "Training", "val": "Validation", "test": "Test_v2"}
    for split, name in names.items():
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            for i in range(3):
                image = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (60, 90 + i, 3), dtype=np.uint8)).save(image, format="JPEG")
                z.writestr(f"ISIC-2017_{name}_Data/ISIC_{split}{i}.jpg", image.getvalue())
                z.writestr(f"ISIC-2017_{name}_Data/ISIC_{split}{i}_superpixels.png", b"x")
        server.files[f"/ISIC-2017_{name}_Data.zip"] = archive.getvalue()
        server.files[f"/ISIC-2017_{name}_Part3_GroundTruth.csv"] = (
            "image_id,melanoma,seborrheic_keratosis\n"
            f"ISIC_{split}0,0.0,0.0\nISIC_{split}1,1.0,0.0\nISIC_{split}2,0.0,1.0\n").encode()
    result = script("download_isic2017.py", "--dir", tmp_path / "isic", "--max-side", 45, "--base-url", server.url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    splits = load_data(tmp_path / "isic")
    assert splits["train"].labels.tolist() == [0, 1, 2]
    assert splits["test"].images[0].shape == (30, 45, 3)  # longest side 45, aspect kept
    n = len(server.requests)
    assert script("download_isic2017.py", "--dir", tmp_path / "isic", "--base-url", server.url, cwd=tmp_path).returncode == 0
    assert len(server.requests) == n  # rerun: everything already there
