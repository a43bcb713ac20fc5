"""Technician and officer PINs: hashed, verified, locked out after repeated failures."""

import pytest

from station.pin import PinGuard, hash_pin, verify_pin


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_pin("246810")


def test_hash_verifies_only_the_right_pin(stored):
    assert verify_pin("246810", stored)
    assert not verify_pin("246811", stored)
    assert "246810" not in stored and stored.startswith("scrypt$")


def test_two_hashes_of_one_pin_differ():
    assert hash_pin("1234") != hash_pin("1234")


@pytest.mark.parametrize("pin", ["12", "abcd", "1234567890123"])
def test_bad_pins_are_refused(pin):
    with pytest.raises(ValueError, match="4 to 12 digits"):
        hash_pin(pin)


def test_corrupt_stored_hash_is_a_clear_error():
    with pytest.raises(ValueError, match="not a stored PIN hash"):
        verify_pin("1234", "md5$abc")


def test_lockout_after_repeated_failures_and_doubling(stored):
    now = [1000.0]
    guard = PinGuard(stored, max_failures=3, lockout_s=60, clock=lambda: now[0])
    assert guard.check("0000").attempts_left == 2
    assert guard.check("0000").attempts_left == 1
    locked = guard.check("0000")
    assert not locked.accepted and locked.locked_for_s == 60
    # While locked, even the right PIN is refused.
    assert not guard.check("246810").accepted
    now[0] += 61
    assert guard.check("246810").accepted
    for _ in range(3):
        result = guard.check("1111")
    assert result.locked_for_s == 60  # a success resets the escalation
    now[0] += 61
    for _ in range(3):
        result = guard.check("1111")
    assert result.locked_for_s == 120  # a second lockout in a row doubles


def test_enrol_pin_hash_reads_standard_input(monkeypatch, capsys, tmp_path):
    import io

    from enrol.cli import main

    monkeypatch.delenv("ENROL_CONFIG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("97531\n"))
    assert main(["pin", "hash"]) == 0
    stored = capsys.readouterr().out.strip()
    assert verify_pin("97531", stored) and "97531" not in stored
    monkeypatch.setattr("sys.stdin", io.StringIO("12\n"))
    assert main(["--lang", "en", "pin", "hash"]) == 2
    assert "4 to 12 digits" in capsys.readouterr().err
