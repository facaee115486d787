#!/usr/bin/env python3
"""End-to-end test of the Chronicle Console in headless Chromium.

Starts a real Shop server (the debug binary) on a fresh data directory with a read token and an
admin token, places real orders over HTTP, appends hostile events with the `chronicle` CLI, then
drives the console in Chromium: every page loads, a stream leads to an event and its causation
chain, the live tail receives an event appended during the test, a parked saga event is retried
through the UI and applied, hostile payloads render as text with no script run. Saves a
screenshot of each page (Docs/Console/*.png by default).

Usage: console_test.py [--bin .build/debug] [--screenshots Docs/Console]
Waits for conditions with deadlines (WebDriverWait), never sleeps to synchronise.
"""
import argparse
import json
import os
import queue
import threading
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

READ_TOKEN = "console-read-token"
ADMIN_TOKEN = "console-admin-token"
HOSTILE_STREAM = "hostile-<script>window.__pwned=1</script>"
HOSTILE_TYPE = '"><img src=x onerror=window.__pwned=2>'
HOSTILE_PAYLOAD = {"note": "<script>window.__pwned=3</script>", "attr": '"><img src=x onerror=window.__pwned=4>'}


def log(message):
    print(f"[console-test] {message}", file=sys.stderr, flush=True)


class Shop:
    def __init__(self, bin_dir, work):
        self.work = work
        self.data = os.path.join(work, "data")
        # The outage file's name is itself hostile: it ends up in the parked event's error text.
        self.outage = os.path.join(work, "<img src=x onerror=window.__pwned=5>")
        env = dict(os.environ, SHOP_TOKEN=READ_TOKEN, SHOP_ADMIN_TOKEN=ADMIN_TOKEN, SHOP_GATEWAY_OUTAGE_FILE=self.outage)
        self.log_file = open(os.path.join(work, "shop.log"), "w")
        self.process = subprocess.Popen(
            [os.path.join(bin_dir, "Shop"), "--port", "0", "--data", self.data],
            stdout=subprocess.PIPE, stderr=self.log_file, env=env, text=True)
        self.chronicle = os.path.join(bin_dir, "chronicle")
        lines = queue.Queue()

        def read_stdout():
            for line in self.process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read_stdout, daemon=True).start()
        deadline = time.monotonic() + 60
        self.url = None
        while self.url is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("Shop did not print the console's URL within 60 s; see " + self.log_file.name)
            if line is None:
                raise RuntimeError("Shop exited before printing its URL; see " + self.log_file.name)
            match = re.search(r"Console: (http://127\.0\.0\.1:\d+/console)", line)
            if match:
                self.url = match.group(1)
        self.root = self.url[: -len("/console")]

    def request(self, method, path, body=None, token=READ_TOKEN):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.root + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def order(self, customer, card="tok_visa_4242", sku="tea"):
        status, body = self.request("POST", "/orders", {"customer": customer, "items": [{"sku": sku, "quantity": 1}], "card": card})
        assert status == 201, (status, body)
        return body["orderId"]

    def append(self, stream, events):
        path = os.path.join(self.work, "append.jsonl")
        with open(path, "w") as file:
            for event in events:
                file.write(json.dumps(event) + "\n")
        subprocess.run([self.chronicle, "append", "--store", os.path.join(self.data, "events.sqlite"), stream, "--file", path],
                       check=True, capture_output=True, timeout=60)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log_file.close()


