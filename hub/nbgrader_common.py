"""What every server of the class tells nbgrader: the course, its exchange, its time zone.

Loaded by instructor/nbgrader_config.py and learner/nbgrader_config.py (each user's server finds its
role's folder first on JUPYTER_CONFIG_PATH; see freezelab.hub.classroom.ClassSettings.environment).
"""

import os


def configure_exchange(c):
    c.CourseDirectory.course_id = os.environ["FREEZELAB_COURSE_ID"]
    c.Exchange.root = os.environ["FREEZELAB_EXCHANGE_DIR"]
    # Submissions are stamped, and deadlines shown, in the class's time zone (hub/class.toml).
    c.Exchange.timezone = os.environ["FREEZELAB_TIMEZONE"]
    c.NbGraderAPI.timezone = os.environ["FREEZELAB_TIMEZONE"]
    c.LateSubmissionPlugin.penalty_method = os.environ.get("FREEZELAB_LATE_PENALTY", "none")
    # The course list comes from the hub's groups nbgrader-<course> and formgrade-<course>.
    c.Authenticator.plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"
    # The exchange without the world-writable holes (freezelab.hub.exchange).
    from freezelab.hub import exchange

    exchange.configure(c)
