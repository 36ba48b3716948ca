"""The plugin's tests: most run pytest inside this process (pytester's in-process runs)."""

# After each in-process run, pytester drops the modules the run imported. aura.testing was
# loaded with the plugin, in this session, and keeps naming its submodules (as the package's
# attributes, and the names it loads lazily): one first imported inside a run would be dropped
# while the package still names it, and the next run would import a second copy, whose Trace is
# not the first's (Bridge then refuses it: "needs an aura.testing.Trace ..., got Trace").
# Imported here, in this session, each is kept, and all runs share one copy.
import aura.testing.bridge
import aura.testing.export
import aura.testing.fakes
import aura.testing.matching
import aura.testing.recorders
import aura.testing.scenario  # noqa: F401
