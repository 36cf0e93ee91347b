"""The Security stage's dependency audit: pip-audit against an OSV service, with a failing
severity, and a JUnit report that Jenkins' junit step turns into the stage's result. With
--owasp-report (or --not-checked) it judges OWASP Dependency-Check's JSON report instead, for
the Dependency-Check stage on real Jenkins, by the same rules.

- Every finding at or above --fail-severity fails (exit 1). A finding whose severity the
  service does not give counts as failing: an unknown risk is not waved through.
- When the vulnerability data cannot be reached, nothing was checked: the report holds one
  failing case, "dependencies not checked: ...", so the stage is UNSTABLE, never green, and
  the script exits 0 (Jenkins' junit step marks UNSTABLE; a non-zero exit would be FAILURE).
- A pinned package that Dependency-Check's pip analyzer did not report was not checked either
  (the analyzer is off without --enableExperimental): never a vacuous pass.

Standard library only, so it runs in the CI venv before anything else is known to work.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from xml.etree import ElementTree as ET

DEFAULT_OSV_URL = "https://api.osv.dev/v1/query"
LEVELS = ["LOW", "MODERATE", "HIGH", "CRITICAL"]
ALIASES = {"MEDIUM": "MODERATE"}


def level(name: str) -> int:
    """The rank of a severity name; unknown ones rank as CRITICAL (fail closed)."""
    name = ALIASES.get(name.upper(), name.upper())
    return LEVELS.index(name) if name in LEVELS else len(LEVELS) - 1


def unreachable(osv_url: str, timeout: float) -> str | None:
    """Why the OSV service cannot be used, or None when it answers a query."""
    probe = json.dumps({"package": {"name": "pip", "ecosystem": "PyPI"}, "version": "0"})
    request = urllib.request.Request(
        osv_url, data=probe.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            json.load(response)
    except urllib.error.HTTPError as exc:
        return f"{osv_url} answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{osv_url} is unreachable ({reason})"
    return None


def severity(osv_url: str, vuln_id: str, timeout: float) -> str:
    """The severity the OSV record gives (its database_specific.severity), or UNKNOWN."""
    base = osv_url.rsplit("/", 1)[0]
    try:
        with urllib.request.urlopen(f"{base}/vulns/{vuln_id}", timeout=timeout) as r:
            record = json.load(r)
    except (OSError, ValueError):
        return "UNKNOWN"
    found = (record.get("database_specific") or {}).get("severity")
    return str(found).upper() if found else "UNKNOWN"


def packages(requirements: list[Path]) -> list[str]:
    names = []
    for path in requirements:
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                names.append(line)
    return names


def junit(path: Path, cases: list[tuple[str, str | None, str]]) -> None:
    """cases: (name, failure message or None, text)."""
    failures = sum(1 for _, failure, _ in cases if failure)
    suite = ET.Element(
        "testsuite", name="dependency-audit", tests=str(len(cases)), failures=str(failures)
    )
    for name, failure, text in cases:
        case = ET.SubElement(suite, "testcase", classname="dependency-audit", name=name)
        if failure:
            ET.SubElement(case, "failure", message=failure).text = text
        elif text:
            ET.SubElement(case, "system-out").text = text
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)


def audit(args: argparse.Namespace) -> int:
    reqs = [Path(r) for r in args.requirement]
    pinned = packages(reqs)
    why = unreachable(args.osv_url, args.timeout)
    if why:
        message = f"dependencies not checked: {why}; {len(pinned)} packages unaudited"
        print(message)
        junit(args.junit, [("vulnerability data reachable", message, "\n".join(pinned))])
        return 0
    command = [args.pip_audit, "--no-deps", "--disable-pip", "--progress-spinner", "off"]
    command += ["-s", "osv", "--osv-url", args.osv_url, "--timeout", str(int(args.timeout))]
    command += ["-f", "json", "-o", str(args.json)]
    for req in reqs:
        command += ["-r", str(req)]
    ran = subprocess.run(command, capture_output=True, text=True)
    if not args.json.exists():
        tail = (ran.stderr.strip().splitlines() or [f"exit {ran.returncode}"])[-1]
        message = f"dependencies not checked: pip-audit did not finish ({tail})"
        print(message)
        junit(args.junit, [("pip-audit finished", message, ran.stderr[-4000:])])
        return 0 if "ConnectionError" in ran.stderr else 1
    report = json.loads(args.json.read_text())
    cases, failing = [], 0
    threshold = level(args.fail_severity)
    for dep in report.get("dependencies", []):
        name = f"{dep['name']}=={dep.get('version', '?')}"
        if "skip_reason" in dep:
            cases.append((name, f"not checked: {dep['skip_reason']}", ""))
            continue
        bad, lines = [], []
        for vuln in dep.get("vulns", []):
            sev = severity(args.osv_url, vuln["id"], args.timeout)
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            line = f"{name}: {vuln['id']} severity {sev} (fixed in {fixed})"
            lines.append(line)
            print(("FAIL " if level(sev) >= threshold else "note ") + line)
            if level(sev) >= threshold:
                bad.append(line)
        failing += len(bad)
        message = f"{len(bad)} finding(s) at or above {args.fail_severity}" if bad else None
        cases.append((name, message, "\n".join(lines)))
    junit(args.junit, cases)
    checked = len(cases)
    print(
        f"dependency audit: {checked} packages checked, {failing} finding(s) at or above "
        f"{args.fail_severity.upper()}"
    )
    return 1 if failing else 0


def _pin_name(line: str) -> str:
    return re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0].strip().lower().replace("_", "-")


def _purl_name(purl: str) -> str | None:
    """The package name of a pkg:pypi/NAME@VERSION identifier."""
    match = re.match(r"pkg:pypi/([^@]+)@", purl)
    return match[1].lower().replace("_", "-") if match else None


def owasp(args: argparse.Namespace) -> int:
    """Judge Dependency-Check's JSON report: findings fail, unchecked pins are UNSTABLE."""
    pinned = packages([Path(r) for r in args.requirement])
    if args.not_checked:
        message = f"dependencies not checked: {args.not_checked}; {len(pinned)} packages unaudited"
        print(message)
        junit(args.junit, [("dependencies checked by Dependency-Check", message, "")])
        return 0
    report = json.loads(args.owasp_report.read_text())
    seen: dict[str, list[dict]] = {}
    for dep in report.get("dependencies", []):
        for package in dep.get("packages", []):
            name = _purl_name(package.get("id", ""))
            if name:
                seen.setdefault(name, []).extend(dep.get("vulnerabilities") or [])
    threshold = level(args.fail_severity)
    cases, failing = [], 0
    missing = [p for p in pinned if _pin_name(p) not in seen]
    if missing:
        message = (
            f"dependencies not checked: the pip analyzer reported {len(pinned) - len(missing)} "
            f"of {len(pinned)} pinned packages (is --enableExperimental on?)"
        )
        print(message)
        cases.append(("every pinned package analysed", message, "\n".join(missing)))
    for pin in pinned:
        vulns = seen.get(_pin_name(pin), [])
        lines = [
            f"{pin}: {v.get('name', '?')} severity {v.get('severity', 'UNKNOWN')}" for v in vulns
        ]
        bad = [
            line
            for line, v in zip(lines, vulns, strict=True)
            if level(str(v.get("severity", "UNKNOWN"))) >= threshold
        ]
        for line in lines:
            print(("FAIL " if line in bad else "note ") + line)
        failing += len(bad)
        message = f"{len(bad)} finding(s) at or above {args.fail_severity}" if bad else None
        if _pin_name(pin) in seen:
            cases.append((pin, message, "\n".join(lines)))
    junit(args.junit, cases)
    print(
        f"Dependency-Check: {len(pinned) - len(missing)} packages checked, {failing} finding(s) "
        f"at or above {args.fail_severity.upper()}"
    )
    return 1 if failing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--requirement", action="append", required=True)
    parser.add_argument("--fail-severity", default="HIGH", type=str.upper)
    parser.add_argument("--osv-url", default=DEFAULT_OSV_URL)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--pip-audit", default="pip-audit")
    parser.add_argument("--junit", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--owasp-report", type=Path, help="judge this Dependency-Check report")
    parser.add_argument("--not-checked", help="record that nothing was checked, and why")
    args = parser.parse_args(argv)
    if args.fail_severity not in LEVELS + list(ALIASES):
        parser.error(f"--fail-severity must be one of {', '.join(LEVELS)}")
    if args.owasp_report or args.not_checked:
        return owasp(args)
    if args.json is None:
        parser.error("--json is required for the pip-audit audit")
    return audit(args)


if __name__ == "__main__":
    sys.exit(main())
