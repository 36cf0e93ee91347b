"""What a host's user data leaves behind: the keys step waits on it, its checks read it."""

from __future__ import annotations

USER_DATA_RESULT = "/etc/vpclab/user-data"  # `ok`, or `failed: line N` (user-data.sh.j2)
