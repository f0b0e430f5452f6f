"""One writer at a time per output folder.

Local folders: an OS lock (flock) on `OUT/_lock`. The kernel drops it when its
process dies however it dies (kill -9 included), so a dead run's lock is taken
over at once; the file also names its holder, for the message a waiting run prints.

Object stores (gs://, s3://, ...) have no locks: a lease object `OUT/_lock.json`
names its holder and an expiry that a heartbeat thread pushes forward. A lease
whose expiry passed belongs to a dead run and is taken over. Without conditional
writes (which Beam's file systems do not offer) two runs starting within the same
second can both write a lease; the writer reads its lease back after a pause and
gives way when another run's lease replaced it, which narrows that window but
cannot close it (README, Guarantees).
"""

import json
import os
import socket
import threading
import time
from datetime import datetime, timezone

from apache_beam.io.filesystems import FileSystems

from transforms.sinks.commit import is_local, join, read_json, write_json

LOCK_FILE = "_lock"
LEASE_FILE = "_lock.json"
LEASE_SECONDS = 120.0
POLL_SECONDS = 0.5


class OutputLocked(Exception):
    """Another live run holds the output: the message is one line for the user."""


def holder_info(run_id: str, lease_seconds: float | None = None) -> dict:
    now = time.time()
    info = {
        "run_id": run_id,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
    }
    if lease_seconds is not None:
        info["expires_at"] = now + lease_seconds
    return info


def describe(holder: dict | None) -> str:
    if not holder:
        return "another run"
    return f"run {holder.get('run_id')} (pid {holder.get('pid')} on {holder.get('host')}) since {holder.get('since')}"


class OutputLock:
    """`with OutputLock(output, run_id, wait_seconds):` holds the output or raises OutputLocked.

    `taken_over` names the dead run whose lock this one took, if any.
    """

    def __init__(
        self,
        output: str,
        run_id: str,
        wait_seconds: float = 0.0,
        lease_seconds: float = LEASE_SECONDS,
        settle_seconds: float = 1.0,
    ):
        self.output, self.run_id, self.wait_seconds = output, run_id, max(0.0, wait_seconds)
        self.lease_seconds, self.settle_seconds = lease_seconds, settle_seconds
        self.descriptor: int | None = None
        self.heartbeat: threading.Thread | None = None
        self.stopping = threading.Event()
        self.taken_over: dict | None = None

    def __enter__(self):
        if self.descriptor is None and self.heartbeat is None:
            self.acquire()
        return self

    def __exit__(self, *_):
        self.release()

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        take = self.try_local if is_local(self.output) else self.try_lease
        while True:
            holder = take()
            if holder is None:
                return
            if time.monotonic() >= deadline:
                waited = f" after waiting {self.wait_seconds:g} s" if self.wait_seconds else ""
                raise OutputLocked(
                    f"output {self.output} is in use by {describe(holder)}{waited}; "
                    "one run writes to an output at a time (--wait-for-lock SECONDS waits for it)"
                )
            time.sleep(POLL_SECONDS)

    # --- local: flock ---------------------------------------------------------------
    def try_local(self) -> dict | None:
        """None once the lock is ours, else who holds it."""
        import fcntl

        os.makedirs(self.output, exist_ok=True)
        path = os.path.join(self.output, LOCK_FILE)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = settled_holder(descriptor)
            os.close(descriptor)
            return holder or {}
        previous = read_holder(descriptor)
        if previous and previous.get("run_id") and not previous.get("released"):
            self.taken_over = previous  # its process died holding it: the kernel let go
        write_holder(descriptor, holder_info(self.run_id))
        self.descriptor = descriptor
        return None

    # --- object stores: a lease with a heartbeat ---------------------------------------
    def lease_path(self) -> str:
        return join(self.output, LEASE_FILE)

    def read_lease(self) -> dict | None:
        try:
            return read_json(self.lease_path())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:  # unreadable lease: say so, do not guess
            if not FileSystems.exists(self.lease_path()):
                return None
            raise OutputLocked(
                f"output {self.output}: lease {self.lease_path()} is unreadable ({error}); "
                "remove it if no run is writing"
            ) from error

    def try_lease(self) -> dict | None:
        lease = self.read_lease()
        if lease and lease.get("run_id") != self.run_id and lease.get("expires_at", 0) > time.time():
            return lease
        if lease and lease.get("run_id") != self.run_id:
            self.taken_over = lease
        write_json(self.lease_path(), holder_info(self.run_id, self.lease_seconds))
        time.sleep(self.settle_seconds)
        after = self.read_lease()
        if not after or after.get("run_id") != self.run_id:
            return after or {}
        self.heartbeat = threading.Thread(target=self.renew, daemon=True, name="newsbeam-lease")
        self.heartbeat.start()
        return None

    def renew(self) -> None:
        while not self.stopping.wait(self.lease_seconds / 3):
            write_json(self.lease_path(), holder_info(self.run_id, self.lease_seconds))

    def release(self) -> None:
        if self.descriptor is not None:
            import fcntl

            # Mark the holder released, so the next run does not report a takeover.
            write_holder(self.descriptor, {**holder_info(self.run_id), "released": True})
            fcntl.flock(self.descriptor, fcntl.LOCK_UN)
            os.close(self.descriptor)
            self.descriptor = None
        if self.heartbeat is not None:
            self.stopping.set()
            self.heartbeat.join()
            self.heartbeat = None
            lease = self.read_lease()
            if lease and lease.get("run_id") == self.run_id:
                FileSystems.delete([self.lease_path()])


def write_holder(descriptor: int, holder: dict) -> None:
    """Overwrite the lock file's holder (new bytes first, then cut: never empty)."""
    data = json.dumps(holder).encode()
    os.pwrite(descriptor, data, 0)
    os.ftruncate(descriptor, len(data))


def settled_holder(descriptor: int, tries: int = 40) -> dict | None:
    """The holder of a lock just taken by another run, which writes its name right
    after taking it: read again for up to 2 s until the name is there."""
    for _ in range(tries):
        holder = read_holder(descriptor)
        if holder and holder.get("run_id") and not holder.get("unreadable") and not holder.get("released"):
            return holder  # (a released one is the previous holder's: the new one is writing)
        time.sleep(0.05)
    return holder


def read_holder(descriptor: int) -> dict | None:
    data = os.pread(descriptor, 4096, 0)
    try:
        return json.loads(data.decode("utf-8")) if data.strip() else None
    except (UnicodeDecodeError, ValueError):
        return {"run_id": "unknown (unreadable lock file)", "unreadable": True}
