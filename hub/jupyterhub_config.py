"""JupyterHub for the class on one machine. Start it with `make class` (or python -m freezelab.hub run),
which sets the class up first and tells this file where its settings are ($FREEZELAB_CLASS)."""

import os

from freezelab.hub.classroom import SETTINGS_VARIABLE, ClassSettings, configure_hub

c = get_config()  # noqa: F821
configure_hub(c, ClassSettings.load(os.environ[SETTINGS_VARIABLE]))
