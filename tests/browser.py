"""A real browser in the room: Debian's Chromium, headless, driven over WebDriver by selenium.

Run by tests/browser.rs (so `cargo test` runs it). Four scenarios, each against its own real pollchat
binary on free loopback ports, the first three in one browser:

1. chat: the page joins by typing a name and Enter; a plain TCP client checks that both sides see each
   other, that the browser lists the TCP user as online (marked "@": it is an operator), and that a
   line of HTML from the TCP user shows as text. Screenshot of the live chat: SCREENSHOT.png.
2. rooms: the page joins #dev from its message box; TCP users chat in #dev and in #general. Each
   room's lines show in that room only, the rooms list shows both rooms with an unread count on the
   one not on the screen, and switching by click and by Alt+Down shows the other room and makes it
   the one the page's typed lines go to; /part leaves #dev. Screenshot: SCREENSHOT-rooms.png.
3. flood: a TCP client sends 10,000 numbered lines a second for 3 s to the room the page is in. While
   it does, the page must answer a script within a second and still send what is typed; afterwards
   the log holds at most 2,000 lines, the last one being the flood's last. Screenshot:
   SCREENSHOT-flood.png. Then 5,000 lines arrive while the page's tab is in the background (no
   animation frames there): back in front, the page shows the newest of them after a notice of how
   many it skipped. The server runs with FLOOD_ARGS, which turn its flood control off.
4. tls: the server serves the page over HTTPS with a self-signed certificate (--tls-self-signed), and
   a browser of its own, told to take it (--ignore-certificate-errors), loads the page, whose
   WebSocket is then wss://; it joins and trades a line each way with a plain TCP user.

Usage:

    python3 tests/browser.py PATH/TO/pollchat SCREENSHOT.png
"""

import contextlib
import datetime
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 15
INJECTION = "<img src=x onerror=alert(1)>"

# The flood scenario's server runs with these extra arguments. Its flood control (10 lines at once,
# then 2 a second per connection) would hold the flooder back, so the scenario turns it off.
FLOOD_ARGS = ["--flood-rate", "0"]
FLOOD_LINES = 30_000  # in all, numbered from 1
FLOOD_RATE = 10_000  # lines a second
FLOOD_MAX_SECONDS = 10  # the flooder stops here even if it has not sent them all
MAX_LOG_LINES = 2000  # MAX_LINES in src/web/index.html
# The longest the page may take to run a script during the flood. Not a speed target (those are in
# docs/performance.md, measured on a quiet machine): a bound far above what a working page takes
# (56-219 ms measured) and far below what a page that draws every line takes (23 s before the fix),
# so that a busy CI machine (1.12 s seen once under a parallel build) cannot fail it.
MAX_SCRIPT_SECONDS = 5.0


@contextlib.contextmanager
def running_server(binary, extra_args=(), web="127.0.0.1:0"):
    """The real server on free loopback ports; yields its chat address and its page's URL."""
    errors = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--web", web, *extra_args],
        stdout=subprocess.PIPE, stderr=errors, text=True,
    )
    try:
        first = server.stdout.readline().strip()  # pollchat listening on A; web http://B/[; tls sha256 F]
        if not first.startswith("pollchat listening on "):
            server.wait(timeout=TIMEOUT)
            errors.seek(0)
            raise AssertionError(f"the server did not start with {extra_args}: {errors.read()}")
        chat, web = first.removeprefix("pollchat listening on ").split("; web ")
        web = web.split("; ")[0]
        host, port = chat.rsplit(":", 1)
        yield (host, int(port)), web
    finally:
        server.terminate()
        server.wait(timeout=TIMEOUT)
        errors.close()


