"""Two runs never drive one Mac; a dead run's lease expires by itself."""
from __future__ import annotations

import time

import pytest

from rig.lab import lease


def test_a_second_holder_is_refused_with_who_holds_it(tmp_path):
    lease.acquire(tmp_path, "mbp-01@h:22", "night-1", ttl_s=600)
    with pytest.raises(lease.LeaseBusy, match="leased to run night-1"):
        lease.acquire(tmp_path, "mbp-01@h:22", "adhoc-7", ttl_s=600)


def test_the_same_holder_can_take_it_again_on_resume(tmp_path):
    lease.acquire(tmp_path, "mbp-01@h:22", "night-1", ttl_s=600)
    assert lease.acquire(tmp_path, "mbp-01@h:22", "night-1", ttl_s=600).holder == "night-1"


def test_a_stale_lease_expires_by_itself(tmp_path):
    lease.acquire(tmp_path, "mbp-01@h:22", "crashed-night", ttl_s=0.01)
    time.sleep(0.05)
    assert lease.read(tmp_path, "mbp-01@h:22").stale
    assert lease.acquire(tmp_path, "mbp-01@h:22", "adhoc-7", ttl_s=600).holder == "adhoc-7"


def test_release_only_drops_the_holders_own_lease(tmp_path):
    lease.acquire(tmp_path, "mbp-01@h:22", "night-1", ttl_s=600)
    assert not lease.release(tmp_path, "mbp-01@h:22", "adhoc-7")
    assert lease.read(tmp_path, "mbp-01@h:22") is not None
    assert lease.release(tmp_path, "mbp-01@h:22")  # an operator's release
    assert lease.list_leases(tmp_path) == []


def test_renew_moves_the_expiry(tmp_path):
    first = lease.acquire(tmp_path, "m@h:22", "night-1", ttl_s=1)
    lease.renew(tmp_path, "m@h:22", "night-1", ttl_s=600)
    assert lease.read(tmp_path, "m@h:22").expires > first.expires + 500
