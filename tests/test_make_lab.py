"""Does `make lab` serve JupyterLab on labs/ and print where to find it?"""

from __future__ import annotations

import pytest

from mlops_course.course.layout import lab_names

from .conftest import ROOT
from .servers import free_port, running, wait_for


@pytest.mark.slow
@pytest.mark.server
def test_make_lab_serves_the_labs_over_http(tmp_path):
    """Does JupyterLab started by `make lab` list every lab and show its UI?"""
    port, token = free_port(), "course-test-token"
    flags = f"--no-browser --IdentityProvider.token={token} --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1"
    log = tmp_path / "make-lab.log"
    with running(["make", "-s", "lab", f"PORT={port}", f"LAB_FLAGS={flags}"], log, ROOT) as proc:
        base = f"http://127.0.0.1:{port}"
        listing = wait_for(f"{base}/api/contents?token={token}", timeout=90, proc=proc).json()
        served = {item["name"] for item in listing["content"]}
        assert set(lab_names(ROOT, "labs")) <= served, f"JupyterLab serves {served}"
        for lab in lab_names(ROOT, "labs"):
            folder = wait_for(f"{base}/api/contents/{lab}?token={token}", timeout=10).json()
            assert f"{lab}.ipynb" in {item["name"] for item in folder["content"]}
        page = wait_for(f"{base}/lab?token={token}", timeout=30)
        assert "JupyterLab" in page.text
    output = log.read_text()
    assert f":{port}/lab" in output, f"`make lab` should print the URL to open; it printed:\n{output[-2000:]}"