class Tcp:
    """A line client. A thread reads everything the server sends as soon as it comes, so a client
    that only watches a flood is never dropped as a slow reader; until() takes the lines in order."""

    def __init__(self, addr, name):
        self.sock = socket.create_connection(addr, timeout=TIMEOUT)
        self.lines = queue.Queue()  # lines read and not yet looked at; None when the connection closed
        self.seen = []  # every line until() has looked at
        threading.Thread(target=self._read, daemon=True).start()
        self.send(name)
        self.until(lambda line: line.startswith("*** online ("))

    def _read(self):
        unfinished = b""
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                continue  # A quiet room; until() has its own deadline.
            except OSError:
                break
            if not data:
                break
            *lines, unfinished = (unfinished + data).split(b"\n")
            for line in lines:
                self.lines.put(line.decode("utf-8", errors="replace"))
        self.lines.put(None)

    def until(self, test, timeout=TIMEOUT):
        """The first line from now on that passes the test; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such line in {timeout} s; the last ones: {self.seen[-5:]}")
            if line is None:
                raise AssertionError("connection closed while waiting")
            self.seen.append(line)
            if test(line):
                return line

    def until_all(self, wanted, timeout=TIMEOUT):
        """Waits for every one of the `wanted` lines, in any order."""
        missing = set(wanted)
        self.until(lambda line: missing.discard(line) or not missing, timeout)

    def send(self, text):
        self.sock.sendall(f"{text}\n".encode())


def flood_line(n):
    return f"flood {n:05d}: the quick brown fox jumps over the lazy dog"


class Flooder(threading.Thread):
    """Sends FLOOD_LINES numbered lines from its own connection at FLOOD_RATE a second, in batches
    every few milliseconds; stops after FLOOD_MAX_SECONDS whatever it has sent."""

    def __init__(self, addr):
        super().__init__(daemon=True)
        self.client = Tcp(addr, "flooder")
        self.sent, self.seconds, self.error = 0, 0.0, None

    def run(self):
        try:
            start = time.monotonic()
            while self.sent < FLOOD_LINES and time.monotonic() - start < FLOOD_MAX_SECONDS:
                # Lines due by now, plus 10 ms' worth: the pace holds even when a sleep runs long.
                due = int((time.monotonic() - start) * FLOOD_RATE) + FLOOD_RATE // 100
                due = min(due, FLOOD_LINES)
                if due > self.sent:
                    batch = "".join(flood_line(n) + "\n" for n in range(self.sent + 1, due + 1))
                    self.client.sock.sendall(batch.encode())
                    self.sent = due
                time.sleep(0.005)
            self.seconds = time.monotonic() - start
        except Exception as error:  # Reported by the main thread.
            self.error = error


def browser(*extra_flags):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*extra_flags, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1000,640", f"--user-data-dir={tempfile.mkdtemp(prefix='pollchat-chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def join(driver, web_url, name):
    """Opens the page and joins by typing a name and Enter; returns once the message box has the focus."""
    wait = WebDriverWait(driver, TIMEOUT)
    driver.get(web_url)
    wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "name")
    name_box = driver.find_element(By.ID, "name")
    name_box.clear()
    name_box.send_keys(name, Keys.ENTER)
    wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "text")


def save_screenshot(driver, path):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    driver.save_screenshot(path)


def chat_scenario(driver, binary, screenshot):
    password = tempfile.NamedTemporaryFile(mode="w", suffix=".oper", delete=False)
    password.write("letmein\n")
    password.close()
    with running_server(binary, ["--oper-password-file", password.name]) as (chat_addr, web_url):
        tcp = Tcp(chat_addr, "nc_user")
        tcp.send("/oper letmein")
        tcp.until(lambda line: line == "*** you are now an operator")
        # A line said before the browser comes: the page must show it at the time it was said (the
        # history line's time), not the time it arrived.
        tcp.send("said before you came")
        witness = Tcp(chat_addr, "witness")
        said = next(line for line in witness.seen if line.endswith(" <nc_user> said before you came"))
        said_at_ms = int(datetime.datetime.fromisoformat(said.split(" ")[0].replace("Z", "+00:00")).timestamp() * 1000)
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

        shown_at = driver.execute_script(
            "for (const room of rooms.values()) for (const l of room.lines) "
            "if (l.text === 'said before you came') return l.at; return null;")
        assert shown_at == said_at_ms, (shown_at, said_at_ms, said)
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
        # The operator is marked with an "@" badge; the browser's user is not.
        badges = [li.text for li in users.find_elements(By.CSS_SELECTOR, "li") if li.find_elements(By.CLASS_NAME, "op")]
        assert badges == ["@nc_user"], badges
        # The browser's own line is shown as sent.
        assert "hello from chromium" in log.text, log.text

        tcp.send("/me waves at the browser")
        wait.until(lambda d: "* nc_user waves at the browser" in log.text)
        save_screenshot(driver, screenshot)
        print(f"chat scenario passed; screenshot in {screenshot}")
    os.unlink(password.name)


# Scripts that read the rooms list, the room on the screen and its members.
ROOMS = """return [...document.querySelectorAll('#rooms button')].map((b) =>
    [b.dataset.room, (b.querySelector('.unread') || {}).textContent || '', b.classList.contains('shown')])"""
SHOWN_ROOM = "return document.getElementById('roomname').textContent"
MEMBERS = "return [...document.querySelectorAll('#users li')].map((li) => li.textContent)"


def rooms(driver):
    """The rooms list as (name, unread count or '', on the screen) tuples, in the list's order."""
    return [tuple(room) for room in driver.execute_script(ROOMS)]


