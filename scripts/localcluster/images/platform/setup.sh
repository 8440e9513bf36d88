# Runs in the platform image chroot after the packages: the staged wheels go into /opt/venv (no index: only the
# pinned wheels staged from requirements.txt), the staged app into /app, collectstatic as the Dockerfile runs it,
# and the staging area is removed. Without staged sources (a cluster `up` before `make platform-image`) the image
# is marked unstaged and its entrypoint refuses to start.
stage=/opt/storeplane-stage
if [ ! -f "$stage/app.tar" ]; then
    echo "platform: nothing staged under $stage; building an image that refuses to start"
    mkdir -p /app && echo unstaged > /app/UNSTAGED
    rm -rf "$stage"
    exit 0
fi
python3 -m venv /opt/venv
/opt/venv/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check --find-links "$stage/wheels" \
    -r "$stage/requirements.txt" async-timeout
/opt/venv/bin/pip uninstall -q -y pip setuptools 2>/dev/null || true
mkdir -p /app
tar -C /app --no-same-owner -xf "$stage/app.tar"
chown -R root:root /app
chmod -R u=rwX,go=rX /app
rm -rf "$stage"
# collectstatic as production will (DEBUG off, WhiteNoise's manifest written), with throwaway build-time keys.
cd /app
DJANGO_DEBUG=false DJANGO_ENV_FILE=/nonexistent \
    DJANGO_SECRET_KEY="$(/opt/venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    CREDENTIALS_ENCRYPTION_KEY="$(/opt/venv/bin/python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    /opt/venv/bin/python manage.py collectstatic --noinput --skip-checks -v 0
# The bundled Redis of a demo install runs this image's redis-server with the config the chart mounts.
rm -f /etc/redis/redis.conf; rm -rf /var/log/redis /var/lib/redis/*
# Bytecode now: at run time the root filesystem is read-only, and every start would compile again.
/opt/venv/bin/python -m compileall -q -j 0 /app /opt/venv >/dev/null
install -d -o 10001 -g 10001 /srv/metrics
/usr/local/bin/helm version --template '{{.Version}}' >/dev/null
/usr/local/bin/kubectl version --client -o json >/dev/null
test -f /app/charts/ecommerce-store/Chart.yaml
