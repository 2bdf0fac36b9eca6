"""The studio's HTTP API: pages, files confined to the root, tokens, CSRF, curation, runs, generation, travel."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_portraits, tiny_train_options, write_corpus
from fastapi.testclient import TestClient

from belamy.provenance import Record
from belamy.provenance.embed import read_provenance, save_png
from belamy.studio.app import create_app

LOCAL = "http://127.0.0.1:8700"


def write_pictures(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        save_png(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), folder / f"pic-{i:03d}.png", {"seed": i})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write_pictures(root / "candidates" / "set-a", 6)
    write_pictures(root / "candidates" / "set-b", 0)
    (tmp_path / "secret.png").write_bytes((root / "candidates" / "set-a" / "pic-000.png").read_bytes())
    (tmp_path / "secret.txt").write_text("secret")
    return root


def client_for(root: Path, **kwargs) -> TestClient:
    return TestClient(create_app(root, **kwargs), base_url=LOCAL)


def csrf_headers(client: TestClient, tab: str = "tab-1") -> dict:
    return {"X-Belamy-CSRF": client.app.state.guard.csrf, "X-Belamy-Client": tab}


@pytest.fixture
def client(root: Path) -> TestClient:
    with client_for(root, retrain_every=1000) as c:
        yield c


def hashes(client: TestClient, **params) -> list[str]:
    data = client.get("/api/next", params={"limit": 50, "mode": "order", **params}).json()
    return [c["hash"] for c in data["candidates"]]


# ----------------------------------------------------------------------------- pages and files


def test_pages_carry_the_csrf_token_and_assets_load(client: TestClient):
    for page in ("/", "/curate", "/gallery"):
        r = client.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert f'content="{client.app.state.guard.csrf}"' in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
            assert client.get(asset).status_code == 200, asset
        assert 'rel="icon" href="/static/favicon.svg"' in r.text
    icon = client.get("/favicon.ico")  # for whatever asks the old way
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_files_are_served_from_inside_the_root_only(client: TestClient, root: Path, tmp_path: Path):
    assert client.get("/files/candidates/set-a/pic-001.png").status_code == 200
    (root / "candidates" / "link-out.png").symlink_to(tmp_path / "secret.png")
    (root / "candidates" / "link-in.png").symlink_to(root / "candidates" / "set-a" / "pic-002.png")
    assert client.get("/files/candidates/link-in.png").status_code == 200
    for path in [
        "/files/../secret.png", "/files/%2e%2e/secret.png", "/files/candidates/%2e%2e/%2e%2e/secret.png",
        "/files/candidates/..%2f..%2fsecret.png", "/files/%2fetc%2fpasswd", "/files//etc/passwd",
        f"/files/{tmp_path / 'secret.png'}", "/files/candidates/link-out.png", "/files/../secret.txt",
        "/files/belamy-studio.sqlite", "/files/candidates/set-a/missing.png", "/files/candidates%5c..%5c..%5csecret.png",
    ]:
        assert client.get(path).status_code == 404, path
    # Raw (un-normalised) paths, as a hostile client would send them.
    for raw in ["/files/../secret.png", "/files/candidates/../../secret.png", "/files/%2e%2e/%2e%2e/secret.png"]:
        assert client.request("GET", LOCAL + raw).status_code == 404, raw


def test_resolve_under_refuses_every_way_out(root: Path, tmp_path: Path):
    from belamy.studio.security import resolve_under

    inside = root / "candidates" / "set-a" / "pic-000.png"
    (root / "out-link").symlink_to(tmp_path)
    assert resolve_under(root, "candidates/set-a/pic-000.png") == inside.resolve()
    assert resolve_under(root, "candidates/set-a/../set-a/pic-000.png") == inside.resolve()
    for bad in ["../secret.png", "candidates/../../secret.png", str(tmp_path / "secret.png"), "/etc/passwd",
                "out-link/secret.png", "", ".", "candidates/\x00.png", "candidates\\..\\..\\secret.png", "nope.png"]:
        assert resolve_under(root, bad) is None, bad


def test_missing_things_are_404_and_bad_bodies_are_422(client: TestClient):
    h = csrf_headers(client)
    assert client.get("/api/image/" + "0" * 64).status_code == 404
    assert client.get("/api/image/not-a-hash").status_code == 404
    assert client.get("/api/candidate/" + "f" * 64).status_code == 404
    assert client.get("/api/run", params={"run": "nope"}).status_code == 404
    assert client.get("/api/run", params={"run": "../.."}).status_code == 404
    assert client.get("/api/jobs/99").status_code == 404
    assert client.post("/api/decide", json={"hash": "0" * 64, "decision": "keep"}, headers=h).status_code == 404
    one = hashes(client)[0]
    for body in [{"hash": one, "decision": "maybe"}, {"hash": "zz", "decision": "keep"}, {"decision": "keep"},
                 {"hash": one, "decision": "keep", "extra": 1}, [1, 2]]:
        assert client.post("/api/decide", json=body, headers=h).status_code == 422, body
    assert client.post("/api/decide", content=b"{not json", headers={**h, "Content-Type": "application/json"}).status_code == 422
    assert client.post("/api/travel", json={"a": one, "b": one, "frames": 1}, headers=h).status_code == 422
    assert client.get("/api/next", params={"mode": "random"}).status_code == 422


# ----------------------------------------------------------------------------- who may talk to the studio


def test_state_changes_need_the_csrf_header_same_origin_and_json(client: TestClient):
    one = hashes(client)[0]
    body = {"hash": one, "decision": "keep"}
    assert client.post("/api/decide", json=body).status_code == 403
    assert client.post("/api/decide", json=body, headers={"X-Belamy-CSRF": "wrong"}).status_code == 403
    h = csrf_headers(client)
    assert client.post("/api/decide", json=body, headers={**h, "Origin": "http://evil.example"}).status_code == 403
    assert client.post("/api/decide", json=body, headers={**h, "Origin": "null"}).status_code == 403
    form = client.post("/api/decide", data={"hash": one, "decision": "keep"}, headers=h)
    assert form.status_code == 415
    assert client.put("/api/decide", json=body, headers=h).status_code == 405
    assert client.get("/api/stats").json()["kept"] == 0  # none of the above did anything
    assert client.post("/api/decide", json=body, headers={**h, "Origin": LOCAL}).status_code == 200
    assert client.get("/api/stats").json()["kept"] == 1


def test_on_loopback_a_foreign_host_header_is_refused(client: TestClient):
    # A DNS-rebinding page reaches 127.0.0.1 under its own name: the Host header gives it away.
    assert client.get("/api/stats", headers={"Host": "evil.example:8700"}).status_code == 403
    assert client.get("/api/stats", headers={"Host": "localhost:8700"}).status_code == 200


def test_off_loopback_every_request_needs_the_token(root: Path):
    with TestClient(create_app(root, token="s3cret-token", loopback_only=False), base_url="http://192.168.1.5:8700",
                    follow_redirects=False) as c:
        assert c.get("/").status_code == 401
        assert c.get("/files/candidates/set-a/pic-000.png").status_code == 401
        assert c.get("/api/stats", headers={"X-Belamy-Token": "wrong"}).status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        assert c.get("/api/stats", headers={"X-Belamy-Token": "s3cret-token"}).status_code == 200
        first = c.get("/curate?token=s3cret-token&set=set-a")
        assert first.status_code == 303 and first.headers["location"] == "/curate?set=set-a"
        assert "HttpOnly" in first.headers["set-cookie"] and "samesite=strict" in first.headers["set-cookie"].lower()
        assert c.get("/curate").status_code == 200  # the cookie now carries the token
        assert c.get("/files/candidates/set-a/pic-000.png").status_code == 200


def raw_get(port: int, path: str) -> str:
    """One HTTP/1.1 GET over a plain socket, retried while the server is still starting."""
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
                return data.decode("latin-1")
        except ConnectionRefusedError:
            time.sleep(0.05)
    raise AssertionError("the studio never started listening")


def test_the_server_binds_loopback_and_prints_a_token_elsewhere(tmp_path: Path):
    def start(*args: str) -> tuple[subprocess.Popen, str]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "BELAMY_QUIET": "1", "COLUMNS": "300"}
        proc = subprocess.Popen([sys.executable, "-m", "belamy", "studio", "--root", str(tmp_path / "root"), "--port", str(port), *args],
                                stderr=subprocess.PIPE, text=True, env=env)
        return proc, proc.stderr.readline()

    (tmp_path / "root").mkdir()
    (tmp_path / "outside.png").write_bytes(b"\x89PNG not for you")
    proc, line = start()
    try:
        assert "http://127.0.0.1:" in line and "token" not in line
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        # Raw requests, not normalised by any client library on the way.
        for raw_path in ["/files/../outside.png", "/files/%2e%2e/outside.png", "/files/..%2foutside.png",
                         "/files/" + str(tmp_path / "outside.png")]:
            assert raw_get(port, raw_path).startswith("HTTP/1.1 404"), raw_path
        assert raw_get(port, "/").startswith("HTTP/1.1 200")
    finally:
        proc.terminate()
        proc.wait(30)
    proc, line = start("--host", "0.0.0.0")
    try:
        assert re.search(r"http://0\.0\.0\.0:\d+/\?token=[\w-]{20,}", line), line
    finally:
        proc.terminate()
        proc.wait(30)
    bad = subprocess.run([sys.executable, "-m", "belamy", "studio", "--root", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "not a folder" in bad.stderr


# ----------------------------------------------------------------------------- curation


def test_two_tabs_never_double_count_and_undo_is_per_tab(client: TestClient):
    a, b = csrf_headers(client, "tab-a"), csrf_headers(client, "tab-b")
    first, second = hashes(client)[:2]
    assert client.post("/api/decide", json={"hash": first, "decision": "keep"}, headers=a).status_code == 200
    r = client.post("/api/decide", json={"hash": first, "decision": "keep"}, headers=b)
    assert r.json()["stats"]["kept"] == 1 and r.json()["stats"]["left"] == 5
    assert first not in hashes(client)
    client.post("/api/decide", json={"hash": second, "decision": "reject"}, headers=a)
    undone = client.post("/api/undo", json={}, headers=a).json()
    assert undone["undone"] == {"hash": second, "restored": True} and undone["candidate"]["hash"] == second
    assert second in hashes(client)
    # tab-a's next undo reaches `first`, but tab-b decided it since: tab-b's decision stands.
    undone = client.post("/api/undo", json={}, headers=a).json()
    assert undone["undone"] == {"hash": first, "restored": False} and undone["candidate"] is None
    stats = client.get("/api/stats").json()
    assert (stats["kept"], stats["rejected"], stats["left"], stats["total"]) == (1, 0, 5, 6)
    assert client.post("/api/undo", json={}, headers=a).json()["undone"] is None


def test_sets_counts_and_filtering(client: TestClient, root: Path):
    write_pictures(root / "candidates" / "set-b", 0)
    rng = np.random.default_rng(5)
    save_png(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), root / "candidates" / "set-b" / "x.png", {"seed": 77})
    sets = {s["name"]: s for s in client.get("/api/sets").json()["sets"]}
    assert sets["set-a"]["total"] == 6 and sets["set-b"]["total"] == 1
    only_b = client.get("/api/next", params={"set": "set-b", "limit": 50}).json()
    assert [c["seed"] for c in only_b["candidates"]] == [77]
    assert only_b["stats"]["left"] == 1
    c = client.get(f"/api/candidate/{only_b['candidates'][0]['hash']}").json()
    assert c["provenance"] == {"seed": 77} and c["path"] == "candidates/set-b/x.png"
    image = client.get(f"/api/image/{c['hash']}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_the_taste_retrains_in_the_background_and_orders_candidates(root: Path):
    rng = np.random.default_rng(3)
    for i in range(16):
        warm = i % 2 == 0
        base = np.array([210, 120, 50]) if warm else np.array([50, 110, 210])
        pic = np.clip(base + rng.normal(0, 25, (16, 16, 3)), 0, 255).astype(np.uint8)
        save_png(pic, root / "candidates" / "tones" / f"{'warm' if warm else 'cool'}-{i:02d}.png", {"seed": i})
    with client_for(root, retrain_every=4) as c:
        h = csrf_headers(c)
        todo = c.get("/api/next", params={"set": "tones", "limit": 50, "mode": "order"}).json()["candidates"]
        for cand in todo[:4] + todo[-4:]:
            decision = "keep" if cand["name"].startswith("warm") else "reject"
            assert c.post("/api/decide", json={"hash": cand["hash"], "decision": decision}, headers=h).status_code == 200
        assert c.post("/api/retrain", json={}, headers=h).status_code == 202
        status = c.get("/api/model").json()
        for _ in range(300):  # wait for the background thread (not a timing assertion)
            if status["model"] and status["model"]["n"] == 8 and not status["training"]:
                break
            time.sleep(0.1)
            status = c.get("/api/model").json()
        assert status["model"]["n"] == 8 and status["model"]["heads"] == ["colour"]
        assert status["model"]["held_out_accuracy"] is not None
        likely = c.get("/api/next", params={"set": "tones", "limit": 8, "mode": "likely"}).json()["candidates"]
        assert all(x["p_keep"] is not None for x in likely)
        assert [x["name"][:4] for x in likely[:4]] == ["warm"] * 4
        uncertain = c.get("/api/next", params={"set": "tones", "limit": 8, "mode": "uncertain"}).json()["candidates"]
        gaps = [abs(x["p_keep"] - 0.5) for x in uncertain]
        assert gaps == sorted(gaps)


# ----------------------------------------------------------------------------- runs, generation, gallery, travel


@pytest.fixture(scope="module")
def run_root(tmp_path_factory) -> Path:
    from belamy.gan import train

    root = tmp_path_factory.mktemp("root")
    corpus = write_corpus(root / "corpus", synthetic_portraits(32, 16))
    train(tiny_train_options(corpus, root / "runs" / "portraits", res=16, ngf=4, ndf=4, kimg=0.064, tick_kimg=0.032,
                             lr=2e-4, beta1=0.5, beta2=0.999, snapshot_ticks=1))
    return root


def test_a_run_trained_for_minutes_shows_its_time_budget(tmp_path: Path):
    """A run given --minutes has no image target: its card shows minutes done of minutes asked, not '? kimg'."""
    from belamy.gan import train
    from belamy.studio.runs import progress

    root = tmp_path / "root"
    corpus = write_corpus(tmp_path / "corpus", synthetic_portraits(32, 16))
    train(tiny_train_options(corpus, root / "runs" / "timed", res=16, ngf=4, ndf=4, kimg=None, minutes=0.02,
                             tick_kimg=0.016))
    with client_for(root, device="cpu") as c:
        run = c.get("/api/runs").json()["runs"][0]
    assert run["target_kimg"] is None and run["target_minutes"] == pytest.approx(0.02)
    assert run["kimg"] > 0 and run["time_s"] >= 0.02 * 60 and run["progress"] == 1.0
    # two targets: the run ends at the first it reaches; none: no bar to fill
    assert progress(1.0, 30.0, 4.0, 1.0) == pytest.approx(0.5) and progress(3.0, 6.0, 4.0, 1.0) == pytest.approx(0.75)
    assert progress(1.0, 30.0, None, None) is None and progress(1.0, 30.0, 0, None) is None


def wait_job(c: TestClient, job_id: int) -> dict:
    for _ in range(600):
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "error"):
            return job
        time.sleep(0.1)
    raise AssertionError("generation job never finished")


def test_runs_generation_map_and_travel(run_root: Path, tmp_path: Path):
    root = tmp_path / "root"
    shutil.copytree(run_root, root)
    with client_for(root, device="cpu") as c:
        runs = c.get("/api/runs").json()["runs"]
        assert [r["name"] for r in runs] == ["runs/portraits"]
        run = runs[0]
        assert run["kimg"] == pytest.approx(0.064) and run["target_kimg"] == pytest.approx(0.064)
        assert [g["nimg"] for g in run["grids"]] == [0, 32, 64]
        assert c.get(run["grids"][-1]["url"]).status_code == 200
        assert [k["name"] for k in run["checkpoints"]] == ["ckpt-000000032", "ckpt-000000064"]
        detail = c.get("/api/run", params={"run": "runs/portraits", "since": 1}).json()
        assert [m["tick"] for m in detail["metrics"]] == [2] and "loss_G" in detail["metrics"][0]

        h = csrf_headers(c)
        assert c.post("/api/generate", json={"run": "runs/portraits", "checkpoint": "nope"}, headers=h).status_code == 400
        assert c.post("/api/generate", json={"run": "../..", "n": 2}, headers=h).status_code == 404
        assert c.post("/api/generate", json={"run": "runs/portraits", "n": 0}, headers=h).status_code == 422
        job = c.post("/api/generate", json={"run": "runs/portraits", "n": 6, "checkpoint": "ckpt-000000064"}, headers=h)
        assert job.status_code == 202
        done = wait_job(c, job.json()["id"])
        assert done["status"] == "done", done
        out = root / done["out"]
        assert out == root / "candidates" / "portraits-ckpt-000000064"
        assert sorted(p.name for p in out.glob("*.png"))[:2] == ["seed-000000.png", "seed-000001.png"]
        again = wait_job(c, c.post("/api/generate", json={"run": "runs/portraits", "n": 2}, headers=h).json()["id"])
        assert again["message"].endswith("seeds 6-7")  # asking again adds new candidates, it does not redraw
        assert Record.from_dict(read_provenance(out / "seed-000007.png")).seed == 7

        sets = {s["name"]: s for s in c.get("/api/sets").json()["sets"]}
        assert sets["portraits-ckpt-000000064"]["total"] == 8
        cands = c.get("/api/next", params={"set": "portraits-ckpt-000000064", "limit": 50, "mode": "order"}).json()["candidates"]
        for cand in cands[:5]:
            c.post("/api/decide", json={"hash": cand["hash"], "decision": "keep"}, headers=h)
        works = c.get("/api/map").json()["works"]
        assert len(works) == 5 and all(0 <= w["x"] <= 1 and 0 <= w["y"] <= 1 for w in works)
        assert {w["seed"] for w in works} == {cands[i]["seed"] for i in range(5)}
        assert all(w["credit"].startswith("Generated by belamy dcgan")
                   and "from run “runs/portraits”" in w["credit"] and f"seed {w['seed']}" in w["credit"]
                   for w in works)  # the gallery shows each work's credit line

        a, b = cands[0], cands[1]
        frames = c.post("/api/travel", json={"a": a["hash"], "b": b["hash"], "frames": 5}, headers=h).json()["frames"]
        assert len(frames) == 5
        first = c.get(frames[0])
        assert first.status_code == 200
        # The path's ends are the two works themselves (same run, checkpoint and seed).
        import io

        from PIL import Image

        end0 = np.asarray(Image.open(io.BytesIO(first.content)).convert("RGB"), dtype=int)
        work0 = np.asarray(Image.open(out / a["name"]).convert("RGB"), dtype=int)
        assert np.abs(end0 - work0).max() <= 1
        mid = np.asarray(Image.open(io.BytesIO(c.get(frames[2]).content)).convert("RGB"), dtype=int)
        assert np.abs(mid - work0).mean() > 0

        other = root / "candidates" / "other"
        write_pictures(other, 1)
        c.get("/api/sets")
        stranger = [x for x in c.get("/api/next", params={"set": "other"}).json()["candidates"]][0]
        bad = c.post("/api/travel", json={"a": a["hash"], "b": stranger["hash"], "frames": 4}, headers=h)
        assert bad.status_code == 400 and "checkpoint" in bad.json()["detail"]
