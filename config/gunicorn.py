"""gunicorn settings for the site's HTTP (`gunicorn -c config/gunicorn.py config.wsgi`): what the
compose files run and what the benchmarks and the load test measure (bench/accounts.py,
bench/loadtest/run.py), so a figure measured is a figure shipped. The live-update sockets (/ws/)
stay on daphne (config.asgi); nginx sends /ws/ there and everything else here.

Why threads (gthread): much of a request's wall time is a wait on PostgreSQL or Redis, during
which a sync worker's process has nothing to run; a few threads per process overlap those waits,
and bcrypt (sign-in) releases the GIL, so sign-ins do not queue behind each other within a
process. gthread also keeps client connections alive (nginx's upstream keepalive, an app's HTTP
client), where a sync worker closes every connection after one answer. One process per core,
since Python computes under the GIL. Measured with the load test (50 clients, no think time, same
code, a shared 2-core machine): 4 threads 65 req/s, sync 38, 2 threads 54, 8 threads 62.

Environment: WEB_CONCURRENCY (processes; default one per CPU), GUNICORN_WORKER_CLASS (default
gthread; "sync" to compare), GUNICORN_THREADS (per process; default 4), GUNICORN_BIND (default
0.0.0.0:8000), GUNICORN_ACCESS_LOG ("-" for stdout; default off), GUNICORN_KEEPALIVE (seconds an
idle kept-alive connection waits; default 5).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "0")) or os.cpu_count() or 1
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# A request that takes longer than this is stuck: the worker is replaced and the client gets a 502.
timeout = 60
graceful_timeout = 30
