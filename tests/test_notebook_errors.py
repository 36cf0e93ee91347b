"""A student's mistake in a notebook is one line, as at the CLI: the kit's errors show no
traceback in a kernel, and a look cell run too early says which step to do first."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from vpclab.course import kit
from vpclab.errors import VpclabError, brief_in_notebooks


@pytest.fixture
def shell():
    instance = InteractiveShell.instance()
    yield instance
    instance.set_custom_exc((), None)
    InteractiveShell.clear_instance()


def test_a_kit_error_in_a_cell_is_one_line_and_the_cell_still_fails(shell, capsys):
    brief_in_notebooks()
    result = shell.run_cell(
        "from vpclab.errors import VpclabError\n"
        "raise VpclabError('no VPC tagged for this lab yet', 'do 01_vpc first')"
    )
    shown = capsys.readouterr().out.strip()
    assert shown == "VpclabError: no VPC tagged for this lab yet — do 01_vpc first"
    assert isinstance(result.error_in_exec, VpclabError)


def test_other_errors_keep_their_traceback(shell, capsys):
    brief_in_notebooks()
    shell.run_cell("[][0]")
    assert "Traceback" in capsys.readouterr().out


def test_only_names_the_step_to_do_when_nothing_is_tagged_yet():
    with pytest.raises(VpclabError, match="no VPC tagged for this lab yet — do 01_vpc first"):
        kit.only([], "VPC", "01_vpc")


def test_only_refuses_duplicates_and_returns_the_one():
    with pytest.raises(VpclabError, match="2 of the VPC are tagged for this lab"):
        kit.only([{"VpcId": "a"}, {"VpcId": "b"}], "VPC", "01_vpc")
    assert kit.only([{"VpcId": "a"}], "VPC", "01_vpc") == {"VpcId": "a"}
