"""Bad inputs to every ``enrol`` sub-command: each ends in a message naming its cause and a non-zero exit
status, never in a Python traceback (ARCHITECTURE rule 9, issue 13 "The CLI never prints a traceback").

Each row of :data:`ROWS` is a command line, built in the test's folder with whatever bad file or folder
it needs, and the words its message must contain.  A few bad inputs are repaired rather than refused
(a corrupt outbox database is set aside and rebuilt from the packet files): those rows succeed, and
say what they repaired.  Every row runs in-process through ``enrol.cli.main``;
the rows marked ``subprocess`` also run through the installed ``enrol`` script, which proves the real
entry point (and is the only safe way for the kiosk, which may re-execute itself under Xvfb).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from enrol.cli import main
from enrol.commands import EXIT_OK, EXIT_SOFTWARE

ENROL = Path(sys.executable).with_name("enrol")


def _station(tmp_path: Path, extra: str = "", *, data_dir: Path | None = None, simulated: bool = True) -> Path:
    """A station file with its data in the test's folder (or in ``data_dir``), plus ``extra`` TOML."""
    path = tmp_path / "station.toml"
    data = data_dir or tmp_path / "data"
    path.write_text(f'[station]\nid = "TEST-01"\nsimulated = {str(simulated).lower()}\n'
                    f'[paths]\ndata_dir = "{data}"\n{extra}', encoding="utf-8")
    return path


def _r30x(setting: str) -> Callable[[Path], list[str]]:
    """``diag`` on a station whose R30x scanner has one bad setting."""
    def argv(tmp_path: Path) -> list[str]:
        scanner = f'[devices.fingerprint]\nmodel = "r30x"\nport = "/dev/ttyUSB0"\n{setting}\n'
        return ["--config", str(_station(tmp_path, scanner, simulated=False)), "diag"]
    return argv


def _unwritable(tmp_path: Path) -> Path:
    """A data directory the station cannot create.

    As a user: inside a folder without write permission.  As root, which ignores permissions: under a
    regular file, which no one can make a folder in.
    """
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        return locked / "data"
    (tmp_path / "a-file").write_text("not a folder\n")
    return tmp_path / "a-file" / "data"


def _with_unwritable_data(*command: str) -> Callable[[Path], list[str]]:
    def argv(tmp_path: Path) -> list[str]:
        return ["--config", str(_station(tmp_path, data_dir=_unwritable(tmp_path))), *command]
    return argv


def _config_file(content: bytes) -> Callable[[Path], list[str]]:
    """``diag`` with a configuration file holding ``content``."""
    def argv(tmp_path: Path) -> list[str]:
        path = tmp_path / "station.toml"
        path.write_bytes(content)
        return ["--config", str(path), "diag"]
    return argv


def _unreadable_config(tmp_path: Path) -> list[str]:
    """A configuration file that cannot be read: no read permission, or as root a file whose read fails
    (``/proc/self/mem`` at offset 0 is unmapped memory: EIO)."""
    if os.geteuid() == 0:
        return ["--config", "/proc/self/mem", "diag"]
    path = _station(tmp_path)
    path.chmod(0)
    return ["--config", str(path), "diag"]


def _folder(tmp_path: Path, name: str, *, files: dict[str, bytes] | None = None, folders: tuple[str, ...] = ()) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file_name, content in (files or {}).items():
        (folder / file_name).write_bytes(content)
    for sub in folders:
        (folder / sub).mkdir()
    return folder


def _corrupt_outbox(tmp_path: Path) -> list[str]:
    config = _station(tmp_path)
    (tmp_path / "data" / "outbox").mkdir(parents=True)
    (tmp_path / "data" / "outbox" / "outbox.sqlite").write_bytes(os.urandom(4096))
    return ["--config", str(config), "outbox", "status"]


