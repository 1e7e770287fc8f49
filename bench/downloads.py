"""Downloads benchmark (run by hand; needs DATABASE_URL on PostgreSQL and REDIS_URL).

1. A 50-song job end to end (start: validate + hold; run: zip 50 files + records + capture),
   against a reference measured in the same run: zipping the same 50 files with no database.
2. POST /api/start-download requests per second through a real local gunicorn on 127.0.0.1
   (bounded: a fixed number of requests), against GET /api/download-jobs/<id> on the same
   server (token auth + one indexed read) as the reference.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gb_downloads REDIS_URL=redis://127.0.0.1:6379/4 \
        .venv/bin/python bench/downloads.py [--port 8401] [--requests 300] [--clients 4]
"""

import argparse
import http.client
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MEDIA = Path(tempfile.mkdtemp(prefix="gb-bench-media-"))
os.environ["MEDIA_ROOT"] = str(MEDIA)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# gunicorn refuses the published development key outside DEBUG (config/wsgi.py).
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ["LOG_LEVEL"] = "WARNING"


def setup():
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to PostgreSQL.")
    call_command("migrate", verbosity=0)


def make_catalog(n, tag):
    from django.core.files.base import ContentFile

    from downloads import services
    from downloads.demo import song_wav

    return [
        services.item_create(title=f"Bench {tag} {i}", kind="song", file=ContentFile(song_wav(i), name=f"b{i}.wav"))
        for i in range(n)
    ]


def funded_user(tag, credits):
    from decimal import Decimal

    from accounts.models import User
    from wallet import services as wallet
    from wallet.models import SystemAccount

    user = User.objects.create_user(f"bench-{tag}-{time.time_ns()}@example.com", "4829")
    wallet.transfer_post(
        from_account=wallet.system_account(name=SystemAccount.ISSUANCE),
        to_account=wallet.user_account(user_id=user.pk),
        amount=int(Decimal(credits) * 100),
        kind="purchase",
        idempotency_key=f"bench:{user.pk}",
    )
    return user


def bench_job(rounds):
    from downloads import services
    from downloads.models import item_storage

    tag = time.time_ns()
    songs = make_catalog(50, tag)
    ids = [s.pk for s in songs]
    storage = item_storage()
    job_times, ref_times = [], []
    for _ in range(rounds):
        user = funded_user("job", "100")
        t0 = time.perf_counter()
        started = services.job_start(user=user, requested_songs=50, item_ids=ids)
        job = services.job_run(job_id=started.job.pk)
        job_times.append(time.perf_counter() - t0)
        assert job.status == "completed" and job.credits_charged == 50 * 35, job
        t0 = time.perf_counter()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for s in songs:
                with storage.open(s.file.name, "rb") as f:
                    z.writestr(f"{s.pk}.wav", f.read())
        storage.save(f"downloads/bench/{time.time_ns()}.zip", io.BytesIO(buf.getvalue()))
        ref_times.append(time.perf_counter() - t0)
    return statistics.median(job_times), statistics.median(ref_times)


def hammer(port, method, path, body, headers, total, clients):
    per = total // clients
    latencies, errors = [], []
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local = []
        for _ in range(per):
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            local.append(time.perf_counter() - t0)
            if resp.status >= 400:
                with lock:
                    errors.append(resp.status)
        conn.close()
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, errors


def bench_http(port, total, clients):
    from accounts.services import api_session_create
    from downloads import services

    make_catalog(20, f"http{time.time_ns()}")
    user = funded_user("http", "100000")
    _, token = api_session_create(user=user, ip=None, user_agent="bench")
    job = services.job_start(user=user, requested_songs=1).job
    env = dict(os.environ)
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/api/openapi.json")
                break
            except OSError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        hammer(port, "GET", f"/api/download-jobs/{job.public_id}", None, headers, 40, 2)  # warm up
        ref = hammer(port, "GET", f"/api/download-jobs/{job.public_id}", None, headers, total, clients)
        body = json.dumps({"requested_songs": 5})
        start = hammer(port, "POST", "/api/start-download", body, headers, total, clients)
    finally:
        proc.terminate()
        proc.wait(10)
    return start, ref


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8401)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    setup()
    job_s, ref_s = bench_job(args.rounds)
    print(f"50-song job end to end (start + run, median of {args.rounds}): {job_s * 1000:.0f} ms")
    print(f"  reference, zipping the same 50 files with no database: {ref_s * 1000:.0f} ms")
    (start_rps, start_ms, start_err), (ref_rps, ref_ms, ref_err) = bench_http(args.port, args.requests, args.clients)
    print(f"POST /api/start-download: {start_rps:.0f} req/s, median {start_ms:.1f} ms, errors {len(start_err)}")
    print(
        f"  reference GET /api/download-jobs/<id>: {ref_rps:.0f} req/s, median {ref_ms:.1f} ms, errors {len(ref_err)}"
    )
    print(f"  start-download costs {ref_rps / start_rps:.1f}x the reference request")


if __name__ == "__main__":
    main()
