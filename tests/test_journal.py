"""The journal as a reader sees it: whole records only, whatever happened to the writer."""
from __future__ import annotations

import errno
import os
import pytest

from rig import journal as jmod
from rig.journal import Journal, JournalError, read_journal


def test_a_torn_last_record_is_set_aside_before_a_resumed_run_appends(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"type":"cycle_start","mac":"m","cycle":1}\n{"type":"cycle_end","mac":"m","cyc')
    j = Journal(path)
    j.append({"type": "cycle_start", "mac": "m", "cycle": 2})
    j.close()
    records, torn = read_journal(path)
    assert [r["cycle"] for r in records] == [1, 2]          # the resumed record is whole
    assert torn == 1 and j.torn == 1
    assert (tmp_path / "journal.jsonl.torn").read_bytes() == b'{"type":"cycle_end","mac":"m","cyc\n'
    assert path.read_bytes().endswith(b'"cycle":2}\n')


def test_a_clean_journal_is_left_as_it_is(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"type":"step"}\n')
    assert Journal(path).torn == 0
    assert not (tmp_path / "journal.jsonl.torn").exists()
    assert read_journal(path) == ([{"type": "step"}], 0)


def test_a_short_write_is_finished_not_lost(tmp_path, monkeypatch):
    real = os.write
    monkeypatch.setattr(jmod.os, "write", lambda fd, data: real(fd, bytes(data[:7])))   # 7 bytes a call
    j = Journal(tmp_path / "j.jsonl")
    j.append({"type": "offset", "host": "mbp-01", "offset": 1.25})
    j.close()
    assert read_journal(tmp_path / "j.jsonl") == ([{"type": "offset", "host": "mbp-01", "offset": 1.25}], 0)


def test_a_full_disk_is_a_journal_error_naming_the_file(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    j = Journal(tmp_path / "j.jsonl")
    monkeypatch.setattr(jmod.os, "write", full)
    with pytest.raises(JournalError, match=r"j\.jsonl: cannot append a record: No space left") as e:
        j.append({"type": "step"})
    assert e.value.errno == errno.ENOSPC


def test_json_that_is_no_record_is_counted_bad_and_never_reaches_a_reader(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"type":"cycle_start","mac":"m","cycle":1}\n1\n"x"\n[1,2]\nnull\n'
                     b'{"type":"cycle_end","mac":"m","cycle":1,"outcome":"ok"}\n')
    records, bad = read_journal(path)
    assert bad == 4 and [r["type"] for r in records] == ["cycle_start", "cycle_end"]
    assert jmod.cycles_from_journal(records)[("m", 1)]["outcome"] == "ok"
    (tmp_path / "journal.jsonl").rename(tmp_path / "j2")
    (tmp_path / "journal.jsonl").write_bytes((tmp_path / "j2").read_bytes())
    assert jmod.read_run_journal(tmp_path) == (records, 4)
