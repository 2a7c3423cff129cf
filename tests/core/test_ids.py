"""Event ids: random, except in a derived block, where a seed makes the same ids again."""

from __future__ import annotations

import threading

from loopml.core.ids import derived_event_ids, derived_id, is_hex_id, new_event_id


def test_event_ids_are_random_outside_a_derived_block() -> None:
    ids = {new_event_id() for _ in range(100)}
    assert len(ids) == 100 and all(is_hex_id(i) for i in ids)


def test_a_seed_makes_the_same_ids_in_the_same_order_each_time() -> None:
    with derived_event_ids("ada\0POST\0/runs\0k1") as first:
        made = [new_event_id() for _ in range(3)]
    with derived_event_ids("ada\0POST\0/runs\0k1"):
        again = [new_event_id() for _ in range(3)]
    assert made == again and made[0] == first == derived_id("ada\0POST\0/runs\0k1")
    assert len(set(made)) == 3 and all(is_hex_id(i) for i in made)
    with derived_event_ids("bob\0POST\0/runs\0k1"):  # another caller, the same key
        assert new_event_id() != first
    assert new_event_id() not in made  # the block ended: random again


def test_a_block_covers_its_own_thread_only() -> None:
    seen: list[str] = []
    with derived_event_ids("seed") as first:
        worker = threading.Thread(target=lambda: seen.append(new_event_id()))
        worker.start()
        worker.join()
    assert seen[0] != first
