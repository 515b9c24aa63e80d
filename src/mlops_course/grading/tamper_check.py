"""Runs *inside* a student's kernel while grading: has the notebook changed what the tests rely on?

Test cells run in the same Python process as the student's code, so a
notebook could replace `builtins.isinstance`, `numpy.allclose` or IPython's
error reporting and make every test pass. Before each test cell the grader
asks `findings()` whether anything outside the notebook's own namespace now
holds code written in a notebook cell, or whether a builtin was swapped since
this module was imported (before the first cell ran).

This raises the bar for ordinary monkey-patching; it is not proof against a
determined attacker who controls the process (who could also patch this
module). The grader therefore also checks, with a failing assertion of its
own, that errors are still reported (see mlops_course.grading.execute_guard).
"""

from __future__ import annotations

import builtins
import functools
import operator
import sys
import tempfile

_BUILTINS = dict(vars(builtins))
# ipykernel itself swaps `input` for every request (to forward it to the browser).
_REPLACED_BY_KERNEL = {"input", "raw_input"}
# Libraries whose classes tests use directly (methods patched on a class count too).
_CLASS_PACKAGES = ("builtins", "numpy", "pandas", "sklearn", "scipy", "math", "statistics", "mlops_course",
                   "IPython", "ipykernel", "mlflow", "pandera", "json")
_MAX_FINDINGS = 10
# Modules found clean, with the fingerprint they had then: a module whose fingerprint is unchanged
# is not scanned again. Scanning all ~2,000 modules of a lab's kernel takes most of a second, and
# the grader asks before every test cell; most modules never change between two test cells.
_CLEAN: dict[str, tuple] = {}


def _cell_prefixes() -> tuple[str, ...]:
    return (f"{tempfile.gettempdir()}/ipykernel_", "<ipython-input")


def _from_notebook(obj: object, prefixes: tuple[str, ...]) -> bool:
    """Was `obj` (a function, method, class or instance) written in a notebook cell?"""
    try:
        if isinstance(obj, functools.partial):
            obj = obj.func
        func = getattr(obj, "__func__", obj)
        code = getattr(func, "__code__", None) if callable(func) else None
        if code is not None and isinstance(getattr(code, "co_filename", None), str):
            return code.co_filename.startswith(prefixes)
        if isinstance(obj, type):
            return getattr(obj, "__module__", None) == "__main__"
        return getattr(type(obj), "__module__", None) == "__main__"
    except Exception:  # noqa: BLE001 (an object whose attributes raise: not ours to judge)
        return False


def findings() -> list[str]:
    """Names of the places the notebook patched, at most ten (empty: nothing found)."""
    prefixes = _cell_prefixes()
    found: list[str] = []

    def add(name: str) -> bool:
        found.append(name)
        return len(found) >= _MAX_FINDINGS

    for name, value in list(vars(builtins).items()):
        if name in _BUILTINS and value is not _BUILTINS[name] and not name.startswith("_") and name not in _REPLACED_BY_KERNEL:
            if add(f"builtins.{name}"):
                return found
    main = getattr(sys.modules.get("__main__"), "__dict__", None)
    for modname, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        # The notebook's own namespace, under any alias (multiprocessing adds __mp_main__).
        if modname == "builtins" or not isinstance(namespace, dict) or namespace is main:
            continue
        deep = modname.split(".")[0] in _CLASS_PACKAGES
        fingerprint = _fingerprint(namespace, modname if deep else None)
        if _is_clean(modname, fingerprint):
            continue
        before = len(found)
        for attr, value in list(namespace.items()):
            if _from_notebook(value, prefixes):
                if add(f"{modname}.{attr}"):
                    return found
            elif deep and isinstance(value, type) and getattr(value, "__module__", None) == modname:
                for cattr, cvalue in list(vars(value).items()):
                    if _from_notebook(cvalue, prefixes) and add(f"{modname}.{attr}.{cattr}"):
                        return found
        if len(found) == before:
            _CLEAN[modname] = fingerprint
        else:
            _CLEAN.pop(modname, None)
    found.extend(_ipython_findings(prefixes))
    if sys.gettrace() is not None or sys.getprofile() is not None:
        found.append("sys.settrace/sys.setprofile")
    return found[:_MAX_FINDINGS]


def _fingerprint(namespace: dict, classes_of: str | None) -> tuple:
    """What a module holds: its namespace, the objects in it and (for the packages whose classes
    tests use) the members of the classes it defines. Any assignment to the module or to one of
    those classes changes this. Cheap: no attribute is looked into.

    A class counts in the module that defines it (`classes_of`), the module `findings` scans it
    in, and not in every module that re-exports it: pandas' DataFrame is in a dozen namespaces."""
    try:
        values = tuple(namespace.values())
        members = tuple(tuple(vars(v).values()) for v in values
                        if isinstance(v, type) and getattr(v, "__module__", None) == classes_of) if classes_of else ()
        return namespace, values, members
    except Exception:  # noqa: BLE001 (a namespace that fights back is scanned every time)
        return (object(),)


def _is_clean(modname: str, fingerprint: tuple) -> bool:
    """Does the module hold exactly the objects it held when it was found clean?

    Objects are compared by identity only, never with `==`, which is slow on arbitrary objects and
    can be hostile (an object whose `__eq__` always says True). Keeping the clean objects alive in
    `_CLEAN` is what makes identity safe: an object that is still referenced cannot be freed, so a
    patch made later cannot land at the address of a clean object and pass for it.
    """
    clean = _CLEAN.get(modname)
    if clean is None or len(clean) != 3 or len(fingerprint) != 3:
        return False
    (namespace, values, members), (now_namespace, now_values, now_members) = clean, fingerprint
    return (namespace is now_namespace and _same(values, now_values) and len(members) == len(now_members)
            and all(map(_same, members, now_members)))


def _same(before: tuple, now: tuple) -> bool:
    """Do two tuples hold the very same objects, in the same order?"""
    return len(before) == len(now) and all(map(operator.is_, before, now))


def _ipython_findings(prefixes: tuple[str, ...]) -> list[str]:
    """Hooks into IPython that could rewrite or silence the test cells."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    if shell is None:
        return []
    found = [f"IPython shell.{name}" for name, value in list(vars(shell).items())
             if name != "user_ns" and _from_notebook(value, prefixes)]
    for hooks in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
        if any(_from_notebook(h, prefixes) for h in getattr(shell, hooks, [])):
            found.append(f"IPython shell.{hooks}")
    for event, callbacks in getattr(getattr(shell, "events", None), "callbacks", {}).items():
        if any(_from_notebook(c, prefixes) for c in callbacks):
            found.append(f"IPython event '{event}'")
    return found
