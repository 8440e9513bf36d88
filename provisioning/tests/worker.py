"""A separate worker process for the provisioning tests: holds a semaphore slot or drives a breaker, so shared
Redis state is exercised across real OS processes (run as `python -m provisioning.tests.worker <command> ...`)."""

import os
import sys


def main(argv: list[str]) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from core.redis import get_redis, key
    from provisioning import breaker
    from provisioning.concurrency import Semaphore
    from provisioning.errors import CommandFailed, CommandTimedOut

    command, *args = argv
    client = get_redis()
    if command == "hold":
        # hold <semaphore> <max> <lease seconds> <events list> <release list>: take a slot, log +pid, wait for a
        # release message (or forever), log -pid, release.
        name, max_concurrent, lease, events, release = args
        semaphore = Semaphore(name, max_concurrent=int(max_concurrent), lease_seconds=float(lease), queue_timeout=60)
        with semaphore.slot(label=f"pid-{os.getpid()}"):
            client.rpush(key(events), f"+{os.getpid()}")
            while not client.blpop([key(release)], timeout=1):
                pass
            client.rpush(key(events), f"-{os.getpid()}")
    elif command == "breaker":
        # breaker <name> <outcome> <count>: make count calls through the breaker that end in outcome.
        name, outcome, count = args
        for _ in range(int(count)):
            try:
                with breaker.guard(name):
                    if outcome == "timeout":
                        raise CommandTimedOut(argv=["helm"], timeout=1)
                    if outcome == "refused":
                        raise CommandFailed(argv=["helm"], returncode=1, stderr_tail="Error: chart says no")
            except (CommandTimedOut, CommandFailed):
                pass
        print(breaker.stats(name)["state"])
    elif command == "state":
        print(breaker.stats(args[0])["state"])
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