def eventually(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # polling interval of a deadline-bounded wait, not a synchronisation


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/debug")
    parser.add_argument("--screenshots", default="Docs/Console")
    arguments = parser.parse_args()
    os.makedirs(arguments.screenshots, exist_ok=True)
    work = tempfile.mkdtemp(prefix="chronicle-console-test-")
    shop = Shop(arguments.bin, work)
    driver = None
    passed = False
    try:
        log(f"Shop at {shop.url}")
        # Real orders: two shipped, one declined (the saga's compensation).
        orders = [shop.order("ada"), shop.order("grace", sku="mug"), shop.order("linus", card="fail")]
        for order, status in zip(orders, ["shipped", "shipped", "cancelled"]):
            eventually(lambda: shop.request("GET", f"/orders/{order}")[1].get("status") == status, f"order {order} {status}")
        # Hostile events: script in the stream id, the type, the payload; and a binary payload.
        shop.append(HOSTILE_STREAM, [
            {"type": HOSTILE_TYPE, "data": HOSTILE_PAYLOAD, "metadata": {"correlationId": "<b>corr</b>", "custom": {"<i>k</i>": "<script>window.__pwned=6</script>"}}},
            {"type": "Binary<script>", "dataEncoding": "base64", "data": "AAECA/9+PGI+"},
        ])

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--disable-gpu"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
        # The live regions replace their content every few seconds: an element found a moment ago
        # may be gone, so waits try again on a stale element.
        wait = WebDriverWait(driver, 30, ignored_exceptions=[StaleElementReferenceException])

        def text_of(selector):
            return wait.until(lambda d: d.find_element(By.CSS_SELECTOR, selector).text)
        shots = []

        def shot(name):
            path = os.path.join(arguments.screenshots, f"{name}.png")
            driver.save_screenshot(path)
            shots.append(path)

        def no_script_ran():
            assert driver.execute_script("return window.__pwned === undefined"), "a hostile payload ran a script"
            assert not driver.find_elements(By.CSS_SELECTOR, "main img"), "a hostile payload made an element"

        # Sign-in: the read API has a token, so the console asks for one.
        driver.get(shop.url)
        wait.until(EC.url_contains("/console/login"))
        shot("login")
        driver.find_element(By.NAME, "token").send_keys("wrong-token" + Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "p.error"), "not accepted"))
        driver.find_element(By.NAME, "token").send_keys(ADMIN_TOKEN + Keys.ENTER)
        wait.until(EC.presence_of_element_located((By.ID, "overview")))
        driver.get_log("browser")  # drains the expected 401 of the wrong token
        log("signed in")

        # Overview: head, counts, every projection, live update.
        assert "Overview" in driver.title
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("data-js") == "on", "the console's script ran"
        head = int(text_of("#head-position"))
        table = text_of("table.projections")
        for name in ["order-summary", "customers", "notifications", "fulfilment"]:
            assert name in table, name
        live_order = shop.order("margaret")
        wait.until(lambda d: int(d.find_element(By.ID, "head-position").text) > head)
        log("overview updates live")
        shot("overview")

        # Keyboard: the first Tab reaches the skip link.
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        assert driver.switch_to.active_element.get_attribute("class") == "skip"

        # Streams: prefix search, a stream, an event, its causation chain.
        driver.get(shop.url + "/streams")
        search = driver.find_element(By.NAME, "prefix")
        search.send_keys(f"order-{orders[0]}" + Keys.ENTER)
        wait.until(EC.url_contains("prefix="))
        driver.find_element(By.LINK_TEXT, f"order-{orders[0]}").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "article.event")))
        assert "OrderPlaced" in driver.page_source and "OrderShipped" in driver.page_source
        shot("stream")
        driver.find_element(By.CSS_SELECTOR, "article.event h2 a").click()  # the OrderPlaced event
        wait.until(EC.presence_of_element_located((By.ID, "chain")))
        placed_url = driver.current_url
        effects = driver.find_elements(By.CSS_SELECTOR, "#effects a[href*='/events/']")
        assert effects, "OrderPlaced has the saga's reservation as its effect"
        effects[0].click()  # StockReserved, caused by the OrderPlaced
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "a.cause")))
        assert "StockReserved" in driver.find_element(By.TAG_NAME, "h1").text
        correlated = driver.find_element(By.ID, "correlated").text
        assert "PaymentCaptured" in correlated and "OrderShipped" in correlated, correlated
        shot("event")
        driver.find_element(By.CSS_SELECTOR, "a.cause").click()
        wait.until(EC.url_to_be(placed_url))
        log("stream → event → causation chain")

        # Categories.
        driver.get(shop.url + "/categories")
        for category in ["order", "payment", "shipment", "inventory", "hostile"]:
            assert driver.find_element(By.LINK_TEXT, category)
        shot("categories")

        # The log: filters, and the live tail receiving an event appended now.
        driver.get(shop.url + "/log?category=order&type=OrderPlaced")
        rows = driver.find_elements(By.CSS_SELECTOR, "#log tr")
        assert rows and all("OrderPlaced" in row.text for row in rows), [row.text for row in rows]
        driver.get(shop.url + "/log")
        wait.until(lambda d: d.find_element(By.ID, "tail-status").get_attribute("data-state") == "open")
        tailed = shop.order("barbara")
        wait.until(EC.text_to_be_present_in_element((By.ID, "tail"), f"order-{tailed}"))
        log("live tail received the new order")
        shot("log")

        # Hostile events render as text; no script runs.
        driver.get(shop.url + "/streams?prefix=hostile-")
        no_script_ran()
        link = driver.find_element(By.PARTIAL_LINK_TEXT, "hostile-<script>")
        link.click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "article.event")))
        text = driver.find_element(By.TAG_NAME, "main").text
        assert HOSTILE_STREAM in text and HOSTILE_TYPE in text and HOSTILE_PAYLOAD["note"] in text, text
        assert "binary, 9 bytes" in text, text
        no_script_ran()
        shot("hostile")
        driver.find_element(By.CSS_SELECTOR, "article.event h2 a").click()
        wait.until(EC.presence_of_element_located((By.ID, "chain")))
        assert "<script>window.__pwned=6</script>" in driver.find_element(By.TAG_NAME, "main").text
        no_script_ran()
        log("hostile events render as text")

        # A parked saga event, retried through the UI.
        open(shop.outage, "w").close()
        parked_order = shop.order("edsger")
        eventually(lambda: any(p["name"] == "fulfilment" and p["parkedCount"] > 0 for p in shop.request("GET", "/projections")[1]["projections"]),
                   "the saga parks the reservation during the gateway outage")
        driver.get(shop.url + "/projections/fulfilment")
        row = driver.find_element(By.CSS_SELECTOR, "table.parked tbody tr")
        assert "payment gateway unavailable" in row.text and "<img src=x onerror=window.__pwned=5>" in row.text, row.text
        no_script_ran()
        shot("projection-parked")
        os.remove(shop.outage)
        row.find_element(By.CSS_SELECTOR, "button.retry").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.flash")))
        assert "was applied" in driver.find_element(By.CSS_SELECTOR, "p.flash").text
        assert driver.find_elements(By.ID, "no-parked"), "the retried event is no longer parked"
        eventually(lambda: shop.request("GET", f"/orders/{parked_order}")[1].get("status") == "shipped", "the retried order ships")
        wait.until(EC.text_to_be_present_in_element((By.ID, "parked-count"), "0"))
        shot("projection")
        log("retried a parked event through the UI; the order shipped")

        driver.get(shop.url + "/projections")
        assert "fulfilment" in text_of("main")
        shot("projections")

        # A phone-sized overview.
        driver.set_window_size(390, 844)
        driver.get(shop.url)
        wait.until(EC.presence_of_element_located((By.ID, "overview")))
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), "the overview fits a phone's width"
        shot("phone-overview")

        # With JavaScript off every page still works (only the live parts need it).
        plain = webdriver.ChromeOptions()
        plain.binary_location = options.binary_location
        for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--disable-gpu"]:
            plain.add_argument(flag)
        plain.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
        nojs = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=plain)
        try:
            nojs.get(shop.url)
            nojs.find_element(By.NAME, "token").send_keys(READ_TOKEN + Keys.ENTER)
            WebDriverWait(nojs, 30).until(EC.presence_of_element_located((By.ID, "overview")))
            for path, expected in [("", "fulfilment"), ("/streams?prefix=order-", f"order-{orders[0]}"), (f"/streams/order-{orders[0]}", "OrderShipped"),
                                   ("/log?category=payment", "PaymentDeclined"), ("/categories", "shipment"), ("/projections/fulfilment", "No parked events")]:
                nojs.get(shop.url + path)
                assert expected in nojs.find_element(By.TAG_NAME, "main").text, (path, expected)
            nojs.get(shop.url + "/log")
            assert "needs JavaScript" in nojs.find_element(By.ID, "tail-status").text
            # Deferred scripts run before the load event `get` waits for: had scripts run, the mark would be there.
            assert nojs.find_element(By.TAG_NAME, "html").get_attribute("data-js") is None, "scripts are off"
        finally:
            nojs.quit()
        log("every page works with JavaScript off")

        # No CSP violation or script error on any page.
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]
        assert not severe, severe
        log(f"passed; screenshots: {', '.join(shots)}")
        passed = True
        return 0
    except Exception:
        if driver is not None:
            driver.save_screenshot(os.path.join(arguments.screenshots, "failure.png"))
            log("failure at " + driver.current_url + "; page saved as failure.png")
        log("Shop log: " + shop.log_file.name)
        raise
    finally:
        if driver is not None:
            driver.quit()
        shop.stop()
        if passed:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