def _passphrase(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text("station passphrase\n", encoding="utf-8")
    return path


def _receiver_file(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "receiver.toml"
    path.write_text(f"[receiver]\ndata_dir = \"{tmp_path / 'receiver'}\"\n{table}", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Row:
    """One bad input: its command line (made in the test's folder), the words that name its cause."""

    name: str
    argv: Callable[[Path], list[str]]
    cause: str
    repaired: bool = False
    """The command repairs the input, says so and succeeds, instead of refusing it."""
    stdin: str = ""
    subprocess: bool = False
    in_process: bool = True


def _fixed(*argv: str) -> Callable[[Path], list[str]]:
    return lambda _tmp_path: list(argv)


ROWS = [
    # R30x settings (validated at load by station.config's schema)
    Row("r30x-baudrate-0", _r30x("baudrate = 0"), "baudrate"),
    Row("r30x-baudrate-negative", _r30x("baudrate = -1"), "baudrate"),
    Row("r30x-baudrate-string", _r30x('baudrate = "57600"'), "baudrate", subprocess=True),
    Row("r30x-baudrate-huge", _r30x("baudrate = 99999999999"), "baudrate"),
    Row("r30x-address-negative", _r30x("address = -5"), "address"),
    Row("r30x-password-string", _r30x('password = "secret"'), "password"),
    # capture policies (validated by the same schema)
    Row("face-policy-boolean-string", lambda tmp_path: [
        "--config", str(_station(tmp_path, '[capture.face]\nuse_68_points = "no"\n')), "diag"], "use_68_points"),
    Row("face-policy-range-reversed", lambda tmp_path: [
        "--config", str(_station(tmp_path, "[capture.face]\nhead_size = [0.5, 0.2]\n")), "diag"], "head_size"),
    Row("finger-threshold-over-100", lambda tmp_path: [
        "--config", str(_station(tmp_path, "[capture.fingers]\nthreshold = 101\n")), "diag"], "threshold"),
    # an unwritable data directory
    Row("outbox-status-unwritable", _with_unwritable_data("outbox", "status"), "data"),
    Row("outbox-upload-unwritable", _with_unwritable_data("outbox", "upload"), "data"),
    Row("pki-dev-unwritable", _with_unwritable_data("pki", "dev"), "data", subprocess=True),
    Row("kiosk-unwritable", _with_unwritable_data("kiosk", "--sim"), "data", subprocess=True, in_process=False),
    # configuration files that are not configuration files
    Row("config-unreadable", _unreadable_config, "station.toml" if os.geteuid() else "/proc/self/mem"),
    Row("config-not-utf8", _config_file('[station]\nid = "Nghệ An"\n'.encode("utf-16")), "UTF-8"),
    Row("config-binary", _config_file(bytes(range(256)) * 4), "station.toml", subprocess=True),
    Row("config-is-a-folder", lambda tmp_path: ["--config", str(_folder(tmp_path, "conf.d")), "diag"], "conf.d"),
    Row("config-missing", lambda tmp_path: ["--config", str(tmp_path / "nope.toml"), "diag"], "nope.toml"),
    Row("config-not-toml", _config_file(b"[station\nid = 1\n"), "TOML"),
    Row("config-unknown-section", lambda tmp_path: ["--config", str(_station(tmp_path, "[printers]\n")), "diag"],
        "printers"),
    Row("config-typo-key", lambda tmp_path: ["--config", str(_station(tmp_path, "[outbox]\nreceiver_ulr = 'x'\n")),
                                             "diag"], "receiver_ulr"),
    Row("config-bad-log-level", lambda tmp_path: ["--config", str(_station(tmp_path, "[logging]\nlevel = 'LOUD'\n")),
                                                  "diag"], "level"),
    Row("config-unknown-device-kind", lambda tmp_path: [
        "--config", str(_station(tmp_path, '[devices.scanner]\nmodel = "r30x"\n')), "diag"], "scanner"),
    # read-card
    Row("read-card-trust-missing", lambda tmp_path: ["read-card", "--sim", "--trust", str(tmp_path / "no-csca")],
        "no-csca"),
    Row("read-card-chunk-0", _fixed("read-card", "--sim", "--chunk", "0"), "--chunk"),
    Row("read-card-chunk-too-big", _fixed("read-card", "--sim", "--chunk", "0x1000"), "--chunk"),
    Row("read-card-chunk-not-a-number", _fixed("read-card", "--sim", "--chunk", "lots"), "--chunk"),
    Row("read-card-negative-timeout", _fixed("read-card", "--sim", "--timeout", "-5"), "--timeout"),
    Row("read-card-bad-mrz-info", _fixed("read-card", "--sim", "--mrz-info", "C123"), "--mrz-info"),
    Row("read-card-id-without-dates", _fixed("read-card", "--sim", "--id", "001099012345"), "--birth"),
    # capture-finger, capture-face
    Row("capture-finger-out-txt", lambda tmp_path: ["capture-finger", "--sim", "--out", str(tmp_path / "x.txt")],
        "x.txt"),
    Row("capture-finger-replay-missing", lambda tmp_path: ["capture-finger", "--replay", "/nope", "--out",
                                                           str(tmp_path / "x.png")], "/nope", subprocess=True),
    Row("capture-finger-replay-empty", lambda tmp_path: ["capture-finger", "--replay", str(_folder(tmp_path, "rec")),
                                                         "--out", str(tmp_path / "x.png")], "rec"),
    Row("capture-finger-out-folder-missing", lambda tmp_path: [
        "capture-finger", "--sim", "--out", str(tmp_path / "no-such-folder" / "x.png")], "no-such-folder"),
    Row("capture-finger-negative-timeout", lambda tmp_path: [
        "capture-finger", "--sim", "--timeout", "-1", "--out", str(tmp_path / "x.png")], "--timeout"),
    Row("capture-face-zero-timeout", lambda tmp_path: [
        "capture-face", "--sim", "--timeout", "0", "--out", str(tmp_path / "x.jpg")], "--timeout"),
    Row("capture-face-out-png", lambda tmp_path: ["capture-face", "--sim", "--out", str(tmp_path / "x.png")],
        "x.png"),
    Row("capture-face-unknown-scene", lambda tmp_path: [
        "capture-face", "--sim", "--scene", "moonlight", "--out", str(tmp_path / "x.jpg")], "moonlight"),
    # receiver
    Row("receiver-serve-port-99999", _fixed("receiver", "serve", "--port", "99999"), "99999", subprocess=True),
    Row("receiver-serve-port-0", _fixed("receiver", "serve", "--port", "0"), "--port"),
    Row("receiver-serve-missing-certificates", lambda tmp_path: [
        "receiver", "--receiver-config", str(_receiver_file(tmp_path, f'tls_certificate = "{tmp_path}/tls.pem"\n'
                                                                      f'tls_key = "{tmp_path}/tls.key"\n')),
        "serve"], "tls.pem"),
    Row("receiver-config-missing", lambda tmp_path: [
        "receiver", "--receiver-config", str(tmp_path / "nope.toml"), "import", str(_folder(tmp_path, "stick"))],
        "nope.toml"),
    Row("receiver-config-typo", lambda tmp_path: [
        "receiver", "--receiver-config", str(_receiver_file(tmp_path, "prot = 8443\n")), "serve"], "prot"),
    Row("receiver-import-folder-named-p7m", lambda tmp_path: [
        "receiver", "import", str(_folder(tmp_path, "stick", folders=("X.p7m",)))], "X.p7m"),
    Row("receiver-import-missing", lambda tmp_path: ["receiver", "import", str(tmp_path / "no-stick")], "no-stick",
        subprocess=True),
    Row("receiver-import-empty", lambda tmp_path: ["receiver", "import", str(_folder(tmp_path, "stick"))], "stick"),
    Row("receiver-import-a-file", lambda tmp_path: ["receiver", "import", str(_station(tmp_path))], "station.toml"),
    # outbox
    Row("outbox-status-corrupt-database", _corrupt_outbox, "CORRUPT", repaired=True),
    # keys, pin
    Row("keys-install-missing-certificate", lambda tmp_path: ["keys", "install", str(tmp_path / "issued.pem")],
        "issued.pem"),
    Row("keys-init-without-codes", _fixed("keys", "init"), "--province"),
    Row("keys-init-request-in-missing-folder", lambda tmp_path: [
        "--config", str(_station(tmp_path, f'[keys]\nkey_file = "{tmp_path / "station.key"}"\n'
                                           f'passphrase_file = "{_passphrase(tmp_path)}"\n')),
        "keys", "init", "--province", "40", "--district", "412", "--csr", str(tmp_path / "nowhere" / "s.csr")],
        "nowhere"),
    Row("pin-hash-too-short", _fixed("pin", "hash"), "PIN", stdin="12\n"),
    # the command line itself
    Row("unknown-sub-command", _fixed("frobnicate"), "frobnicate"),
    Row("unknown-option", _fixed("diag", "--verbose"), "--verbose"),
    Row("unknown-language", _fixed("--lang", "fr", "diag"), "fr"),
    Row("missing-sub-command", _fixed(), "command"),
    Row("pki-without-action", _fixed("pki"), "required"),
]


@pytest.fixture(autouse=True)
def _writable_again(tmp_path):
    """Give back the write permission the unwritable rows took, so that pytest can remove the folder."""
    yield
    for path in tmp_path.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o700)


def test_the_table_covers_the_issue_and_more(record_property):
    """The issue's twenty-odd inputs and at least eight more; the count is printed for the note."""
    print(f"\nbad-input table: {len(ROWS)} rows, {sum(row.subprocess for row in ROWS)} also via the enrol script")
    record_property("bad_input_rows", len(ROWS))
    assert len(ROWS) >= 30
    assert len({row.name for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", [row for row in ROWS if row.in_process], ids=lambda row: row.name)
def test_bad_input_in_process(row, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(row.stdin))
    status = main(["--lang", "en", *row.argv(tmp_path)])
    out, err = capsys.readouterr()
    _assert_explained(row, status, out + err)


@pytest.mark.parametrize("row", [row for row in ROWS if row.subprocess], ids=lambda row: row.name)
def test_bad_input_through_the_enrol_script(row, tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "LANG": "en_US.UTF-8", "SDL_VIDEODRIVER": "dummy", "KIVY_NO_ARGS": "1",
           **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ}}
    result = subprocess.run([str(ENROL), *row.argv(tmp_path)], input=row.stdin, capture_output=True, text=True,
                            timeout=120, env=env)
    _assert_explained(row, result.returncode, result.stdout + result.stderr)


def _assert_explained(row: Row, status: int, output: str) -> None:
    assert "Traceback" not in output, output
    if row.repaired:
        assert status == EXIT_OK, f"exit status {status}: {output}"
    else:
        assert status not in (EXIT_OK, EXIT_SOFTWARE), f"exit status {status}: {output}"
    assert row.cause in output, output


def test_an_unexpected_error_is_one_sentence_and_its_traceback_is_in_the_log(tmp_path, capsys, monkeypatch):
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the bug's own words")

    monkeypatch.setattr("enrol.commands.diag.bring_up", broken)
    status = main(["--lang", "en", "--config", str(_station(tmp_path)), "diag"])
    err = capsys.readouterr().err
    log_file = tmp_path / "data" / "logs" / "station.log"
    logging.shutdown()
    assert status == EXIT_SOFTWARE == 70
    assert "Traceback" not in err and "the bug's own words" not in err
    assert "went wrong" in err and str(log_file) in err
    logged = log_file.read_text(encoding="utf-8")
    assert "Traceback" in logged and "RuntimeError: the bug's own words" in logged


def test_an_unexpected_error_without_a_log_file_says_so(tmp_path, capsys, monkeypatch):
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the bug's own words")

    monkeypatch.setattr("enrol.commands.diag.bring_up", broken)
    status = main(["--lang", "en", "--config", str(_station(tmp_path, data_dir=_unwritable(tmp_path))), "diag"])
    err = capsys.readouterr().err
    assert status == EXIT_SOFTWARE
    assert "Traceback" not in err and "went wrong" in err and "log" in err
