# JupyterHub configuration of the course's class server (one machine).
#
# `mlops-course class-server start` runs JupyterHub with this file and points
# $MLOPS_COURSE_CLASS_SETTINGS at the class's record in its state folder
# (ports, accounts, URLs: mlops_course/classroom/state_folder.py, ClassSettings);
# secrets come from the environment the set-up gives the Hub and from the
# root-only secrets folder, never from this file. Every student and the
# instructor is a real system account, and each single-user server runs as that
# account (LocalProcessSpawner), in the course's Python environment.
import os
import pwd

from mlops_course.classroom import state_folder
from mlops_course.course.config import DB_URL_ENV

settings = state_folder.hub_settings()
state = settings.state

c = get_config()  # noqa: F821 (JupyterHub provides get_config)

# Loopback only, on ports the set-up chose free.
c.JupyterHub.bind_url = settings.hub_url
c.JupyterHub.hub_bind_url = f"http://{state_folder.LOOPBACK}:{settings.hub_api_port}"
c.ConfigurableHTTPProxy.api_url = f"http://{state_folder.LOOPBACK}:{settings.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [settings.proxy_command]
c.ConfigurableHTTPProxy.pid_file = str(state_folder.proxy_pid_file(state))
c.JupyterHub.db_url = f"sqlite:///{state}/hub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/secrets/cookie_secret"
c.JupyterHub.pid_file = f"{state}/hub/jupyterhub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# Who may log in: the roster, nobody else. The instructor is the Hub's admin.
c.Authenticator.allowed_users = set(settings.students) | {settings.instructor}
c.Authenticator.admin_users = {settings.instructor}
if settings.test_logins:
    # For tests and benchmarks only: every account logs in with one shared password.
    # A real class uses the system's passwords (PAM, the default) or the institution's login.
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ[state_folder.TEST_PASSWORD_ENV]

# Each server runs as its user, in the course's environment, from the user's home folder, and a
# student's under limits of their own (a process cap, a memory cap, a fair CPU share; see
# mlops_course/classroom/limits.py): the spawner puts the new process in the student's control groups, or
# under resource limits, between fork and exec, before it becomes the student.
from jupyterhub.spawner import LocalProcessSpawner

from mlops_course.classroom import limits
from mlops_course.grading.formgrade import INSTRUCTOR_LAB_CONFIG

STUDENT_LIMITS = settings.student_limits


class StudentSpawner(LocalProcessSpawner):
    """LocalProcessSpawner whose students' servers, and all they start, stay within their limits."""

    def make_preexec_fn(self, name):
        become_user = super().make_preexec_fn(name)
        if name == settings.instructor:
            return become_user
        procs = limits.prepare(name, STUDENT_LIMITS, settings.limits_mode)  # in the Hub, as root

        def preexec():
            limits.join(procs, STUDENT_LIMITS)
            become_user()

        return preexec


c.JupyterHub.spawner_class = StudentSpawner
c.Spawner.cmd = [str(settings.singleuser)]
c.Spawner.default_url = "/lab"
# Kernels talk to their server over Unix sockets, not TCP: over TCP, kernels starting at the same
# moment on one machine can pick the same free port and die ("Address already in use"), as the load
# benchmark saw at 30 students. The sockets live in the account's short runtime folder,
# /run/mlops-course/<uid> (mlops_course/classroom/accounts.py, ensure_runtime_dir), as a home under the state folder is too deep
# for the 107 characters a socket's path may have.
c.Spawner.args = ["--KernelManager.transport=ipc"]
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.Spawner.mem_limit = STUDENT_LIMITS.memory_bytes  # shown in JupyterLab; a student's is enforced by StudentSpawner
c.Spawner.environment = dict(settings.environment)


def per_user_environment(spawner):
    """The account's own runtime folder and MLflow login; the gradebook's URL (with its password) to the instructor alone.

    The MLflow password is read from the root-only secrets folder (state_folder.mlflow_password);
    a server's environment is readable by its own account only (/proc/<pid>/environ).
    """
    uid = pwd.getpwnam(spawner.user.name).pw_uid
    mlflow_password = state_folder.mlflow_password(state, spawner.user.name)
    spawner.environment = {**spawner.environment, "JUPYTER_RUNTIME_DIR": str(settings.runtime_base / str(uid)),
                           "MLFLOW_TRACKING_USERNAME": spawner.user.name, "MLFLOW_TRACKING_PASSWORD": mlflow_password}
    if spawner.user.name == settings.instructor:
        # nbgrader's instructor tools (formgrader, create assignment), which a learner's JupyterLab hides.
        spawner.environment = {**spawner.environment, DB_URL_ENV: os.environ[DB_URL_ENV],
                               "JUPYTER_CONFIG_PATH": str(INSTRUCTOR_LAB_CONFIG)}


c.Spawner.pre_spawn_hook = per_user_environment

# The set-up, the tests and the benchmark drive the Hub through its REST API with this service's token.
c.JupyterHub.services = [{"name": "class-admin", "api_token": os.environ[state_folder.HUB_TOKEN_ENV]}]
c.JupyterHub.load_roles = [{
    "name": "class-admin",
    "scopes": ["admin:users", "admin:servers", "access:servers", "tokens", "list:users", "read:users"],
    "services": ["class-admin"],
}]
