"""The course as a class on JupyterHub: accounts, the nbgrader exchange made private, the hub's configuration."""
