"""To tags the node makes: RFC 3261 §19.3 (globally unique, cryptographically random,
at least 32 bits of randomness)."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys

from sipoauth.sip import new_tag
from sipoauth.sip._abnf import is_token


def test_rfc3261_s19_3_tag_has_64_random_bits_as_a_token() -> None:
    tag = new_tag()
    assert re.fullmatch(r"[0-9a-f]{16}", tag)
    assert is_token(tag)  # tag-param = "tag" EQUAL token (§25.1)


def test_rfc3261_s19_3_tags_do_not_repeat_across_blocks() -> None:
    tags = [new_tag() for _ in range(5000)]  # several blocks of random octets
    assert len(set(tags)) == len(tags)


def test_rfc3261_s19_3_tags_are_not_a_sequence() -> None:
    """Consecutive tags share no structure a peer could predict from (a counter
    would): their bits differ in about half the positions."""
    tags = [int(new_tag(), 16) for _ in range(2000)]
    differing = [bin(a ^ b).count("1") for a, b in itertools.pairwise(tags)]
    assert 28 <= sum(differing) / len(differing) <= 36  # 32 expected of 64 bits


_FORK_SCRIPT = """
import os
from sipoauth.sip import new_tag
new_tag()  # the parent now holds a block with unused octets
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read)
    os.write(write, "".join(new_tag() for _ in range(8)).encode())
    os._exit(0)
os.close(write)
child = b""
while chunk := os.read(read, 4096):
    child += chunk
os.waitpid(pid, 0)
parent = "".join(new_tag() for _ in range(8)).encode()
assert len(child) == len(parent) == 128, (child, parent)
print("same" if child == parent else "different")
"""


def test_forked_child_does_not_repeat_the_parents_tags() -> None:
    # In a fresh single-threaded interpreter: forking this test process could
    # copy other tests' threads.
    done = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "different"
