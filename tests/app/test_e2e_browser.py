"""End to end in headless Chromium against gunicorn on loopback.

Uses Debian's chromium and chromium-driver through selenium, with the driver path given
explicitly so selenium-manager never tries to download one. Skips (with the reason) only
when the browser or driver is not installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.app.microblog_helpers import REPO_ROOT, Server

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = REPO_ROOT / "test-artifacts"
XSS = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    # Belt and braces: selenium-manager must never reach out for a browser or driver.
    monkeypatch.setenv("SE_OFFLINE", "true")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.skip(f"{path} is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1100,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Visitor:
    def __init__(self, driver: webdriver.Chrome, base: str) -> None:
        assert base.startswith("http://127.0.0.1:")
        self.driver, self.base = driver, base

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def fill(self, form_id: str, **fields: str) -> None:
        form = self.driver.find_element(By.ID, form_id)
        for name, value in fields.items():
            box = form.find_element(By.NAME, name)
            box.clear()
            box.send_keys(value)
        form.find_element(By.CSS_SELECTOR, "[type=submit]").click()

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_for_text(self, text: str) -> None:
        # Read the page's text in one script call: an element handle taken before a
        # navigation finishes can belong to the old document.
        WebDriverWait(self.driver, 10).until(
            lambda d: (
                text in d.execute_script("return document.body ? document.body.innerText : ''")
            )
        )

    def register_and_login(self, name: str) -> None:
        self.open("/auth/register")
        self.fill(
            "register-form",
            username=name,
            email=f"{name}@example.com",
            password="a long passphrase",
            password2="a long passphrase",
        )
        self.wait_for_text("You can log in now")
        self.fill("login-form", username=name, password="a long passphrase")
        self.wait_for_text(f"Hello, {name}")

    def post(self, body: str) -> None:
        self.open("/")
        self.fill("post-form", body=body)
        self.wait_for_text("Your post is live.")

    def logout(self) -> None:
        self.driver.find_element(By.ID, "logout").click()
        self.wait_for_text("You have been logged out.")


def test_register_post_follow_timeline(
    browser: webdriver.Chrome, gunicorn_factory: Callable[..., Server]
) -> None:
    server = gunicorn_factory("e2e", workers=2)
    visitor = Visitor(browser, server.url)

    visitor.register_and_login("bob")
    visitor.post("Hello from bob, through a real browser")
    visitor.logout()

    visitor.register_and_login("alice")
    assert "Hello from bob" not in visitor.text()  # not following yet
    visitor.post(XSS)
    visitor.open("/user/bob")
    browser.find_element(By.ID, "follow").click()
    visitor.wait_for_text("You are following bob.")
    assert browser.find_element(By.ID, "followers-count").text == "1"

    visitor.open("/")
    timeline = visitor.text()
    assert "Hello from bob, through a real browser" in timeline
    # The payload shows as text and never runs.
    assert XSS in timeline
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.find_elements(By.CSS_SELECTOR, ".post-body img") == []
    # The identicons load from the app itself.
    avatar = browser.find_element(By.CSS_SELECTOR, ".post img.avatar")
    assert avatar.get_attribute("src").startswith(server.url + "/avatar/")
    assert browser.execute_script("return arguments[0].naturalWidth > 0", avatar)

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "e2e-timeline.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 1000
    visitor.open("/user/bob")
    assert browser.save_screenshot(str(ARTIFACTS / "e2e-profile.png"))
    visitor.open("/user/nobody-here")
    assert "Not Found" in visitor.text()
    assert browser.save_screenshot(str(ARTIFACTS / "e2e-404.png"))
    # The browser console has no CSP violations or script errors from our pages.
    logs = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not [e for e in logs if "Content Security Policy" in e.get("message", "")], logs
