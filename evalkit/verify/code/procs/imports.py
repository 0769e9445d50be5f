"""How the sandbox's processes find modules: the standard library, and each allowed extra module
(numpy) from the one path the harness named for it (evalkit/verify/code/view.py).

Why: the processes run as `python -s -S`, so no site-packages directory is on their path, and
Landlock lets the child read numpy's own directory but not the site-packages directory around it
(so Python's usual finder, which lists that directory, could not find numpy). The finder here builds
an allowed module's spec straight from its path. In the fork server it also refuses every other
name beyond the standard library, as the reference harnesses' environments would (fidelity: a
sample importing pandas must not pass here and fail there). `exit()`, `quit()`, `help()` and friends,
which `site` would have added, are added here: programs call `exit()`.
"""

from __future__ import annotations

import importlib.util
import os
import sys


class Allowed:
    """A meta path finder: top-level modules named in `paths` from their path; with `only`, any other
    top-level name outside the standard library fails with ModuleNotFoundError."""

    def __init__(self, paths: dict[str, str], only: set[str] | None):
        self.paths, self.only = paths, only

    def find_spec(self, name, path=None, target=None):
        if self.only is not None and name.partition(".")[0] not in self.only:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        if path is None and name in self.paths:
            return _spec(name, self.paths[name])
        return None


def _spec(name: str, where: str):
    if os.path.isdir(where):
        init = os.path.join(where, "__init__.py")
        return importlib.util.spec_from_file_location(name, init, submodule_search_locations=[where])
    return importlib.util.spec_from_file_location(name, where)


def install(config: dict, only: bool) -> None:
    """Make the allowed modules importable; `only`: refuse the others (the fork server, for programs)."""
    if config["modules"] == "*":
        sys.path.extend(p for p in config["site"] if p not in sys.path)
        return
    paths = dict(config["module_paths"])
    allowed = set(sys.stdlib_module_names) | set(filter(None, config["modules"].split(","))) if only else None
    sys.meta_path.insert(0, Allowed(paths, allowed))


def site_builtins() -> None:
    """exit, quit, help, copyright, credits, license: what `site` adds to builtins (without its path changes)."""
    import site

    site.setquit()
    site.setcopyright()
    site.sethelper()
