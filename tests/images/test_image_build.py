"""The image build itself: the contract's refs/users/ports, the content-hash cache, the committed Medusa lockfile,
the stand-ins' labels, the docker-archive format, and that a failed build leaves no mount or half-built image."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from scripts.localcluster.images import build

CONTRACT = {  # ref -> (user, exposed port) from the shared contract
    "storeplane.local/toolbox:local": ("65534:65534", None),
    "storeplane.local/mariadb:local": ("999:999", 3306),
    "storeplane.local/postgres:local": ("999:999", 5432),
    "storeplane.local/wordpress:local": ("33:33", 8080),
    "storeplane.local/medusa:local": ("1000:1000", 9000),
    "storeplane.local/storefront:local": ("101:101", 8080),
    "storeplane.local/platform:local": ("10001:10001", 8000),  # ours (charts/storeplane), as the Dockerfile's user
}
IMAGES_DIR = Path(build.__file__).resolve().parent


def test_every_contract_image_has_its_user_and_port():
    assert {spec.ref for spec in build.IMAGES.values()} == set(CONTRACT)
    for spec in build.IMAGES.values():
        user, port = CONTRACT[spec.ref]
        changes = build._changes(spec)
        assert f"USER {user}" in changes
        assert [c for c in changes if c.startswith("EXPOSE")] == ([f"EXPOSE {port}/tcp"] if port else [])
    medusa_env = dict(build.IMAGES["medusa"].env)
    assert medusa_env["MEDUSA_DISABLE_TELEMETRY"] == "true"
    assert medusa_env["PATH"].startswith("/app/node_modules/.bin:")
    assert dict(build.IMAGES["postgres"].env)["PGDATA"] == "/var/lib/postgresql/data/pgdata"


def test_image_key_is_stable_and_changes_with_each_input(tmp_path, monkeypatch):
    shutil.copytree(IMAGES_DIR / "mariadb", tmp_path / "mariadb")
    monkeypatch.setattr(build, "HERE", tmp_path)
    spec = build.IMAGES["mariadb"]
    key = build.image_key(spec)
    assert build.image_key(spec) == key

    entrypoint = tmp_path / "mariadb/rootfs/usr/local/bin/storeplane-entrypoint"
    entrypoint.write_text(entrypoint.read_text() + "\n# changed\n")
    edited = build.image_key(spec)
    assert edited != key
    entrypoint.chmod(0o644)
    assert build.image_key(spec) not in (key, edited)

    other = build.ImageSpec(**{**spec.__dict__, "packages": (*spec.packages, "less")})
    assert build.image_key(other) != build.image_key(spec)


def test_the_build_code_in_the_key_ignores_formatting_and_the_images_table(tmp_path, monkeypatch):
    source = Path(build.__file__).read_text()
    copy = tmp_path / "build.py"
    monkeypatch.setattr(build, "__file__", str(copy))

    def key_of(text: str) -> bytes:
        copy.write_text(text)
        return build._build_code()

    key = key_of(source)
    assert 'packages=("mariadb-server",)' in source and "APT_TIMEOUT = 900" in source and "\nHERE = " in source
    # A comment, blank lines, or another image's spec: no image is rebuilt for those.
    assert key_of(source.replace("\nHERE = ", "\n# a comment\n\n\nHERE = ", 1)) == key
    assert key_of(source.replace('packages=("mariadb-server",)', 'packages=("mariadb-server", "less")', 1)) == key
    # The build code itself: every image is rebuilt.
    assert key_of(source.replace("APT_TIMEOUT = 900", "APT_TIMEOUT = 901", 1)) != key


def test_medusa_lockfile_pins_typeorm_and_medusa_1_20():
    package = json.loads((IMAGES_DIR / "medusa/package.json").read_text())
    lock = json.loads((IMAGES_DIR / "medusa/package-lock.json").read_text())
    assert package["dependencies"]["typeorm"] == "0.3.16"
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    typeorms = {k: v["version"] for k, v in lock["packages"].items() if k.endswith("node_modules/typeorm")}
    assert typeorms == {"node_modules/typeorm": "0.3.16"}
    assert lock["packages"]["node_modules/@medusajs/medusa"]["version"].startswith("1.20.")
    # Every locked package carries an integrity hash, so `npm ci` installs exactly these bytes.
    assert all("integrity" in v for k, v in lock["packages"].items() if k and not v.get("link"))


def test_stand_ins_say_they_are_stand_ins():
    seed = IMAGES_DIR / "wordpress/rootfs/usr/local/share/storeplane/wp-content-seed"
    plugin = (seed / "plugins/woocommerce/woocommerce.php").read_text()
    assert "Plugin Name: WooCommerce (LOCAL STAND-IN for tests - not WooCommerce)" in plugin
    for slug, name in (("storefront", "Storefront"), ("astra", "Astra")):
        style = (seed / f"themes/{slug}/style.css").read_text()
        assert f"Theme Name: {name} (LOCAL STAND-IN for tests - not the {name} theme)" in style
        assert (seed / f"themes/{slug}/index.php").is_file()


@pytest.mark.images
def test_archives_are_docker_archives_with_the_contract_config(built_images):
    for result in built_images.values():
        with tarfile.open(result.archive) as archive:
            [manifest] = json.load(archive.extractfile("manifest.json"))
            config = json.load(archive.extractfile(manifest["Config"]))["config"]
        assert manifest["RepoTags"] == [result.ref]
        user, port = CONTRACT[result.ref]
        assert config["User"] == user
        assert list(config.get("ExposedPorts") or {}) == ([f"{port}/tcp"] if port else [])


@pytest.mark.images
def test_second_build_reuses_every_cached_archive(built_images, image_cache_dir):
    mtimes = {ref: r.archive.stat().st_mtime_ns for ref, r in built_images.items()}
    again = build.build_all(image_cache_dir)
    assert again == {r.ref: r.archive for r in built_images.values()}
    assert {name: r.archive.stat().st_mtime_ns for name, r in built_images.items()} == mtimes
    assert all(r.cached for r in build.build_images(image_cache_dir))


@pytest.mark.images
def test_failed_build_unmounts_proc_and_leaves_no_image(built_images, image_cache_dir):
    spec = build.ImageSpec(name="broken-imgtest", packages=("storeplane-no-such-package",), user="0:0")
    with pytest.raises(build.ImageBuildError, match="broken-imgtest: apt-get install: exit 100"):
        build.build_image(spec, image_cache_dir)
    work = image_cache_dir / "work" / spec.name
    mounts = Path("/proc/mounts").read_text()
    assert str(work) not in mounts
    assert not work.exists()
    assert list(image_cache_dir.glob("broken-imgtest-*")) == []
