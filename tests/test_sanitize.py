"""The nbval sanitize file: every pattern in it is one nbval really loads, and they mask what
they should (AWS ids, addresses, timestamps, temp paths) while CIDRs stay compared."""

from __future__ import annotations

import re
from collections import OrderedDict

import pytest
from nbval.plugin import get_sanitize_patterns

from vpclab.course.overlay import SANITIZE


def loaded() -> OrderedDict:
    """What nbval keeps: its own parser, into a dict keyed by regex (as IPyNbFile does)."""
    patterns: OrderedDict = OrderedDict()
    patterns.update(get_sanitize_patterns(SANITIZE.read_text()))
    return patterns


def sanitize(text: str) -> str:
    for regex, replace in loaded().items():
        text = re.sub(regex, replace, text)
    return text


def test_every_regex_line_is_loaded():
    lines = SANITIZE.read_text().splitlines()
    regex_lines = [line for line in lines if line.startswith("regex:")]
    replace_lines = [line for line in lines if line.startswith("replace:")]
    assert regex_lines, "no patterns at all"
    # nbval drops silently: a regex without its replace on the very next line, "regex:"
    # without a space, an empty "replace:" without a trailing space, a duplicate regex.
    assert len(loaded()) == len(regex_lines) == len(replace_lines)


def test_every_pattern_compiles():
    for regex in loaded():
        re.compile(regex)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("vpc-9b61b66572ab1d559 10.0.0.0/16", "vpc-ID 10.0.0.0/16"),
        ("subnet-b1904f012729eb4fb in rtb-4edfdde04b0cbcb1c", "subnet-ID in rtb-ID"),
        (
            "igw-d37518400b3e97dd0 nat-d6317f0c054643205 pcx-f5b04ff8dce537b91",
            "igw-ID nat-ID pcx-ID",
        ),
        (
            "sg-92aeb1379c6334b97 sgr-aaa8565f8283c4c82 i-58e6afa55b7ac639a ami-4f7c154ba42588452",
            "sg-ID sgr-ID i-ID ami-ID",
        ),
        (
            "eipalloc-0123456789abcdef0 key-0123456789abcdef0 rtbassoc-0123456789abcdef0",
            "eipalloc-ID key-ID rtbassoc-ID",
        ),
        ("running t3.micro 10.0.2.4", "running t3.micro 10.0.2.N"),
        ("10.0.1.5 / 54.214.85.80 /", "10.0.1.N / IP /"),
        ("Jenkins 172.31.0.4 54.214.254.245", "Jenkins 172.31.N.N IP"),
        ("Elastic IP 127.98.244.228", "Elastic IP IP"),
        (
            "0.0.0.0/0 -> nat-d6317f0c054643205, 172.31.0.0/16 -> local",
            "0.0.0.0/0 -> nat-ID, 172.31.0.0/16 -> local",
        ),
        ("endpoint http://127.0.0.1:40123/", "endpoint http://IP:PORT/"),
        (
            "at 2025-11-26T14:22:01.123456+00:00 and 2025-11-26 14:22:01",
            "at TIMESTAMP and TIMESTAMP",
        ),
        ("key in /tmp/vpclab-notebooks-x1y2/state/labs/microblog/keys.", "key in TMPPATH"),
        ("<Cloud object at 0x7f3a2b1c9d10>", "<Cloud object at 0xADDR>"),
    ],
)
def test_masks(raw, masked):
    assert sanitize(raw) == masked


@pytest.mark.parametrize(
    "stable",
    [
        "PASS vpc.exists: The lab VPC exists with the spec's CIDR",
        "microblog-web, microblog-app, microblog-monitoring (private keys 0600)",
        "allow tcp 5000  from group microblog-web",
        "t3.medium us-east-1a MapPublicIpOnLaunch=true",
        "10.0.1.0/24 10.0.2.0/24 198.51.100.0/24",
    ],
)
def test_keeps_what_is_graded(stable):
    assert sanitize(stable) == stable


def test_a_library_log_line_on_stderr_is_not_a_checkpoint_difference():
    """Graded under load, a kernel's SSH retry can log to stderr in the checkpoint cell; the
    checklist printed on stdout is what is compared."""
    import nbformat

    from vpclab.course.overlay import differences

    checklist = "PASS monitoring.security_groups: App 5000/9100 open to the monitoring SG\n"
    reference = [nbformat.v4.new_output("stream", name="stdout", text=checklist)]
    log = "Exception (client): Error reading SSH protocol banner\n"
    noisy = [nbformat.v4.new_output("stream", name="stderr", text=log), *reference]
    patterns = list(loaded().items())
    assert differences(reference, noisy, patterns) == []
    other = checklist.replace("monitoring.security_groups", "monitoring.targets_up")
    wrong = [nbformat.v4.new_output("stream", name="stdout", text=other)]
    assert differences(reference, wrong, patterns) != []