def unread(driver, name):
    return next((count for room, count, _ in rooms(driver) if room == name), None)


def type_line(driver, text):
    driver.find_element(By.ID, "text").send_keys(text, Keys.ENTER)


def rooms_scenario(driver, binary, screenshot):
    start = time.monotonic()
    with running_server(binary) as (chat_addr, web_url):
        ana = Tcp(chat_addr, "ana")  # stays in #general, the default room
        bea = Tcp(chat_addr, "bea")  # joins #dev too
        join(driver, web_url, "web_user")
        ana.until(lambda line: line == "*** web_user joined")
        wait = WebDriverWait(driver, TIMEOUT)
        log = driver.find_element(By.ID, "log")
        # The page asked /rooms by itself to learn the default room's name, and did not show the answer.
        wait.until(lambda d: rooms(d) == [("#general", "", True)] and d.execute_script(SHOWN_ROOM) == "#general")
        assert "*** rooms (" not in log.text, log.text

        # /join typed in the message box: the page moves to #dev, and lists both rooms.
        type_line(driver, "/join #dev")
        wait.until(lambda d: d.execute_script(SHOWN_ROOM) == "#dev" and "*** you joined #dev" in log.text)
        assert [room for room, _, _ in rooms(driver)] == ["#dev", "#general"], rooms(driver)
        bea.send("/join #dev")
        bea.until(lambda line: line == "*** you joined #dev")
        bea.send("the build is green")
        wait.until(lambda d: "<bea> the build is green" in log.text)
        # Members are per room: ana is in #general only.
        wait.until(lambda d: d.execute_script(MEMBERS) == ["bea", "web_user"])

        # A line in #general, not on the screen: counted as unread there, not mixed into #dev.
        ana.send("lunch anyone?")
        bea.until(lambda line: line == "#general <ana> lunch anyone?")
        wait.until(lambda d: unread(d, "#general") == "1")
        assert "lunch anyone?" not in log.text, log.text
        save_screenshot(driver, screenshot)

        # A click on #general shows its line, and not #dev's; its unread count is gone.
        driver.find_element(By.CSS_SELECTOR, '#rooms button[data-room="#general"]').click()
        wait.until(lambda d: "<ana> lunch anyone?" in log.text)
        assert "the build is green" not in log.text, log.text
        wait.until(lambda d: rooms(d) == [("#dev", "", False), ("#general", "", True)])
        wait.until(lambda d: d.execute_script(MEMBERS) == ["ana", "bea", "web_user"])
        # The click made #general the server's current room too: a typed line goes there.
        wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "text")
        type_line(driver, "back in general")
        ana.until(lambda line: line == "<web_user> back in general")

        # Now #dev is the room off the screen; Alt+Down shows it, and what is typed next goes there.
        bea.send("second dev line")
        wait.until(lambda d: unread(d, "#dev") == "1")
        ActionChains(driver).key_down(Keys.ALT).send_keys(Keys.ARROW_DOWN).key_up(Keys.ALT).perform()
        wait.until(lambda d: d.execute_script(SHOWN_ROOM) == "#dev" and "<bea> second dev line" in log.text)
        assert "lunch anyone?" not in log.text, log.text
        type_line(driver, "hi dev")
        bea.until(lambda line: line == "<web_user> hi dev")
        # ana is not in #dev: the line never reached her (bea's /msg comes after it).
        bea.send("/msg ana after hi dev")
        ana.until(lambda line: line == "[bea -> you] after hi dev")
        assert not [line for line in ana.seen if "hi dev" in line and line.startswith(("<", "#"))], ana.seen

        # /part typed in the message box: #dev leaves the list, and the page is back in #general.
        type_line(driver, "/part")
        bea.until(lambda line: line == "*** web_user left (parted)")
        wait.until(lambda d: rooms(d) == [("#general", "", True)] and d.execute_script(SHOWN_ROOM) == "#general")
        wait.until(lambda d: "*** you left #dev" in log.text)
        print(f"rooms scenario passed in {time.monotonic() - start:.1f} s; screenshot in {screenshot}")


