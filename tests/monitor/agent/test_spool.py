"""The agent's spool on a real directory: order, bound, cursor, and what a crash leaves."""

from __future__ import annotations

import json
import logging

import pytest

from monitor.agent.spool import STATE, Spool, SpoolLocked, decode, encode


def opened(path, **kwargs) -> Spool:
    spool = Spool(path, **kwargs)
    spool.open()
    return spool


def records(n: int, start: int = 0) -> list[dict]:
    return [{"check": "web/home", "n": start + i} for i in range(n)]


def seqs(pairs) -> list[int]:
    return [seq for seq, _ in pairs]


def segment_files(path) -> list:
    return sorted(path.glob("*.seg"))


def test_results_come_back_in_seq_order_and_seq_continues_after_a_restart(tmp_path):
    spool = opened(tmp_path, segment_records=4)
    assert spool.append(records(3)) == (1, 3)
    assert spool.append(records(7, 3)) == (4, 10)
    waiting = spool.pending(100)
    assert seqs(waiting) == list(range(1, 11))
    assert [json.loads(p)["n"] for _, p in waiting] == list(range(10))
    assert json.loads(waiting[0][1])["seq"] == 1  # the JSON carries its seq
    spool.acknowledge(6)
    assert spool.buffered == 4 and seqs(spool.pending(2)) == [7, 8]
    spool.close()

    again = opened(tmp_path, segment_records=4)
    assert (again.floor, again.acked, again.buffered) == (6, 6, 4)
    assert seqs(again.pending(100)) == [7, 8, 9, 10]
    assert again.append(records(1)) == (11, 11)  # never a seq handed out before
    again.close()


def test_acknowledged_segments_are_deleted(tmp_path):
    spool = opened(tmp_path, segment_records=5)
    spool.append(records(12))
    assert len(segment_files(tmp_path)) == 3
    spool.acknowledge(10)
    assert [p.name for p in segment_files(tmp_path)] == [f"{11:020d}.seg"]
    spool.acknowledge(12)
    spool.close()
    again = opened(tmp_path, segment_records=5)
    assert again.buffered == 0 and again.pending(10) == [] and segment_files(tmp_path) == []
    assert again.append(records(1)) == (13, 13)
    again.close()


def test_beyond_the_bound_the_oldest_are_dropped_and_counted(tmp_path, caplog):
    spool = opened(tmp_path, max_buffered=5, segment_records=3)
    spool.append(records(4))
    assert spool.dropped == 0
    with caplog.at_level(logging.WARNING, "monitor.agent.spool"):
        spool.append(records(4, 4))
    assert spool.buffered == 5 and spool.dropped == 3
    assert seqs(spool.pending(100)) == [4, 5, 6, 7, 8]
    assert "the 3 oldest dropped" in caplog.text
    spool.append(records(2, 8))
    assert seqs(spool.pending(100)) == [6, 7, 8, 9, 10] and spool.dropped == 5
    spool.close()
    again = opened(tmp_path, max_buffered=5, segment_records=3)
    assert again.dropped == 5 and seqs(again.pending(100)) == [6, 7, 8, 9, 10]
    again.close()


def test_a_record_cut_by_a_crash_is_skipped_counted_once_and_its_seq_not_reused(
        tmp_path, caplog):
    spool = opened(tmp_path)
    spool.append(records(3))
    spool.close()
    # a kill -9 in the middle of writing the fourth record
    segment = segment_files(tmp_path)[-1]
    line = encode(4, {"check": "web/home", "n": 3})
    with open(segment, "ab") as handle:
        handle.write(line[: len(line) // 2])

    with caplog.at_level(logging.WARNING, "monitor.agent.spool"):
        again = opened(tmp_path)
    assert seqs(again.pending(100)) == [1, 2, 3]
    assert again.dropped == 1  # the server never gets seq 4: it is told
    assert "unreadable" in caplog.text
    assert again.append(records(1)) == (5, 5)
    again.close()
    third = opened(tmp_path)  # the cut record was removed: not counted again
    assert third.dropped == 1 and seqs(third.pending(100)) == [1, 2, 3, 5]
    third.close()


def test_a_corrupt_record_inside_a_segment_is_skipped_not_fatal(tmp_path):
    spool = opened(tmp_path)
    spool.append(records(5))
    spool.close()
    segment = segment_files(tmp_path)[0]
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"n":2', b'"n":9')  # a flipped byte: the CRC no longer fits
    segment.write_bytes(b"".join(lines))

    again = opened(tmp_path)
    assert seqs(again.pending(100)) == [1, 2, 4, 5] and again.dropped == 1
    assert again.append(records(1)) == (6, 6)
    again.close()


def test_an_acknowledged_record_found_corrupt_is_not_counted_as_dropped(tmp_path):
    spool = opened(tmp_path)
    spool.append(records(5))
    spool.acknowledge(3)
    spool.close()
    segment = segment_files(tmp_path)[0]
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[1] = b"garbage\n"  # seq 2, already acknowledged
    segment.write_bytes(b"".join(lines))
    again = opened(tmp_path)
    assert again.dropped == 0 and seqs(again.pending(100)) == [4, 5]
    again.close()


def test_an_unreadable_cursor_means_sending_again_not_losing(tmp_path):
    spool = opened(tmp_path)
    spool.append(records(4))
    spool.acknowledge(2)
    spool.close()
    (tmp_path / STATE).write_text("{not json")
    again = opened(tmp_path)
    # the segment still holds 1..4 (it is the one that was being written): all sent
    # again, which the server acknowledges as duplicates; seqs go on
    assert seqs(again.pending(100)) == [1, 2, 3, 4]
    assert again.append(records(1)) == (5, 5)
    again.close()


def test_the_oldest_result_can_be_skipped_and_is_counted(tmp_path):
    spool = opened(tmp_path)
    spool.append(records(3))
    with pytest.raises(ValueError):
        spool.skip(2)
    spool.skip(1)
    assert spool.dropped == 1 and seqs(spool.pending(10)) == [2, 3]
    spool.close()


def test_two_agents_cannot_share_a_spool(tmp_path):
    first = opened(tmp_path)
    with pytest.raises(SpoolLocked, match="another vigie agent"):
        opened(tmp_path)
    first.close()
    opened(tmp_path).close()  # released on close


def test_lines_round_trip_and_refuse_damage():
    line = encode(42, {"check": "a/b", "reason": {"fr": "tab\tnewline\n"}})
    assert decode(line) == (42, line.split(b"\t", 1)[1].rsplit(b"\t", 1)[0])
    assert decode(line[:-1]) is None  # cut before its end of line
    assert decode(line.replace(b"a/b", b"a/c")) is None
    assert decode(b"\n") is None and decode(b"x\ty\tzz\n") is None
    with pytest.raises(ValueError):
        encode(1, {"x": float("nan")})
