"""Remove everything a lab left on this machine, even after the agent crashed.

Everything is found by the lab's id (see `names`): namespaces `vpclab-<id>-*`, links
`<id>-*` and the nft table `vpclab_<id>`. Processes are found through the namespaces
(`ip netns pids`) and killed by PID, never by name.
"""

from __future__ import annotations

from vpclab.localcloud import hostoci, names, netns


def lab_namespaces(lid: str) -> list[str]:
    return [n for n in netns.list_netns() if names.id_of_netns(n) == lid]


def _root_tables() -> list[tuple[str, str]]:
    """(family, name) of the root namespace's nftables tables."""
    out = netns.run(["nft", "list", "tables"], check=False)
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == "table":
            found.append((fields[1], fields[2]))
    return found


def all_lab_ids() -> list[str]:
    """Every vpclab lab on this machine, whoever started it: by its namespaces, links and
    tables. Objects that merely start with `vpclab` but do not carry an id are not ours."""
    ids = {names.id_of_netns(n) for n in netns.list_netns()}
    ids |= {names.id_of_link(link) for link in netns.link_names_root()}
    ids |= {names.id_of_table(t) for _family, t in _root_tables()}
    return sorted(i for i in ids if i)


def force_down(lid: str) -> list[str]:
    """Kill the lab's processes, delete its namespaces, links and tables. Returns what went."""
    removed: list[str] = []
    spaces = lab_namespaces(lid)
    # Kill first, everywhere, so no host outlives the network it was using.
    for ns in spaces:
        for pid in netns.kill_pids(netns.pids(ns)):
            removed.append(f"process {pid} (in {ns})")
    for ns in spaces:
        netns.delete(ns)
        hostoci.forget(ns)  # a host's container state, bundle and id slice
        removed.append(f"namespace {ns}")
    # The agent never puts links or tables in the root namespace; sweep anyway.
    for link in netns.link_names_root():
        if names.id_of_link(link) == lid:
            netns.run(["ip", "link", "del", link], check=False)
            removed.append(f"link {link}")
    table = names.nft_table(lid)
    for family, name in _root_tables():
        if name == table:
            netns.run(["nft", "delete", "table", family, table], check=False)
            removed.append(f"nft table {family} {table}")
    return removed