def script_seconds(driver):
    """How long the page takes to run a trivial script, WebDriver's round trip included."""
    start = time.monotonic()
    try:
        assert driver.execute_script("return 1") == 1
    except TimeoutException:
        raise AssertionError("the page did not run a script within the script timeout")
    return time.monotonic() - start


# Scripts that read the page's log.
LAST_LOG_LINES = "return [...document.querySelectorAll('#log li')].slice(-arguments[0]).map((li) => li.textContent)"
FIRST_LOG_LINE = "const li = document.querySelector('#log li'); return [li.className, li.textContent]"
LOG_AT_END = "const log = document.getElementById('log'); return log.scrollTop + log.clientHeight >= log.scrollHeight - 40"


def wait_for_last_log_line(driver, text, among=1):
    """Waits until one of the log's last `among` lines ends with `text`."""
    try:
        WebDriverWait(driver, TIMEOUT).until(
            lambda d: any(line.endswith(text) for line in d.execute_script(LAST_LOG_LINES, among)))
    except TimeoutException:
        raise AssertionError(f"the log does not end with {text!r}: {driver.execute_script(LAST_LOG_LINES, 5)}")


def flood_scenario(driver, binary, screenshot):
    with running_server(binary, FLOOD_ARGS) as (chat_addr, web_url):
        watcher = Tcp(chat_addr, "watcher")
        join(driver, web_url, "flood_browser")
        watcher.until(lambda line: line == "*** flood_browser joined")
        flooder = Flooder(chat_addr)
        latencies, typing_seconds = flood_while_checking(driver, flooder)
        last = flood_line(FLOOD_LINES)
        watcher.until_all({"<flood_browser> typed during the flood", f"<flooder> {last}"})
        flood_end = time.monotonic()

        # After it: the last flood line is shown, at the end of a log of at most MAX_LOG_LINES lines,
        # scrolled to show it; the page was never dropped as a slow reader. (The line typed during the
        # flood may come after it: on a busy machine the keys can reach the page after the flood's end.)
        wait_for_last_log_line(driver, last, among=2)
        shown_after = time.monotonic() - flood_end
        log_lines = len(driver.find_elements(By.CSS_SELECTOR, "#log li"))
        assert log_lines <= MAX_LOG_LINES, f"{log_lines} lines in the log"
        assert driver.execute_script(LOG_AT_END), "the log did not follow the flood to its end"
        assert not [line for line in watcher.seen if line.startswith("*** flood_browser left")], \
            "the page left the room during the flood"
        assert driver.find_element(By.ID, "state").text == "connected"

        # And typing still works as usual: sent, and shown as the page's own line at the end of the log.
        driver.find_element(By.ID, "text").send_keys("typed after the flood", Keys.ENTER)
        watcher.until(lambda line: line == "<flood_browser> typed after the flood")
        wait_for_last_log_line(driver, "<flood_browser> typed after the flood")
        mine = driver.find_elements(By.CSS_SELECTOR, "#log li.mine")
        assert mine and mine[-1].text.endswith("typed after the flood"), [li.text for li in mine]
        save_screenshot(driver, screenshot)

        skipped = flood_in_background(driver, watcher, flooder.client)
        print(f"flood scenario passed: {flooder.sent} lines in {flooder.seconds:.2f} s "
              f"({flooder.sent / flooder.seconds:.0f} lines/s); script latency during it: "
              f"max {max(latencies) * 1000:.0f} ms, median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms "
              f"over {len(latencies)} checks; typing a line took {typing_seconds * 1000:.0f} ms; "
              f"last line shown {shown_after * 1000:.0f} ms after the watcher got it; "
              f"{log_lines} lines in the log; in the background: {skipped!r}; screenshot in {screenshot}")


def flood_while_checking(driver, flooder):
    """Runs the flood. While it lasts, the page must answer a script within MAX_SCRIPT_SECONDS, and a
    line typed in the middle of it must be sent (checked by the caller). Returns the script latencies
    and how long typing the line took."""
    driver.set_script_timeout(5)  # A page stuck for longer fails here, not after minutes.
    text_box = driver.find_element(By.ID, "text")
    latencies, typing_seconds = [], None
    flooder.start()
    while flooder.is_alive():
        latencies.append(script_seconds(driver))
        assert latencies[-1] < MAX_SCRIPT_SECONDS, f"the page took {latencies[-1]:.2f} s to run a script"
        if typing_seconds is None and flooder.sent >= FLOOD_LINES // 3:
            start = time.monotonic()
            text_box.send_keys("typed during the flood", Keys.ENTER)
            typing_seconds = time.monotonic() - start
        time.sleep(0.1)  # Paces the checks; nothing waits on it.
    flooder.join()
    assert flooder.error is None, f"the flooder failed: {flooder.error!r}"
    assert flooder.sent == FLOOD_LINES, f"only {flooder.sent} flood lines sent in {flooder.seconds:.1f} s"
    assert typing_seconds is not None, "the flood ended before a line could be typed during it"
    return latencies, typing_seconds


