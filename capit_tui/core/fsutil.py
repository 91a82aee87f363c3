"""Small file-system helpers shared by settings, vault, backups and edits.

Reading a file someone else can place in our way (an agent's config, a restore target, a backup
blob) goes through `read_regular()`: only a regular file is opened, never a FIFO, socket, device or
folder (a FIFO would block the read forever); a symlink is followed only to a file the running user
owns; and a file over `MAX_AGENT_FILE` bytes is refused. Writing goes through `atomic_write()`,
which keeps the file's owner and group.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from capit_tui.errors import CapitError

MAX_AGENT_FILE = 10 * 1024 * 1024  # an agent's config over 10 MB is not a config file
TEMP_SUFFIX = ".capit-tmp"
TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + r"$")  # .NAME.XXXXXXXX.capit-tmp


class UnsafeFile(CapitError):
    """A file capit-tui will not open or write: not a regular file, too large, or a link to a file of
    another user. The message names the file (and the link's target)."""


def ensure_private_dir(path: Path) -> Path:
    """Create a folder (and parents) readable only by the user: 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        path.chmod(0o700)
    except PermissionError:
        pass
    return path


# ---------------------------------------------------------------- reading


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def check_regular(path: Path, *, follow: bool = True, limit: int | None = MAX_AGENT_FILE) -> os.stat_result | None:
    """The stat of the regular file at `path`, or None when nothing is there (or a link points nowhere).

    Raises UnsafeFile when `path` is a FIFO, socket, device or folder, when it is larger than `limit`,
    when it is a symlink and `follow` is False, or when it is a symlink to a file the running user does
    not own. Opens nothing, so it never blocks.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)
        if not follow:
            raise UnsafeFile(f"{path} is a symbolic link (to {target}); capit-tui will not follow it here.")
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if st.st_uid != os.geteuid():
            raise UnsafeFile(f"{path} is a link to {target}, which belongs to another user (uid {st.st_uid}); "
                             "capit-tui follows links only to your own files.")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"{path} is {kind_of(st.st_mode)}, not a regular file; capit-tui reads and writes "
                         "only regular files.")
    if limit is not None and st.st_size > limit:
        raise UnsafeFile(f"{path} is {_megabytes(st.st_size)}, more than the {_megabytes(limit)} capit-tui "
                         "reads from a config file.")
    return st


REREADS = 3  # a file replaced by another regular file between the check and the open is read again


def read_regular(path: Path, *, follow: bool = True, limit: int | None = MAX_AGENT_FILE) -> bytes | None:
    """The bytes of the regular file at `path`, or None when it does not exist.

    The checks of `check_regular()` come first; the file is then opened with O_NONBLOCK (a FIFO swapped
    in after the check cannot block the open) and checked again on the open descriptor: it must be the
    same regular file, and at most `limit` bytes are read. Other OSErrors (permission denied, ...) are
    raised as they are.
    """
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    for attempt in range(REREADS + 1):
        st = check_regular(path, follow=follow, limit=limit)
        if st is None:
            return None
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            return None
        try:
            now = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if stat.S_ISREG(now.st_mode) and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
            break
        os.close(fd)
        if not stat.S_ISREG(now.st_mode) or attempt == REREADS:
            raise UnsafeFile(f"{path} was replaced while capit-tui was reading it; try again.")
        # another regular file took its place (an editor's or another capit-tui's atomic save): read that one
    try:
        chunks = []
        left = (limit + 1) if limit is not None else -1
        while left != 0:
            chunk = os.read(fd, 1 << 20 if left < 0 else min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            if left > 0:
                left -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if limit is not None and len(data) > limit:
        raise UnsafeFile(f"{path} is more than the {_megabytes(limit)} capit-tui reads from a config file.")
    return data


# ---------------------------------------------------------------- writing


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write `data` to `path` all at once: temp file in the same folder, fsync, os.replace.

    A crash leaves either the old file or the new one, never half of each. The file keeps its owner
    and group: run as root, the temp file is given the old file's (or, for a new file, its folder's)
    owner and group before it replaces the old one; run as a user, its group when the user may set it.
    """
    path = Path(path)
    owner = _owner_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        if owner is not None:
            _give(fd, *owner)
        os.fchmod(fd, mode)  # after the chown, which may clear mode bits
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def _owner_for(path: Path) -> tuple[int, int] | None:
    """The (uid, gid) a write of `path` must keep, when it is not the running user's own."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.geteuid() != 0:
            return None
        try:
            st = os.stat(path.parent)  # a new file written by root belongs to whoever owns its folder
        except OSError:
            return None
    except OSError:
        return None
    if (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid()):
        return None
    return st.st_uid, st.st_gid


def _give(fd: int, uid: int, gid: int) -> None:
    if os.geteuid() == 0:
        os.fchown(fd, uid, gid)
        return
    try:
        os.fchown(fd, -1, gid)  # a user may set a group they belong to; otherwise the group is theirs
    except PermissionError:
        pass


def give_folder(path: Path) -> None:
    """Run as root, a folder just created gets the owner and group of the folder it sits in."""
    if os.geteuid() != 0:
        return
    try:
        st = os.stat(path.parent)
        if st.st_uid != 0 or st.st_gid != 0:
            os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
    except OSError:
        pass


def fsync_dir(path: Path) -> None:
    try:
        dfd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
