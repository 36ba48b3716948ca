"""Fast ids keep the UUID4 format and never repeat, across threads and forks."""

from __future__ import annotations

import os
import threading
import uuid

from aura.ids import new_id


def test_ids_are_canonical_version_4_uuids() -> None:
    variants = set()
    for _ in range(2000):  # several batches
        text = new_id()
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
        variants.add(text[19])
    # the variant digit keeps its two random bits (RFC 4122 fixes only the top two)
    assert variants == {"8", "9", "a", "b"}


def test_ids_do_not_repeat_across_threads() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [new_id() for _ in range(5000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 40_000


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_id()  # the parent's pool now holds unused ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.close(read)
        os.write(write, ",".join(new_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {new_id() for _ in range(10)}
    assert len(child) == 10
    assert not child & parent
