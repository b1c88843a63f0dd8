"""Old import paths that keep working for one release, with a `DeprecationWarning`."""

import warnings

REMOVED_IN = "0.4"


def moved_module(old_name, target):
    """`(__getattr__, __dir__)` for a module whose contents moved to the module `target`.

    Reading a name from the old module warns (naming the new path) and
    returns the object from `target`, so `from old import name` keeps working.
    """

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(target, name)
        warnings.warn(
            f"{old_name}.{name} moved to {target.__name__}.{name} in keras_gpos 0.3; the old path "
            f"goes in {REMOVED_IN}.", DeprecationWarning, stacklevel=2)
        return value

    def __dir__():
        return [name for name in dir(target) if not name.startswith("__")]

    return __getattr__, __dir__


def moved_names(old_name, names):
    """`__getattr__` for a package from which some names moved: `{name: loader}`.

    `loader()` imports and returns the object from its new home; reading the
    name warns once per access, naming that home.
    """

    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {old_name!r} has no attribute {name!r}")
        value = names[name]()
        warnings.warn(
            f"{old_name}.{name} moved to {value.__module__}.{name} in keras_gpos 0.3; the old path goes "
            f"in {REMOVED_IN}.", DeprecationWarning, stacklevel=2)
        return value

    return __getattr__

__all__ = [
    "REMOVED_IN", "moved_module", "moved_names"
]
