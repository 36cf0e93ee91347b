"""Tags are how vpclab finds its resources: never stored ids, never hard-coded IPs."""

from __future__ import annotations

LAB = "vpclab:lab"
ROLE = "vpclab:role"
TARGET = "vpclab:target"  # on the Jenkins server: what its builds are part of (aws/instance.py)


def tag_list(lab: str, role: str, name: str, extra: dict[str, str] | None = None) -> list[dict]:
    tags = {"Name": name, LAB: lab, ROLE: role, **(extra or {})}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_spec(
    resource_type: str, lab: str, role: str, name: str, extra: dict[str, str] | None = None
) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": tag_list(lab, role, name, extra)}]


def lab_filter(lab: str, role: str | None = None) -> list[dict]:
    filters = [{"Name": f"tag:{LAB}", "Values": [lab]}]
    if role:
        filters.append({"Name": f"tag:{ROLE}", "Values": [role]})
    return filters


def tags_of(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def role_of(resource: dict) -> str | None:
    return tags_of(resource).get(ROLE)
