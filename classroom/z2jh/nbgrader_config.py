# nbgrader settings in the course's single-user image (Zero to JupyterHub): one course, and the
# exchange on the shared volume every server mounts at the same path (see config.yaml).
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "mlops-course"
c.Exchange.root = "/srv/nbgrader/exchange"
