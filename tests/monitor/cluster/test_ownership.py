"""Ownership by rendezvous hashing: one owner per check among the live nodes, the same on
every machine, and a change of the live set moves only what it must."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cluster.ownership import check_key, owned, owner, weight

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=12)
node_sets = st.lists(names, min_size=1, max_size=7, unique=True)
key_lists = st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=60, unique=True)


def keys(n: int) -> list[str]:
    return [check_key(f"service-{i // 10}", f"check-{i % 10}") for i in range(n)]


@given(key_lists, node_sets)
def test_each_key_has_exactly_one_owner_among_the_live_nodes(all_keys, live):
    shares = {node: owned(all_keys, node, live) for node in live}
    for key in all_keys:
        holders = [node for node, share in shares.items() if key in share]
        assert holders == [owner(key, live)]
        assert holders[0] in live


@given(key_lists, node_sets)
def test_the_order_of_the_live_nodes_does_not_matter(all_keys, live):
    for key in all_keys:
        assert owner(key, live) == owner(key, list(reversed(live))) == owner(key, set(live))


@given(key_lists, node_sets, st.data())
def test_when_a_node_leaves_only_its_keys_move(all_keys, live, data):
    if len(live) < 2:
        live = [*live, live[0] + "-2"]
    gone = data.draw(st.sampled_from(live))
    rest = [n for n in live if n != gone]
    for key in all_keys:
        before, after = owner(key, live), owner(key, rest)
        if before != gone:
            assert after == before


@given(key_lists, node_sets, names)
def test_when_a_node_joins_keys_move_only_to_it(all_keys, live, new):
    if new in live:
        return
    for key in all_keys:
        before, after = owner(key, live), owner(key, [*live, new])
        assert after in (before, new)


def test_a_join_moves_about_one_key_in_n():
    all_keys = keys(30_000)
    three = ["node-a", "node-b", "node-c"]
    moved = sum(owner(k, three) != owner(k, [*three, "node-d"]) for k in all_keys)
    # a quarter of the keys go to the fourth node; 4 standard deviations is about 1 %
    assert abs(moved / len(all_keys) - 1 / 4) < 0.01, moved


def test_30000_checks_on_3_nodes_are_shared_within_3_percent():
    counts = Counter(owner(k, ["node-a", "node-b", "node-c"]) for k in keys(30_000))
    assert sorted(counts) == ["node-a", "node-b", "node-c"]
    for node, count in counts.items():
        assert abs(count - 10_000) < 300, (node, count)


def test_a_node_that_is_not_live_owns_nothing():
    assert owned(keys(50), "node-z", ["node-a", "node-b"]) == []
    assert owned(keys(50), "node-a", []) == []


def test_nobody_owns_a_check_when_no_node_is_live():
    with pytest.raises(ValueError, match="no live node"):
        owner("web/home", [])


def test_the_key_of_a_check():
    assert check_key("web", "home") == "web/home"


@settings(max_examples=50)
@given(st.text(max_size=20), names)
def test_the_weight_is_64_bits(key, node):
    assert 0 <= weight(key, node) < 2**64


def test_the_weights_are_the_same_in_every_process():
    # Python's hash() of a str changes with each process (PYTHONHASHSEED): the owners
    # must not, or two nodes would disagree
    sample = keys(200)
    program = ("from monitor.cluster.ownership import owner\n"
               f"print([owner(k, ['node-a', 'node-b', 'node-c']) for k in {sample!r}])")
    seen = {subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2", "3")}
    assert seen == {str([owner(k, ["node-a", "node-b", "node-c"]) for k in sample]) + "\n"}
