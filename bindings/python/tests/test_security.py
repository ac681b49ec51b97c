"""Gossip encryption: shared keys, refused intruders, key rotation across
the pool, the keyring file, the encryption policy, the source allow-list
and bad keys."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import List

import pytest

import hearsay
from hearsay import KeyHolders, Status

from conftest import FAST, alive_names, needs, status_of, unique, wait_until

pytestmark = needs("pool_keyring_list")

OLD_RAW = bytes([1]) * 32
OLD = base64.b64encode(OLD_RAW).decode()
NEW = base64.b64encode(bytes([2]) * 32).decode()
NO_SEED = r"none of the \d+ seed addresses answered"


def keyed_cluster(rt: hearsay.Runtime, n: int, keyring_file: Path) -> List[hearsay.Pool]:
    """``n`` pools sharing OLD, converged: the first given it raw with a
    keyring file, the others in base64."""
    base = unique("sec")
    pools = [rt.pool(node_name=f"{base}-0", keys=[OLD_RAW], keyring_file=keyring_file, **FAST)]
    for i in range(1, n):
        p = rt.pool(node_name=f"{base}-{i}", keys=OLD, **FAST)
        assert p.join(pools[0].local_addr) == 1
        pools.append(p)
    names = {p.name for p in pools}
    assert wait_until(lambda: all(alive_names(p) == names for p in pools)), [alive_names(p) for p in pools]
    return pools


def read_keyring(path: Path) -> List[str]:
    return json.loads(path.read_text()) if path.exists() else []


def test_pools_sharing_a_key_join(rt: hearsay.Runtime, tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    pools = keyed_cluster(rt, 3, path)
    # The keyring file was created from the configured key, readable by
    # its owner only.
    assert read_keyring(path) == [OLD]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for p in pools:
        st = p.stats()
        assert st.members_alive == 3
        assert st.dropped_decrypt == 0 and st.dropped_plaintext == 0 and st.dropped_source == 0
        assert st.keyring_file_errors == 0 and st.dropped_overload == 0
        # The struct declared by the binding is read in full.
        assert None not in dataclasses.asdict(st).values(), st


def test_other_key_cannot_join(rt: hearsay.Runtime, tmp_path: Path) -> None:
    pools = keyed_cluster(rt, 2, tmp_path / "keyring.json")
    with rt.pool(node_name=unique("intruder"), keys=[NEW], **FAST) as intruder:
        with pytest.raises(hearsay.NetworkError, match=NO_SEED) as info:
            intruder.join(pools[0].local_addr)
        assert info.value.code_name == "HEARSAY_ERR_IO"
        assert wait_until(lambda: pools[0].stats().dropped_decrypt > 0, 5)
        assert [m.name for m in intruder.members()] == [intruder.name]
    for p in pools:
        assert alive_names(p) == {q.name for q in pools}


def test_plaintext_pool_cannot_join(rt: hearsay.Runtime, tmp_path: Path) -> None:
    pools = keyed_cluster(rt, 2, tmp_path / "keyring.json")
    with rt.pool(node_name=unique("plain"), **FAST) as plain:
        with pytest.raises(hearsay.NetworkError, match=NO_SEED):
            plain.join(pools[0].local_addr)
        assert wait_until(lambda: pools[0].stats().dropped_plaintext > 0, 5)


def test_key_rotation(rt: hearsay.Runtime, tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    pools = keyed_cluster(rt, 3, path)
    names = {p.name for p in pools}

    r = pools[1].keyring_install(NEW)
    assert (r.members, r.responses, r.errors, r.keys) == (3, 3, {}, {})
    assert r.succeeded and r.missing == 0
    r = pools[2].keyring_use(base64.b64decode(NEW))  # raw bytes work too
    assert r.succeeded and r.responses == 3

    # The local primary cannot be removed: refused before asking anyone.
    with pytest.raises(hearsay.InvalidArgumentError, match="primary"):
        pools[0].keyring_remove(NEW)
    r = pools[0].keyring_remove(OLD)
    assert r.succeeded and r.responses == 3

    r = pools[0].keyring_list()
    assert r.succeeded
    assert r.keys == {NEW: KeyHolders(holders=3, primary_of=3)}
    assert r.keys[NEW].primary_of == 3

    # A key nobody holds any more: every member says so.
    r = pools[1].keyring_use(OLD)
    assert not r.succeeded
    assert set(r.errors) == names
    assert all("not installed" in message for message in r.errors.values())

    # The keyring file follows, so a restart would come back with NEW.
    assert wait_until(lambda: read_keyring(path) == [NEW], 5), read_keyring(path)
    for p in pools:
        assert alive_names(p) == names

    # Only the new key gets in now.
    with rt.pool(node_name=unique("old"), keys=OLD, **FAST) as stale:
        with pytest.raises(hearsay.NetworkError, match=NO_SEED):
            stale.join(pools[0].local_addr)
    with rt.pool(node_name=unique("new"), keys=NEW, **FAST) as fresh:
        assert fresh.join(pools[0].local_addr) == 1
        assert wait_until(lambda: status_of(pools[2], fresh.name) is Status.ALIVE, 10)


def test_keyring_file_supplies_the_keys(rt: hearsay.Runtime, tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(json.dumps([NEW, OLD]))
    # The file wins over the configured key: NEW is the primary.
    with rt.pool(node_name=unique("file"), keys=OLD, keyring_file=str(path), **FAST) as p:
        assert p.keyring_list().keys == {NEW: KeyHolders(1, 1), OLD: KeyHolders(1, 0)}
    path.write_text('["AAAA"]')
    with pytest.raises(hearsay.InvalidArgumentError, match="key 0"):
        rt.pool(node_name=unique("bad-file"), keyring_file=path, **FAST)


def test_encryption_policy_migration(rt: hearsay.Runtime) -> None:
    # Step one of a migration: keyed, yet accepting and sending plaintext,
    # so a pool without keys can join.
    with rt.pool(
        node_name=unique("keyed"), keys=OLD, verify_incoming=False, verify_outgoing=False, **FAST
    ) as keyed, rt.pool(node_name=unique("plain"), **FAST) as plain:
        assert plain.join(keyed.local_addr) == 1
        assert wait_until(lambda: alive_names(keyed) == {keyed.name, plain.name}, 10)
        assert keyed.stats().dropped_plaintext == 0
        # Requiring encryption again on the running pool refuses the
        # plaintext pool's packets from then on.
        keyed.set_encryption_policy(verify_incoming=True, verify_outgoing=True)
        assert wait_until(lambda: keyed.stats().dropped_plaintext > 0, 10)
        with pytest.raises(TypeError):
            keyed.set_encryption_policy(1, True)  # type: ignore[arg-type]


def test_allowed_cidrs(rt: hearsay.Runtime) -> None:
    with rt.pool(node_name=unique("fenced"), allowed_cidrs=["10.0.0.0/8"], **FAST) as fenced, rt.pool(
        node_name=unique("open"), allowed_cidrs="127.0.0.0/8", **FAST
    ) as open_, rt.pool(node_name=unique("joiner"), **FAST) as joiner:
        with pytest.raises(hearsay.NetworkError, match=NO_SEED):
            joiner.join(fenced.local_addr)
        assert wait_until(lambda: fenced.stats().dropped_source > 0, 5)
        assert joiner.join(open_.local_addr) == 1
        assert open_.stats().dropped_source == 0


def test_bad_keys_and_networks(rt: hearsay.Runtime) -> None:
    with pytest.raises(hearsay.InvalidArgumentError, match="16, 24 or 32") as info:
        hearsay.Config("local", keys=[bytes(15)])
    assert info.value.code_name == "HEARSAY_ERR_INVALID_ARGUMENT"
    assert isinstance(info.value, ValueError)
    with pytest.raises(hearsay.InvalidArgumentError, match="base64"):
        hearsay.Config("local", keys="not base64!")
    with pytest.raises(hearsay.InvalidArgumentError, match="16, 24 or 32"):
        hearsay.Config("local", keys="AAAA")
    with pytest.raises(TypeError):
        hearsay.Config("local", keys=[42])
    with pytest.raises(hearsay.InvalidArgumentError, match="network"):
        hearsay.Config("local", allowed_cidrs=["10.0.0.0/33"])
    with pytest.raises(TypeError):
        hearsay.Config("local", verify_incoming="no")
    # Keys of every accepted length.
    with hearsay.Config("local") as c:
        for n in (16, 24, 32):
            c.add_key(os.urandom(n))
        c.add_allowed_cidr("::1").set(keyring_file="")

    with rt.pool(node_name=unique("k"), keys=OLD, **FAST) as p:
        with pytest.raises(hearsay.InvalidArgumentError, match="16, 24 or 32"):
            p.keyring_install("AAAA")
        with pytest.raises(hearsay.InvalidArgumentError, match="base64"):
            p.keyring_install("not base64!")
        with pytest.raises(hearsay.InvalidArgumentError, match="16, 24 or 32"):
            p.keyring_use(bytes(20))
        with pytest.raises(TypeError):
            p.keyring_remove(None)  # type: ignore[arg-type]
        p.close()
        with pytest.raises(hearsay.ClosedError):
            p.keyring_list()
        with pytest.raises(hearsay.ClosedError):
            p.set_encryption_policy(True, True)