BACKGROUND_LINES = 5000

# Test-only listeners added to the page, so that the test knows what a tab in the background does
# without looking at it (looking brings it to the front). They speak through the page's own `send`
# and `ws`: "/me" lines, which the server relays to the TCP clients.
TELL_WHEN_HIDDEN = """
    document.addEventListener("visibilitychange", () => { if (document.hidden) send("/me is in the background"); });
    const last = arguments[0];
    ws.addEventListener("message", (e) => { if (String(e.data).includes(last)) send("/me got them all"); });
"""


def flood_in_background(driver, sender, reader):
    """A tab in the background gets no animation frames, so the page draws nothing there: the lines
    that arrive meanwhile must wait in a bounded queue. Back in front, the page shows the newest of
    them after a notice of how many it skipped. Returns that notice."""
    last = f"background {BACKGROUND_LINES}"
    driver.execute_script(TELL_WHEN_HIDDEN, last)
    page = driver.current_window_handle
    driver.switch_to.new_window("tab")  # Puts the page's tab in the background.
    reader.until(lambda line: line == "* flood_browser is in the background")
    sender.sock.sendall("".join(f"background {n}\n" for n in range(1, BACKGROUND_LINES + 1)).encode())
    reader.until(lambda line: line == "* flood_browser got them all")
    driver.close()
    driver.switch_to.window(page)
    wait_for_last_log_line(driver, last)
    # All of them arrived in the background: the newest MAX_LOG_LINES - 1 are shown after the notice.
    shown = MAX_LOG_LINES - 1
    kind, text = driver.execute_script(FIRST_LOG_LINE)
    assert kind == "notice" and text.endswith(f"… {BACKGROUND_LINES - shown} lines skipped"), \
        f"no notice of {BACKGROUND_LINES - shown} skipped lines at the top of the log: {kind} {text!r}"
    second = driver.find_element(By.CSS_SELECTOR, "#log li:nth-child(2)").text
    assert second.endswith(f"background {BACKGROUND_LINES - shown + 1}"), second
    log_lines = len(driver.find_elements(By.CSS_SELECTOR, "#log li"))
    assert log_lines == MAX_LOG_LINES, f"{log_lines} lines in the log"
    return text[text.index("…"):]


def tls_scenario(binary):
    """The page over HTTPS and its WebSocket over TLS, in a browser that takes the self-signed
    certificate (only this one: the other scenarios' browser checks certificates as usual)."""
    start = time.monotonic()
    with running_server(binary, ["--tls-self-signed"], web="https://127.0.0.1:0") as (chat_addr, web_url):
        assert web_url.startswith("https://"), web_url
        tcp = Tcp(chat_addr, "tcp_user")
        driver = browser("--ignore-certificate-errors")
        try:
            join(driver, web_url, "tls_browser")
            tcp.until(lambda line: line == "*** tls_browser joined")
            ws_url = driver.execute_script("return ws.url")
            assert ws_url == web_url.replace("https://", "wss://") + "ws", ws_url
            type_line(driver, "hello over wss")
            tcp.until(lambda line: line == "<tls_browser> hello over wss")
            tcp.send("hello over plain tcp")
            log = driver.find_element(By.ID, "log")
            WebDriverWait(driver, TIMEOUT).until(lambda d: "<tcp_user> hello over plain tcp" in log.text)
        finally:
            driver.quit()
        print(f"tls scenario passed in {time.monotonic() - start:.1f} s: page and WebSocket at {ws_url}")


def main():
    binary, screenshot = sys.argv[1], sys.argv[2]
    base, ext = os.path.splitext(screenshot)
    driver = browser()
    try:
        chat_scenario(driver, binary, screenshot)
        rooms_scenario(driver, binary, f"{base}-rooms{ext or '.png'}")
        flood_scenario(driver, binary, f"{base}-flood{ext or '.png'}")
    finally:
        driver.quit()
    tls_scenario(binary)
    print("browser test passed")


if __name__ == "__main__":
    main()
