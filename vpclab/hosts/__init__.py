"""The data plane's access path: SSH to the lab's hosts, the same on AWS and locally."""

from vpclab.hosts.ssh import (
    Host,
    Result,
    known_hosts_path,
    open_host,
    parse_console_host_keys,
    pin_host_keys,
    ssh_command,
)

__all__ = [
    "Host",
    "Result",
    "known_hosts_path",
    "open_host",
    "parse_console_host_keys",
    "pin_host_keys",
    "ssh_command",
]
