"""The options every ``enrol`` command takes (``--config``, ``--lang``) before or after its sub-command,
and the language of messages chosen from ``--lang`` or the locale environment."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from crypto.pki import DevPki
from enrol.cli import _parser, main

VIETNAMESE_TITLE = "Trạm đăng ký cấp thẻ căn cước"
ENGLISH_TITLE = "Identity-card enrolment station"


def _leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable sub-command, as the words that name it (``("outbox", "status")``)."""
    subcommands = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not subcommands:
        return [path]
    return [leaf for name, sub in subcommands[0].choices.items() for leaf in _leaf_commands(sub, (*path, name))]


def _required_arguments(leaf: tuple[str, ...], tmp_path: Path) -> list[str]:
    """What a sub-command cannot be parsed without (folders and files that must exist)."""
    (tmp_path / "cert.pem").write_text("")
    needs = {
        ("capture-finger",): ["--out", str(tmp_path / "x.png")],
        ("capture-face",): ["--out", str(tmp_path / "x.jpg")],
        ("keys", "install"): [str(tmp_path / "cert.pem")],
        ("outbox", "export"): [str(tmp_path)],
        ("outbox", "receipts"): [str(tmp_path)],
        ("receiver", "import"): [str(tmp_path)],
    }
    return needs.get(leaf, [])


def test_every_sub_command_takes_config_and_lang_after_it(tmp_path):
    leaves = _leaf_commands(_parser())
    assert len(leaves) >= 15 and ("outbox", "status") in leaves and ("kiosk",) in leaves
    config = tmp_path / "station.toml"
    for leaf in leaves:
        args = _parser().parse_args([*leaf, *_required_arguments(leaf, tmp_path), "--config", str(config),
                                     "--lang", "en"])
        assert (args.config, args.lang) == (config, "en"), leaf


def test_an_option_before_the_sub_command_is_kept_when_it_is_not_repeated_after(tmp_path):
    args = _parser().parse_args(["--config", str(tmp_path / "a.toml"), "--lang", "en", "outbox", "status"])
    assert (args.config, args.lang) == (tmp_path / "a.toml", "en")
    args = _parser().parse_args(["--config", str(tmp_path / "a.toml"), "outbox", "--config",
                                 str(tmp_path / "b.toml"), "status"])
    assert args.config == tmp_path / "b.toml"  # the later one wins, as with any repeated option


def test_config_after_the_sub_command_is_the_station_used(tmp_path, capsys):
    config = tmp_path / "station.toml"
    config.write_text(f'[station]\nid = "TEST-01"\nsimulated = true\n[paths]\ndata_dir = "{tmp_path / "data"}"\n',
                      encoding="utf-8")
    assert main(["pki", "dev", "--config", str(config), "--lang", "en"]) == 0
    assert "Development PKI created" in capsys.readouterr().out
    assert DevPki(tmp_path / "data" / "dev-pki").complete


@pytest.mark.parametrize(("environment", "argv", "title"), [
    ({}, [], VIETNAMESE_TITLE),
    ({"LANG": "en_US.UTF-8"}, [], ENGLISH_TITLE),
    ({"LANG": "vi_VN.UTF-8"}, [], VIETNAMESE_TITLE),
    ({"LANG": "fr_FR.UTF-8"}, [], VIETNAMESE_TITLE),  # neither language: the default
    ({"LANG": "C.UTF-8"}, [], VIETNAMESE_TITLE),
    ({"LANG": "vi_VN.UTF-8", "LC_MESSAGES": "en_GB.UTF-8"}, [], ENGLISH_TITLE),
    ({"LANG": "vi_VN.UTF-8", "LC_MESSAGES": "vi_VN", "LC_ALL": "en_US.UTF-8"}, [], ENGLISH_TITLE),
    ({"LANG": "en_US.UTF-8"}, ["--lang", "vi"], VIETNAMESE_TITLE),  # --lang wins over the environment
    ({"LC_ALL": "vi_VN.UTF-8"}, ["--lang=en"], ENGLISH_TITLE),
])
def test_the_language_of_messages(environment, argv, title, monkeypatch, capsys):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert main([*argv, "--help"]) == 0
    assert title in capsys.readouterr().out


def test_lang_after_the_sub_command_translates_its_messages(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    assert main(["diag", "--config", str(tmp_path / "nope.toml"), "--lang", "en"]) == 2
    assert "Configuration error" in capsys.readouterr().err


@pytest.mark.parametrize(("language", "usage", "error"), [
    ("vi", "cách dùng: enrol ", "enrol: lỗi: đối số không nhận ra: --bogus"),
    ("en", "usage: enrol ", "enrol: error: unrecognized arguments: --bogus"),
])
def test_argparse_speaks_the_chosen_language(capsys, language, usage, error):
    """argparse's own words (usage line, headings, errors) come from the station's catalogue too."""
    assert main(["--lang", language, "outbox", "status", "--bogus"]) == 2
    said = capsys.readouterr().err
    assert said.startswith(usage) and error in said
    assert main(["--lang", language, "outbox", "status", "--help"]) == 0
    shown = capsys.readouterr().out
    assert ("hiện trợ giúp này rồi thoát" in shown) == (language == "vi")
    assert ("show this help message and exit" in shown) == (language == "en")
