"""The command line parser: a command builds only its own part, and it is the same part."""

from __future__ import annotations

import re

import pytest

from harness.cli import VERBS, build_parser


def help_text(parser, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit):
        parser.parse_args(argv)
    return capsys.readouterr().out


@pytest.mark.parametrize("verb", [name for name, _ in VERBS])
def test_a_verb_alone_parses_and_helps_as_in_the_whole_parser(verb, capsys):
    alone = build_parser(verb)
    assert help_text(alone, [verb, "--help"], capsys) == help_text(build_parser(), [verb, "--help"], capsys)


def test_the_whole_parser_lists_every_verb(capsys):
    text = help_text(build_parser(), ["--help"], capsys)
    listed = re.findall(r"^    (\S+)\s", text, re.MULTILINE)
    assert [name for name in listed if name in dict(VERBS)] == [name for name, _ in VERBS]
