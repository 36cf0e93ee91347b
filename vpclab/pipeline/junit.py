"""Reading published JUnit XML the way Jenkins' junit step counts it."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from vpclab.pipeline.builds import TestCounts


def count(files: dict[str, bytes]) -> TestCounts:
    """Totals over JUnit files (name -> content); a file that is not JUnit raises ValueError."""
    counts = TestCounts(files=sorted(files))
    for name, data in sorted(files.items()):
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            raise ValueError(f"{name} is not JUnit XML ({exc})") from exc
        suites = [root] if root.tag == "testsuite" else root.findall(".//testsuite")
        if root.tag not in ("testsuite", "testsuites"):
            raise ValueError(f"{name} is not JUnit XML (root <{root.tag}>)")
        for suite in suites:
            for case in suite.findall("testcase"):
                counts.total += 1
                bad = case.find("failure")
                if bad is None:
                    bad = case.find("error")
                if bad is not None:
                    counts.failed += 1
                    if len(counts.failures) < 5:
                        message = (bad.get("message") or bad.text or "").strip().splitlines()
                        label = f"{case.get('classname', '')}.{case.get('name', '')}".strip(".")
                        counts.failures.append(f"{label}: {message[0] if message else ''}")
                elif case.find("skipped") is not None:
                    counts.skipped += 1
    return counts
