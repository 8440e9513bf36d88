"""The local store images (toolbox, MariaDB, PostgreSQL, WordPress, Medusa) built from Debian and npm packages.

`build.build_all(cache_dir)` returns image ref -> docker-archive tarball; `python -m scripts.localcluster.images`
builds them from the command line. See docs/local-images.md.
"""
