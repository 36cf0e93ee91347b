"""Remove everything a lab left on this machine, even after the agent crashed.

Everything is found by the lab's prefix: namespaces `vpclab-<lab>-*`, links `v<hash>-*` and
the nft table `vpclab_v<hash>`. Processes are found through the namespaces (`ip netns pids`)
and killed by PID, never by name.
"""

from __future__ import annotations

from vpclab.localcloud import names, netns
from vpclab.localcloud.dataplane import is_host_netns_suffix


def lab_namespaces(lab: str) -> list[str]:
    """The lab's namespaces, and not those of a lab whose name merely starts the same."""
    prefix = names.netns(lab, "")
    return [
        n
        for n in netns.list_netns()
        if n.startswith(prefix) and is_host_netns_suffix(n[len(prefix) :])
    ]


def force_down(lab: str) -> list[str]:
    """Kill the lab's processes, delete its namespaces, links and tables. Returns what went."""
    removed: list[str] = []
    spaces = lab_namespaces(lab)
    # Kill first, everywhere, so no host outlives the network it was using.
    for ns in spaces:
        for pid in netns.kill_pids(netns.pids(ns)):
            removed.append(f"process {pid} (in {ns})")
    for ns in spaces:
        netns.delete(ns)
        removed.append(f"namespace {ns}")
    # The agent never puts links or tables in the root namespace; sweep anyway.
    prefix = names.short(lab) + "-"
    for link in netns.link_names_root():
        if link.startswith(prefix):
            netns.run(["ip", "link", "del", link], check=False)
            removed.append(f"link {link}")
    table = names.nft_table(lab)
    for family in ("ip", "inet"):
        if netns.run(["nft", "list", "table", family, table], check=False):
            netns.run(["nft", "delete", "table", family, table], check=False)
            removed.append(f"nft table {family} {table}")
    return removed
