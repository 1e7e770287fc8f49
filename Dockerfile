FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings_production
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))') \
    DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput
EXPOSE 8000
# HTTP on gunicorn (config/gunicorn.py: threads, kept-alive connections); docker-compose.yml runs
# the live-update sockets (/ws/, config/asgi.py) on daphne in a service of their own.
CMD ["gunicorn", "--config", "config/gunicorn.py", "config.wsgi:application"]
