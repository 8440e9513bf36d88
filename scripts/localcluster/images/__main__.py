"""CLI: `python -m scripts.localcluster.images [--only NAME ...] [--cache-dir DIR] [--json]` builds the images."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .build import DEFAULT_CACHE_DIR, IMAGES, ImageBuildError, build_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.localcluster.images", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(IMAGES),
        metavar="NAME",
        help=f"build only this image (repeatable): {', '.join(IMAGES)}",
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="default: %(default)s")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="images: %(message)s", stream=sys.stderr)
    try:
        results = build_images(args.cache_dir, args.only)
    except ImageBuildError as exc:
        print(f"images: build failed: {exc}", file=sys.stderr)
        return 1
    for r in results:
        if args.json:
            print(
                json.dumps(
                    {
                        "ref": r.ref,
                        "archive": str(r.archive),
                        "cached": r.cached,
                        "seconds": round(r.seconds, 1),
                        "rootfs_bytes": r.rootfs_bytes,
                        "archive_bytes": r.archive_bytes,
                    }
                )
            )
        else:
            state = "cached" if r.cached else "built"
            print(
                f"{r.ref:36} {state:6} {r.seconds:6.1f}s  rootfs {r.rootfs_bytes / 2**20:6.0f} MiB  "
                f"archive {r.archive_bytes / 2**20:6.0f} MiB  {r.archive}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
