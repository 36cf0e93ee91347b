"""Blanks in the project's real files (`vpclab.blanks`): the markers, the cleared edition,
the one-line error for a stub left in, and where the kit reads a file from."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpclab import blanks
from vpclab.errors import VpclabError
from vpclab.steps import nginx

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHELL = blanks.FileBlank("scripts/x.sh", "#", "07_scripts")
REFERENCE = """#!/bin/sh
set -eu
  # ### BEGIN SOLUTION the program
  echo secret-one
  echo secret-two
  # ### END SOLUTION
echo after
"""


def test_clear_replaces_each_region_with_one_stub_line_indented_as_its_marker():
    edition = blanks.clear(REFERENCE, SHELL)
    assert "secret" not in edition and blanks.BEGIN not in edition
    assert edition.splitlines() == [
        "#!/bin/sh",
        "set -eu",
        "  # YOUR CODE HERE: the program (07_scripts)",
        "echo after",
    ]
    assert blanks.unfilled(edition) == ["the program (07_scripts)"]
    assert blanks.unfilled(REFERENCE) == []


def test_regions_are_named_and_counted_without_their_markers():
    (region,) = blanks.regions(REFERENCE, "#")
    assert region.name == "the program" and region.first == 4
    assert region.lines == ["  echo secret-one", "  echo secret-two"]


@pytest.mark.parametrize(
    "text",
    [
        "# ### BEGIN SOLUTION a\nx\n",
        "x\n# ### END SOLUTION\n",
        "# ### BEGIN SOLUTION a\n# ### BEGIN SOLUTION b\n# ### END SOLUTION\n",
    ],
)
def test_unpaired_markers_are_one_line_errors(text):
    with pytest.raises(VpclabError) as err:
        blanks.clear(text, SHELL)
    assert "\n" not in str(err.value)


def test_a_stub_left_in_a_file_is_one_line_naming_the_file_and_region(tmp_path):
    target = tmp_path / nginx.TEMPLATE
    target.parent.mkdir(parents=True)
    reference = (ROOT / nginx.TEMPLATE).read_text()
    target.write_text(blanks.clear(reference, blanks.BY_PATH[nginx.TEMPLATE]))
    with pytest.raises(VpclabError) as err:
        blanks.read(tmp_path, nginx.TEMPLATE)
    line = str(err.value)
    assert "\n" not in line
    assert nginx.TEMPLATE in line and "'location / (06_nginx)'" in line


def test_the_kit_reads_the_projects_copy_and_the_repair_the_kits(tmp_path):
    target = tmp_path / nginx.TEMPLATE
    target.parent.mkdir(parents=True)
    target.write_text("mine\n")
    assert blanks.read(tmp_path, nginx.TEMPLATE) == "mine\n"
    with blanks.reference_files():
        assert blanks.read(tmp_path, nginx.TEMPLATE) == (ROOT / nginx.TEMPLATE).read_text()
    # A project without the file (an older handout): the kit's own copy.
    assert blanks.read(tmp_path / "none", nginx.TEMPLATE).startswith("# The microblog")


@pytest.mark.parametrize("blank", blanks.FILES, ids=lambda b: b.path)
def test_every_reference_file_has_regions_and_its_edition_none(blank, tmp_path):
    text = (ROOT / blank.path).read_text()
    assert blanks.regions(text, blank.comment, blank.path)
    blanks.write_edition(ROOT, tmp_path)
    edition = (tmp_path / blank.path).read_text()
    assert blanks.BEGIN not in edition and blanks.END not in edition
    assert len(blanks.unfilled(edition)) == len(blanks.regions(text, blank.comment))


SITE = """upstream microblog_app {
    server 10.0.2.7:5000;
    keepalive 32;
}
server {
    location / {
        proxy_pass http://microblog_app;
    }
}
"""


def test_proxied_follows_proxy_pass_to_an_upstream_or_an_address():
    assert nginx.proxied(SITE) == [nginx.Upstream("10.0.2.7", 5000)]
    direct = SITE.replace("http://microblog_app", "http://10.0.2.7:5001/")
    assert nginx.proxied(direct) == [nginx.Upstream("10.0.2.7", 5001)]
    assert nginx.proxied(SITE.replace("proxy_pass http://microblog_app;", "")) == []
