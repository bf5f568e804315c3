"""A real browser in the room: Debian's Chromium, headless, driven over WebDriver by selenium.

Run by tests/browser.rs (so `cargo test` runs it): it starts the real pollchat binary on free loopback
ports, opens the page, joins by typing a name and Enter, and checks with a plain TCP client that both
sides see each other, that the browser lists the TCP user as online, and that a line of HTML from the
TCP user shows as text. It writes a screenshot of the live chat. Usage:

    python3 tests/browser.py PATH/TO/pollchat SCREENSHOT.png
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 15
INJECTION = "<img src=x onerror=alert(1)>"


def start_server(binary):
    server = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    first = server.stdout.readline().strip()  # pollchat listening on A; web http://B/
    chat, web = first.removeprefix("pollchat listening on ").split("; web ")
    host, port = chat.rsplit(":", 1)
    return server, (host, int(port)), web


class Tcp:
    """A line client with a read timeout."""

    def __init__(self, addr, name):
        self.sock = socket.create_connection(addr, timeout=TIMEOUT)
        self.file = self.sock.makefile("r", encoding="utf-8", newline="\n")
        self.sock.sendall(f"{name}\n".encode())
        self.until(lambda line: line.startswith("*** online ("))

    def until(self, test):
        while True:
            line = self.file.readline()
            if not line:
                raise AssertionError("connection closed while waiting")
            line = line.rstrip("\n")
            if test(line):
                return line

    def send(self, text):
        self.sock.sendall(f"{text}\n".encode())


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1000,640", f"--user-data-dir={tempfile.mkdtemp(prefix='pollchat-chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def main():
    binary, screenshot = sys.argv[1], sys.argv[2]
    server, chat_addr, web_url = start_server(binary)
    driver = None
    try:
        tcp = Tcp(chat_addr, "nc_user")
        driver = browser()
        wait = WebDriverWait(driver, TIMEOUT)
        driver.get(web_url)
        # Keyboard first: the name box has the focus; a name and Enter join.
        wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "name")
        # A taken name: the page shows the server's reason and lets the person try another.
        driver.switch_to.active_element.send_keys("NC_USER", Keys.ENTER)
        wait.until(lambda d: "the name NC_USER is taken" in d.find_element(By.ID, "joinerr").text)
        name_box = driver.find_element(By.ID, "name")
        name_box.clear()
        name_box.send_keys("browser_user", Keys.ENTER)
        tcp.until(lambda line: line == "*** browser_user joined")
        wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "text")

        driver.switch_to.active_element.send_keys("hello from chromium", Keys.ENTER)
        tcp.until(lambda line: line == "<browser_user> hello from chromium")

        tcp.send("hello from nc")
        tcp.send(INJECTION)
        log = driver.find_element(By.ID, "log")
        wait.until(lambda d: INJECTION in log.text)
        assert "hello from nc" in log.text, log.text
        # The line of HTML is text: no element was created from it.
        assert not driver.find_elements(By.CSS_SELECTOR, "#log img"), "HTML was injected"
        users = driver.find_element(By.ID, "users")
        wait.until(lambda d: "nc_user" in users.text and "browser_user" in users.text)
        # The browser's own line is shown as sent.
        assert "hello from chromium" in log.text, log.text

        tcp.send("/me waves at the browser")
        wait.until(lambda d: "* nc_user waves at the browser" in log.text)
        os.makedirs(os.path.dirname(screenshot) or ".", exist_ok=True)
        driver.save_screenshot(screenshot)
        print(f"browser test passed; screenshot in {screenshot}")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=TIMEOUT)


if __name__ == "__main__":
    main()
