"""Command line of the local cluster, as the Makefile calls it: `python -m scripts.localcluster SUBCOMMAND`."""

from __future__ import annotations

import argparse
import sys

from .util import ClusterError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.localcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tools", help="install pinned helm and kubectl into .venv/bin")
    sub.add_parser("up", help="start (or reuse) the local cluster; prints the kubeconfig path")
    sub.add_parser("down", help="stop the cluster, unmount, remove guards and state (safe to run twice)")
    sub.add_parser("status", help="one line per component")
    sub.add_parser("images", help="build the local images and import them into the running cluster")
    args = parser.parse_args(argv)
    try:
        if args.command == "tools":
            from .tools import ensure_tools

            for path in ensure_tools():
                print(path)
        elif args.command == "up":
            from .cluster import up

            print(up())
        elif args.command == "down":
            from .cluster import down

            down()
        elif args.command == "status":
            from .cluster import status_lines

            print("\n".join(status_lines()))
        elif args.command == "images":
            from . import localimages
            from .cluster import CONTAINERD_SOCK, read_owner

            images = localimages.wanted_images()
            if read_owner():
                localimages.import_images(CONTAINERD_SOCK, images)
            for ref, path in images.items():
                print(f"{ref} {path}")
    except ClusterError as exc:
        print(f"localcluster {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
